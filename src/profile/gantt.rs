//! `gantt_chart.svg`: the picture NAT writes as `gantt_chart.png` ("Gantt Chart of Nested
//! Calls (All Examples)"): one bar per call of the nested-stack call tree (functions, tools,
//! LLM calls, spans), in start order, labelled `TYPE:name`, on one time axis from the first
//! call's start, coloured by type as matplotlib's default cycle colours NAT's. An SVG rather
//! than a PNG: text, no raster library, the same bytes for the same frame.

use std::fmt::Write;

use super::nested_stack::{build, CallForest, Families};
use crate::frame::Frame;

/// Pixels per bar row, left margin for the labels, plot width.
const ROW: f64 = 14.0;
const LEFT: f64 = 260.0;
const PLOT: f64 = 900.0;
const TOP: f64 = 40.0;

/// matplotlib's default colours (tab10) for the call types, in NAT's order of first use.
fn color(op_type: &str) -> &'static str {
    match op_type {
        "LLM" => "#1f77b4",
        "FUNCTION" => "#ff7f0e",
        "TOOL" => "#2ca02c",
        _ => "#d62728",
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The chart of `frame`'s calls.
pub fn gantt_svg(frame: &Frame) -> String {
    chart(&build(frame, Families::All))
}

/// The chart of a call forest's nodes.
pub(crate) fn chart(forest: &CallForest) -> String {
    let mut calls: Vec<usize> = (0..forest.nodes.len()).collect();
    calls.sort_by(|&a, &b| {
        let (x, y) = (&forest.nodes[a], &forest.nodes[b]);
        x.start.total_cmp(&y.start).then(a.cmp(&b))
    });
    let t0 = calls.first().map_or(0.0, |&i| forest.nodes[i].start);
    let t1 = calls
        .iter()
        .map(|&i| forest.nodes[i].end)
        .fold(t0, f64::max);
    let span = (t1 - t0).max(f64::MIN_POSITIVE);
    let x = |t: f64| LEFT + PLOT * ((t - t0) / span).clamp(0.0, 1.0);
    let height = TOP + ROW * calls.len() as f64 + 50.0;
    let width = LEFT + PLOT + 30.0;
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0}" height="{height:.0}" viewBox="0 0 {width:.0} {height:.0}" font-family="sans-serif" font-size="10">"#
    );
    let _ = writeln!(
        s,
        r#"<rect width="100%" height="100%" fill="white"/><text x="{:.1}" y="20" font-size="13" text-anchor="middle">Gantt Chart of Nested Calls (All Examples)</text>"#,
        LEFT + PLOT / 2.0
    );
    let bottom = TOP + ROW * calls.len() as f64;
    let step = crate::numeric::tick_step(t1 - t0);
    let mut k = 0.0;
    while t0 + k * step <= t1 + step * 1e-9 && k <= 1000.0 {
        let tx = x(t0 + k * step);
        let _ = writeln!(
            s,
            r##"<line x1="{tx:.2}" y1="{TOP:.1}" x2="{tx:.2}" y2="{bottom:.1}" stroke="#eee"/><text x="{tx:.2}" y="{:.1}" text-anchor="middle">{}</text>"##,
            bottom + 14.0,
            crate::numeric::six_decimals(k * step)
        );
        k += 1.0;
    }
    let _ = writeln!(
        s,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">Time (s)</text>"#,
        LEFT + PLOT / 2.0,
        bottom + 32.0
    );
    for (row, &i) in calls.iter().enumerate() {
        let n = &forest.nodes[i];
        let y = TOP + ROW * row as f64;
        let (a, b) = (x(n.start), x(n.end.max(n.start)));
        let label = escape(&format!("{}:{}", n.op_type, n.name));
        let _ = writeln!(
            s,
            r#"<g><title>{label} {:.6}–{:.6} s ({:.6} s)</title><text x="{:.1}" y="{:.1}" text-anchor="end">{label}</text><rect x="{a:.2}" y="{:.1}" width="{:.2}" height="{:.1}" fill="{}"/></g>"#,
            n.start - t0,
            n.end - t0,
            n.duration,
            LEFT - 6.0,
            y + ROW - 4.0,
            y + 2.0,
            (b - a).max(1.0),
            ROW - 4.0,
            color(n.op_type)
        );
    }
    s.push_str("</svg>\n");
    s
}

/// A tick value without trailing zeros.
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_bar_per_call_in_start_order_and_the_same_bytes() {
        let trace = crate::trace::corpus_ist("sample");
        let frame = crate::frame::from_ist::frame(&trace);
        let svg = gantt_svg(&frame);
        let forest = build(&frame, Families::All);
        assert_eq!(svg.matches("<rect x=").count(), forest.nodes.len());
        assert!(svg.contains("LLM:") && svg.contains("TOOL:"));
        assert_eq!(svg, gantt_svg(&frame));
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>\n"));
    }
}
