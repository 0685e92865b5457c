//! The frame's row. In a module of its own: only this file sees the fields behind the
//! optional numbers' getters and setters, so nothing else can set a number without its
//! presence bit.

use super::Text;
use crate::event::EventType;

/// One row of NAT's frame (`DataFrameRow`), plus the ATIF-era `span_event_timestamp`.
///
/// Its optional numbers (the span start and the four token counts) are read and written
/// through methods ([`Row::prompt_tokens`], [`Row::set_prompt_tokens`]…): which of them are
/// present is one byte beside the event type, and the example number is a `u32` in the bytes
/// after it, so the row is 168 bytes, not 216 (an `Option<i64>` is 16 bytes; at 100,000
/// light requests a drift holds 7 million rows).
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// The event's type.
    pub event_type: EventType,
    /// Bit `1 << k` set when the `k`-th optional number (`optional_numbers!`) is present; an
    /// absent one holds its type's default, so rows compare as their values do.
    present: u8,
    /// [`Row::example_number`], in the bytes beside the two above.
    example: u32,
    /// The event's time, seconds since the epoch.
    pub event_timestamp: f64,
    span_event_timestamp: f64,
    prompt_tokens: i64,
    completion_tokens: i64,
    total_tokens: i64,
    cached_tokens: i64,
    /// `None` is Python `None` (an empty CSV cell, NaN for pandas), distinct from `""`.
    pub llm_text_input: Option<Text>,
    /// The LLM's output text.
    pub llm_text_output: Option<Text>,
    /// A streamed chunk's text.
    pub llm_new_token: Option<Text>,
    /// The LLM's name (LLM rows).
    pub llm_name: Option<Text>,
    /// The tool's name (TOOL rows).
    pub tool_name: Option<Text>,
    /// The function the event ran in.
    pub function_name: Option<Text>,
    /// That function's id.
    pub function_id: Option<Text>,
    /// Its parent function's name.
    pub parent_function_name: Option<Text>,
    /// Its parent function's id.
    pub parent_function_id: Option<Text>,
    /// The event's UUID (shared by a span's start and end).
    pub uuid: Option<Text>,
    /// The framework that emitted the event.
    pub framework: Option<Text>,
    /// The IST step's `parent_id` (not a CSV column; the prediction trie's sibling map
    /// uses it). `None` on frames built from ATIF.
    pub parent_id: Option<Text>,
    /// `usage_info.seconds_between_calls` (0 without usage; not a CSV column; the
    /// forecasting matrices use it). Lost in ATIF.
    pub seconds_between_calls: i64,
    /// The name of the ATIF tool call this row stands for (not a CSV column; the drift
    /// engine compares both paths' calls by request and name): on an IST frame, the
    /// TOOL_END and FUNCTION_END rows NAT's converter exports as tool calls (all but the
    /// `<workflow>` wrapper); on an ATIF frame, the END row a builder made of a tool call.
    pub call: Option<Text>,
}

const _: () = assert!(std::mem::size_of::<Row>() == 168);

/// The optional numbers' getters and setters, and their bits in `present`.
macro_rules! optional_numbers {
    ($($bit:literal $field:ident $set:ident: $t:ty, $doc:literal;)*) => {
        impl Row {
            $(
                #[doc = $doc]
                #[inline]
                pub fn $field(&self) -> Option<$t> {
                    (self.present & (1 << $bit) != 0).then_some(self.$field)
                }

                #[doc = concat!("Set [`Row::", stringify!($field), "`].")]
                #[inline]
                pub fn $set(&mut self, value: Option<$t>) {
                    match value {
                        Some(v) => {
                            self.present |= 1 << $bit;
                            self.$field = v;
                        }
                        None => {
                            self.present &= !(1 << $bit);
                            self.$field = <$t>::default();
                        }
                    }
                }
            )*
        }
    };
}

optional_numbers! {
    0 span_event_timestamp set_span_event_timestamp: f64,
        "The span's start (only the ATIF-native frame has this column).";
    1 prompt_tokens set_prompt_tokens: i64,
        "Prompt tokens; `None` is pandas' NaN (the ATIF-native frame leaves tokens empty on non-LLM rows).";
    2 completion_tokens set_completion_tokens: i64, "Completion tokens (LLM_END rows).";
    3 total_tokens set_total_tokens: i64, "Total tokens (LLM_END rows).";
    4 cached_tokens set_cached_tokens: i64,
        "The call's cached prompt tokens (LLM_END rows: IST's `token_usage.cached_tokens`, \
         ATIF's `metrics.cached_tokens`; not a CSV column: the drift policy's relations use it).";
}

impl Row {
    /// Index of the request (IST) or trajectory (ATIF).
    #[inline]
    pub fn example_number(&self) -> usize {
        self.example as usize
    }

    /// A row of `event_type` at `event_timestamp` in example `example_number`, every other
    /// column empty (`None`, and no seconds between calls).
    pub fn new(event_type: EventType, event_timestamp: f64, example_number: usize) -> Row {
        Row {
            event_type,
            present: 0,
            example: u32::try_from(example_number).expect(
                "an example number beyond u32 (four billion requests do not fit in memory)",
            ),
            event_timestamp,
            span_event_timestamp: 0.0,
            prompt_tokens: 0,
            completion_tokens: 0,
            total_tokens: 0,
            cached_tokens: 0,
            llm_text_input: None,
            llm_text_output: None,
            llm_new_token: None,
            llm_name: None,
            tool_name: None,
            function_name: None,
            function_id: None,
            parent_function_name: None,
            parent_function_id: None,
            uuid: None,
            framework: None,
            parent_id: None,
            seconds_between_calls: 0,
            call: None,
        }
    }

    /// The token counts at once: prompt, completion and total.
    pub fn set_tokens(
        &mut self,
        (prompt, completion, total): (Option<i64>, Option<i64>, Option<i64>),
    ) {
        self.set_prompt_tokens(prompt);
        self.set_completion_tokens(completion);
        self.set_total_tokens(total);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_optional_number_is_set_and_cleared_alone() {
        let mut r = Row::new(EventType::LLM_END, 1.0, 0);
        let empty = r.clone();
        r.set_span_event_timestamp(Some(0.5));
        r.set_tokens((Some(3), Some(0), Some(-1)));
        r.set_cached_tokens(Some(i64::MIN));
        assert_eq!(r.span_event_timestamp(), Some(0.5));
        assert_eq!(
            (r.prompt_tokens(), r.completion_tokens(), r.total_tokens()),
            (Some(3), Some(0), Some(-1))
        );
        assert_eq!(r.cached_tokens(), Some(i64::MIN), "every value is a value");
        r.set_completion_tokens(None);
        assert_eq!(r.completion_tokens(), None, "a zero is not kept as present");
        assert_eq!(r.prompt_tokens(), Some(3));
        r.set_span_event_timestamp(None);
        r.set_tokens((None, None, None));
        r.set_cached_tokens(None);
        assert_eq!(r, empty, "a cleared number compares as one never set");
    }
}
