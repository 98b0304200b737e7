//! Prints the alert rules of `yaml/observability/rules.yaml` as a Prometheus Operator
//! `PrometheusRule`: `cargo run --bin rulegen > yaml/observability/prometheusrule.yaml`.
//!
//! `rules.yaml` (the plain Prometheus rules file, which Prometheus and `promtool` load as is) is the
//! only declaration of the alerts; `prometheusrule.yaml` is this output, checked by
//! `tests/observability.rs` to be up to date. The rules file's groups are copied as text, indented
//! under `spec:`, so its comments (which alerts mirror a finding) stay with the alerts; both files
//! are then parsed and the output's `spec` compared with the rules file, so a copy that YAML reads
//! differently is an error, not a silently different alert.

use std::process::ExitCode;

/// The source, compiled in so that the output depends on nothing but the build.
const RULES: &str = include_str!("../../yaml/observability/rules.yaml");

/// Where the source lives, for the header and the errors.
const RULES_PATH: &str = "yaml/observability/rules.yaml";

/// What comes before the groups.
const HEADER: &str = "\
# GENERATED from yaml/observability/rules.yaml by `cargo run --bin rulegen`; do not edit. Edit the
# rules file, then `cargo run --bin rulegen > yaml/observability/prometheusrule.yaml`
# (tests/observability.rs fails while this file is stale).
#
# The same alerts for the Prometheus Operator. Its Prometheus loads a PrometheusRule that its
# ruleSelector and ruleNamespaceSelector select: add the labels yours asks for (e.g. `release`).
---
apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata:
  name: doc-controller
  namespace: default
  labels:
    app.kubernetes.io/name: doc-controller
spec:
";

/// Why no PrometheusRule was printed.
#[derive(Debug, thiserror::Error)]
enum RulegenError {
    /// The rules file or the output is not YAML.
    #[error("{what} is not valid YAML: {source}")]
    Yaml {
        /// Which of the two.
        what: &'static str,
        /// The parser's error (boxed: it carries the failing snippet and is large).
        #[source]
        source: Box<serde_saphyr::Error>,
    },
    /// The rules file has no top-level `groups:` line to start the copy at.
    #[error("{RULES_PATH} has no top-level `groups:`")]
    NoGroups,
    /// The copy reads differently from the source.
    #[error("the PrometheusRule's spec differs from {RULES_PATH} (indentation the copy broke?)")]
    Differs,
}

/// The PrometheusRule for `rules`, the text of a plain Prometheus rules file.
fn prometheus_rule(rules: &str) -> Result<String, RulegenError> {
    // The file's own header describes the plain file; the groups and their comments are the rules.
    let start = rules
        .lines()
        .position(|line| line.starts_with("groups:"))
        .ok_or(RulegenError::NoGroups)?;
    let mut out = String::from(HEADER);
    for line in rules.lines().skip(start) {
        if !line.is_empty() {
            out.push_str("  ");
            out.push_str(line);
        }
        out.push('\n');
    }
    let source: serde_json::Value =
        serde_saphyr::from_str(rules).map_err(|source| RulegenError::Yaml {
            what: RULES_PATH,
            source: Box::new(source),
        })?;
    let generated: serde_json::Value =
        serde_saphyr::from_str(&out).map_err(|source| RulegenError::Yaml {
            what: "the PrometheusRule",
            source: Box::new(source),
        })?;
    if generated.get("spec") != Some(&source) {
        return Err(RulegenError::Differs);
    }
    Ok(out)
}

fn main() -> ExitCode {
    match prometheus_rule(RULES) {
        Ok(yaml) => {
            print!("{yaml}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("rulegen: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_groups_and_their_comments_move_under_spec() {
        let rules = "# about the file\ngroups:\n  # a comment\n  - name: g\n    rules: []\n";
        let out = prometheus_rule(rules).expect("converts");
        assert!(out.starts_with(HEADER), "{out}");
        assert!(
            out.ends_with("spec:\n  groups:\n    # a comment\n    - name: g\n      rules: []\n")
        );
        assert!(!out.contains("about the file"));
    }

    #[test]
    fn a_file_without_groups_is_refused() {
        assert!(matches!(
            prometheus_rule("rules: []\n"),
            Err(RulegenError::NoGroups)
        ));
    }
}
