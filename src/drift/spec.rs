//! Path specs: what each side of a comparison is (`drift --left SPEC --right SPEC`).
//!
//! - `ist`: our IST path (NAT 1.9.0's profiler);
//! - `atif:pr1751`, `atif:faithful`: our ATIF paths (the item's ATIF, else its IST converted);
//! - `stored:SUBDIR`: outputs already in each item's directory (`stored:.` = the files NAT
//!   wrote beside the trace; `stored:atif_native` = a subdirectory);
//! - `cmd:NAME`: an external profiler, `[paths.NAME]` of the policy file ([`CommandPath`]).
//!
//! Pure: parsing and naming only. Running a side is the job layer's (`job::sides`).

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::frame::from_atif::Builder;

/// One side of a comparison.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PathSpec {
    /// Our IST path.
    Ist,
    /// Our ATIF path with this builder.
    Atif(Builder),
    /// Outputs stored in each item's directory, or in this subdirectory of it.
    Stored(String),
    /// An external profiler defined in the policy (`[paths.NAME]`).
    Cmd(String),
}

impl PathSpec {
    /// The builder of an ATIF path of ours.
    pub fn builder(&self) -> Option<Builder> {
        match self {
            PathSpec::Atif(b) => Some(*b),
            _ => None,
        }
    }
}

impl fmt::Display for PathSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PathSpec::Ist => f.write_str("ist"),
            PathSpec::Atif(b) => write!(f, "atif:{}", b.name()),
            PathSpec::Stored(d) => write!(f, "stored:{d}"),
            PathSpec::Cmd(n) => write!(f, "cmd:{n}"),
        }
    }
}

/// A path spec that does not parse.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error(
    "path {given:?}: {why}; a path is ist, atif:pr1751, atif:faithful, stored:SUBDIR \
     (stored:. = the files beside the trace) or cmd:NAME (a [paths.NAME] of the policy file)"
)]
pub struct SpecError {
    /// What was given.
    pub given: String,
    /// What is wrong with it.
    pub why: String,
}

impl FromStr for PathSpec {
    type Err = SpecError;

    fn from_str(s: &str) -> Result<Self, SpecError> {
        let err = |why: &str| SpecError {
            given: s.to_string(),
            why: why.to_string(),
        };
        let (kind, arg) = s.split_once(':').unwrap_or((s, ""));
        match (kind, arg) {
            ("ist", "") => Ok(PathSpec::Ist),
            ("atif", "pr1751") | ("pr1751", "") => Ok(PathSpec::Atif(Builder::Pr1751)),
            ("atif", "faithful") | ("faithful", "") => Ok(PathSpec::Atif(Builder::Faithful)),
            ("atif", _) => Err(err("the ATIF builders are pr1751 and faithful")),
            ("stored", "") => Err(err("say which directory: stored:. or stored:SUBDIR")),
            ("stored", d) => {
                let p = std::path::Path::new(d);
                let escapes = p.is_absolute()
                    || p.components()
                        .any(|c| matches!(c, std::path::Component::ParentDir));
                if escapes {
                    return Err(err(
                        "the directory is relative to each item and stays in it",
                    ));
                }
                Ok(PathSpec::Stored(d.trim_end_matches('/').to_string()))
            }
            ("cmd", n) if is_name(n) => Ok(PathSpec::Cmd(n.to_string())),
            ("cmd", _) => Err(err("a command's name is letters, digits, '-' and '_'")),
            _ => Err(err("unknown kind")),
        }
    }
}

fn is_name(n: &str) -> bool {
    !n.is_empty()
        && n.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// Which of an item's traces an external profiler receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CommandInput {
    /// The IST trace (`all_requests_profiler_traces.json`).
    #[default]
    Ist,
    /// The item's ATIF (NAT's), or its IST trace converted by our converter.
    Atif,
}

/// An external profiler (`[paths.NAME]` of a policy file):
///
/// ```toml
/// [paths.nat_ist]
/// command = ["python3", "run_nat_profiler.py", "{input}", "{output}", "--workflow-config", "{config}"]
/// input = "ist"          # or "atif"
/// timeout_s = 600
/// env = { PYTHONHASHSEED = "0" }
/// expect_as = "pr1751"   # optional: its drift is classified by the expectations for this builder
/// ```
///
/// It runs in `{output}`, an empty directory for its files (a profiler that writes into its
/// working directory needs no `{output}`). A relative program or argument naming a file that
/// exists beside the policy file, or in the directory atif-drift runs in, is made absolute.
///
/// Placeholders: `{input}` (the trace it receives), `{output}` (where it writes its
/// files), `{config}` (the item's `config.yml`; an argument holding it, and a `--flag` just
/// before it, are left out when the item has none), `{item}` (the item's directory),
/// `{env:NAME}` (the environment variable NAME, which must be set: e.g. a venv's path).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CommandPath {
    /// The program and its arguments.
    pub command: Vec<String>,
    /// Which trace it receives.
    #[serde(default)]
    pub input: CommandInput,
    /// Seconds before it is killed and its item fails.
    #[serde(default = "default_timeout")]
    pub timeout_s: f64,
    /// Environment variables set for it (placeholders expanded).
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Classify its drift with the policy's expectations for this builder (otherwise only
    /// the expectations that name no builder apply).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect_as: Option<Builder>,
}

fn default_timeout() -> f64 {
    600.0
}

impl CommandPath {
    /// Why the definition `[paths.NAME]` cannot run, if it cannot.
    pub fn check(&self, name: &str) -> Result<(), String> {
        if !is_name(name) {
            return Err(format!(
                "paths.{name}: a name is letters, digits, '-' and '_'"
            ));
        }
        if self.command.first().is_none_or(|p| p.trim().is_empty()) {
            return Err(format!(
                "paths.{name}.command: give the program and its arguments"
            ));
        }
        if !(self.timeout_s > 0.0 && self.timeout_s.is_finite()) {
            return Err(format!(
                "paths.{name}.timeout_s = {}: give a positive number of seconds",
                self.timeout_s
            ));
        }
        Ok(())
    }

    /// The argument list with the placeholders filled (`config` absent: the argument naming
    /// it and a `--flag` just before it are left out); an unset `{env:NAME}` is an error.
    pub fn args(&self, vars: &Vars<'_>) -> Result<Vec<String>, String> {
        let mut out: Vec<String> = Vec::new();
        for a in &self.command {
            if a.contains("{config}") && vars.config.is_none() {
                let flag = out
                    .last()
                    .is_some_and(|p| p.starts_with('-') && p.len() > 1);
                if flag && !a.starts_with('-') {
                    out.pop();
                }
                continue;
            }
            out.push(vars.fill(a)?);
        }
        Ok(out)
    }
}

/// The values of a command's placeholders for one item.
pub struct Vars<'a> {
    /// `{input}`.
    pub input: &'a str,
    /// `{output}`.
    pub output: &'a str,
    /// `{config}`, when the item has one.
    pub config: Option<&'a str>,
    /// `{item}`.
    pub item: &'a str,
    /// `{env:NAME}`: the variable's value, when it is set.
    pub env: &'a dyn Fn(&str) -> Option<String>,
}

impl Vars<'_> {
    /// `s` with its placeholders filled (`{config}` empty when there is none); an unset
    /// `{env:NAME}` is an error naming it.
    pub fn fill(&self, s: &str) -> Result<String, String> {
        let mut s = s
            .replace("{input}", self.input)
            .replace("{output}", self.output)
            .replace("{config}", self.config.unwrap_or(""))
            .replace("{item}", self.item);
        let mut from = 0;
        while let Some(at) = s[from..].find("{env:").map(|k| from + k) {
            let Some(len) = s[at..].find('}') else { break };
            let name = s[at + 5..at + len].to_string();
            let value = (self.env)(&name).ok_or_else(|| {
                format!("{{env:{name}}}: the environment variable {name} is not set")
            })?;
            s.replace_range(at..=at + len, &value);
            from = at + value.len();
        }
        Ok(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_round_trip_and_refuse_what_they_cannot_be() {
        for s in [
            "ist",
            "atif:pr1751",
            "atif:faithful",
            "stored:.",
            "stored:atif_native",
            "cmd:nat-ist_2",
        ] {
            assert_eq!(s.parse::<PathSpec>().unwrap().to_string(), s);
        }
        assert_eq!(
            "pr1751".parse::<PathSpec>().unwrap(),
            PathSpec::Atif(Builder::Pr1751)
        );
        assert_eq!(
            "stored:out/".parse::<PathSpec>().unwrap(),
            PathSpec::Stored("out".into())
        );
        for bad in [
            "atif",
            "atif:x",
            "stored:",
            "stored:../x",
            "stored:/abs",
            "cmd:",
            "cmd:a b",
            "nat",
            "ist:x",
        ] {
            let e = bad.parse::<PathSpec>().unwrap_err();
            assert!(e.to_string().contains(bad), "{e}");
        }
    }

    fn cmd(args: &[&str]) -> CommandPath {
        CommandPath {
            command: args.iter().map(|s| s.to_string()).collect(),
            input: CommandInput::Ist,
            timeout_s: 1.0,
            env: BTreeMap::new(),
            expect_as: None,
        }
    }

    #[test]
    fn placeholders_fill_and_a_missing_config_drops_its_flag() {
        let c = cmd(&[
            "run",
            "{input}",
            "{output}",
            "--workflow-config",
            "{config}",
            "--x={item}",
        ]);
        let env = |k: &str| (k == "VENV").then(|| "/v".to_string());
        let mut v = Vars {
            input: "in.json",
            output: "out",
            config: Some("c.yml"),
            item: "dir",
            env: &env,
        };
        let all = [
            "run",
            "in.json",
            "out",
            "--workflow-config",
            "c.yml",
            "--x=dir",
        ];
        assert_eq!(c.args(&v).unwrap(), all);
        v.config = None;
        assert_eq!(c.args(&v).unwrap(), ["run", "in.json", "out", "--x=dir"]);
        let inline = cmd(&["run", "{output}", "--config={config}"]);
        assert_eq!(inline.args(&v).unwrap(), ["run", "out"]);
        let venv = cmd(&["{env:VENV}/bin/python", "{env:VENV}{output}"]);
        assert_eq!(venv.args(&v).unwrap(), ["/v/bin/python", "/vout"]);
        let unset = cmd(&["{env:NAT_VENV}/bin/python", "{output}"]);
        assert!(unset.args(&v).unwrap_err().contains("NAT_VENV is not set"));
    }

    #[test]
    fn a_definition_that_cannot_run_is_refused_by_name() {
        assert!(cmd(&["run", "{output}"]).check("p").is_ok());
        assert!(cmd(&[]).check("p").unwrap_err().contains("paths.p.command"));
        assert!(
            cmd(&["run"]).check("p").is_ok(),
            "it may write into its directory"
        );
        let mut c = cmd(&["run", "{output}"]);
        c.timeout_s = 0.0;
        assert!(c.check("p").unwrap_err().contains("timeout_s"));
        assert!(cmd(&["run"])
            .check("a b")
            .unwrap_err()
            .contains("a name is"));
    }
}
