//! NAT's profiler configuration (`data_models/profiler.py:ProfilerConfig`), read from the
//! `eval.general.profiler` section of a NAT workflow YAML, with NAT's defaults.

use std::path::Path;

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::error::Result;
use crate::fsio::parse_text_file;

/// A number NAT leaves as its unvalidated default (an int) unless the user sets it, in
/// which case pydantic turns it into a float (quirk Q13: `min_support: 2` means 2·N).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum DefaultOrFloat {
    /// NAT's default, an `int`.
    Default(i64),
    /// A user-set value, validated to `float`.
    User(f64),
}

impl<'de> Deserialize<'de> for DefaultOrFloat {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        Ok(DefaultOrFloat::User(f64::deserialize(d)?))
    }
}

/// `prompt_caching_prefixes`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct PromptCaching {
    /// Whether the analysis runs.
    pub enable: bool,
    /// The share of calls a prefix must appear in to be reported.
    pub min_frequency: f64,
}
impl Default for PromptCaching {
    fn default() -> Self {
        PromptCaching {
            enable: false,
            min_frequency: 0.5,
        }
    }
}

/// `bottleneck_analysis`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default)]
pub struct Bottleneck {
    /// Whether the simple-stack analysis runs.
    pub enable_simple_stack: bool,
    /// Whether the nested-stack analysis runs.
    pub enable_nested_stack: bool,
}

/// `concurrency_spike_analysis`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct ConcurrencySpikes {
    /// Whether the analysis runs.
    pub enable: bool,
    /// The concurrency from which an interval is a spike.
    pub spike_threshold: i64,
}
impl Default for ConcurrencySpikes {
    fn default() -> Self {
        ConcurrencySpikes {
            enable: false,
            spike_threshold: 1,
        }
    }
}

/// `prefix_span_analysis`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct PrefixSpan {
    /// Whether the analysis runs.
    pub enable: bool,
    /// Minimum support: a count (NAT's default) or a share of the examples (user-set).
    pub min_support: DefaultOrFloat,
    /// Minimum share of the examples a pattern must cover.
    pub min_coverage: DefaultOrFloat,
    /// Longest LLM text kept in a call's token.
    pub max_text_len: i64,
    /// How many patterns are reported.
    pub top_k: i64,
    /// Whether the mining chains with the common-prefix analysis.
    pub chain_with_common_prefixes: bool,
}
impl Default for PrefixSpan {
    fn default() -> Self {
        PrefixSpan {
            enable: false,
            min_support: DefaultOrFloat::Default(2),
            min_coverage: DefaultOrFloat::Default(0),
            max_text_len: 1000,
            top_k: 10,
            chain_with_common_prefixes: false,
        }
    }
}

/// `prediction_trie`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct PredictionTrie {
    /// Whether the trie is built.
    pub enable: bool,
    /// The file the trie is written to.
    pub output_filename: String,
    /// Whether latency sensitivity is computed per call.
    pub auto_sensitivity: bool,
    /// The scale sensitivity scores are mapped onto.
    pub sensitivity_scale: i64,
    /// Weight of a call's share of the critical path.
    pub w_critical: f64,
    /// Weight of the calls that follow it in parallel (fan-out).
    pub w_fanout: f64,
    /// Weight of its position in the request.
    pub w_position: f64,
    /// Weight of its overlap with other calls.
    pub w_parallel: f64,
}
impl Default for PredictionTrie {
    fn default() -> Self {
        PredictionTrie {
            enable: false,
            output_filename: "prediction_trie.json".into(),
            auto_sensitivity: true,
            sensitivity_scale: 5,
            w_critical: 0.5,
            w_fanout: 0.3,
            w_position: 0.2,
            w_parallel: 0.0,
        }
    }
}

/// `eval.general.profiler`. Every key NAT knows, with NAT's default; `dynamo_metrics`
/// (live Prometheus queries) is read but never run.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default)]
pub struct ProfilerConfig {
    /// Whether the base metrics (confidence intervals) are computed.
    pub base_metrics: bool,
    /// Whether the workflow runtime forecast is computed.
    pub workflow_runtime_forecast: bool,
    /// Whether the token uniqueness forecast is computed.
    pub token_uniqueness_forecast: bool,
    /// Whether the token usage forecast (`forecast.json`) is fitted.
    pub token_usage_forecast: bool,
    /// Whether the LLM metrics (NOVA columns) are computed.
    pub compute_llm_metrics: bool,
    /// Whether the CSV leaves out the LLM text columns.
    pub csv_exclude_io_text: bool,
    /// The common-prefix analysis.
    pub prompt_caching_prefixes: PromptCaching,
    /// The bottleneck analyses.
    pub bottleneck_analysis: Bottleneck,
    /// The concurrency-spike analysis.
    pub concurrency_spike_analysis: ConcurrencySpikes,
    /// The PrefixSpan pattern mining.
    pub prefix_span_analysis: PrefixSpan,
    /// The prediction trie.
    pub prediction_trie: PredictionTrie,
    /// Dynamo's metrics section, kept as it came (not an analysis of ours).
    pub dynamo_metrics: Option<Value>,
    /// Keys this tool does not know (reported, never silently dropped).
    #[serde(flatten)]
    pub unknown: Map<String, Value>,
}

impl ProfilerConfig {
    /// Every analysis on with NAT's defaults (the oracle's `ALL_ON`): the CLI default.
    pub fn all_on() -> Self {
        let mut c = ProfilerConfig {
            base_metrics: true,
            workflow_runtime_forecast: true,
            token_uniqueness_forecast: true,
            token_usage_forecast: true,
            compute_llm_metrics: true,
            ..Default::default()
        };
        c.prompt_caching_prefixes.enable = true;
        c.bottleneck_analysis = Bottleneck {
            enable_simple_stack: true,
            enable_nested_stack: true,
        };
        c.concurrency_spike_analysis.enable = true;
        c.prefix_span_analysis.enable = true;
        c.prediction_trie.enable = true;
        c
    }

    /// The `eval.general.profiler` section of a NAT workflow YAML (NAT defaults for missing keys).
    pub fn from_workflow_yaml(path: &Path) -> Result<Self> {
        parse_text_file(path, Self::from_workflow_yaml_str)
    }

    /// The `eval.general.profiler` section of the text of a NAT workflow YAML.
    pub fn from_workflow_yaml_str(text: &str) -> std::result::Result<Self, ConfigError> {
        let doc: Value = serde_yaml_ng::from_str(text).map_err(ConfigError::Yaml)?;
        let section = doc
            .pointer("/eval/general/profiler")
            .ok_or(ConfigError::NoProfiler)?;
        serde_path_to_error::deserialize(section.clone()).map_err(|e| ConfigError::Field {
            path: e.path().to_string(),
            cause: e.into_inner(),
        })
    }
}

/// Why a workflow configuration gives no profiler configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// Not YAML.
    #[error("not valid YAML: {0}")]
    Yaml(serde_yaml_ng::Error),
    /// No `eval.general.profiler`.
    #[error("no `eval.general.profiler` section: not a NAT workflow config with the profiler on")]
    NoProfiler,
    /// A key of the section with a value of the wrong type.
    #[error("eval.general.profiler.{path}: {cause}")]
    Field {
        /// The key's path inside the section.
        path: String,
        /// What is wrong with its value.
        cause: serde_json::Error,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_realrun_config_with_nat_defaults() {
        let c = ProfilerConfig::from_workflow_yaml(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus/react_calculator/config.yml"),
        )
        .unwrap();
        assert!(c.compute_llm_metrics && c.base_metrics && !c.token_usage_forecast);
        assert_eq!(c.prompt_caching_prefixes.min_frequency, 0.1);
        assert!(
            !c.bottleneck_analysis.enable_simple_stack && c.bottleneck_analysis.enable_nested_stack
        );
        assert_eq!(c.concurrency_spike_analysis.spike_threshold, 2);
        assert_eq!(
            c.prefix_span_analysis.min_support,
            DefaultOrFloat::Default(2)
        );
        assert_eq!(c.prefix_span_analysis.top_k, 10);
        assert!(c.unknown.is_empty());
    }

    #[test]
    fn user_set_min_support_becomes_a_float_and_errors_name_the_key() {
        let y = "eval:\n  general:\n    profiler:\n      prefix_span_analysis:\n        min_support: 2\n";
        let c = ProfilerConfig::from_workflow_yaml_str(y).unwrap();
        assert_eq!(
            c.prefix_span_analysis.min_support,
            DefaultOrFloat::User(2.0)
        );
        let bad = "eval:\n  general:\n    profiler:\n      concurrency_spike_analysis:\n        spike_threshold: many\n";
        let e = ProfilerConfig::from_workflow_yaml_str(bad)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("concurrency_spike_analysis.spike_threshold"),
            "{e}"
        );
        assert!(ProfilerConfig::from_workflow_yaml_str("a: 1")
            .unwrap_err()
            .to_string()
            .contains("eval.general.profiler"));
    }
}
