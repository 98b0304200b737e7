//! What the doctor knows, as `/diagnostics` serves it (JSON) and `doc-controller doctor` prints it.
//!
//! The JSON is read by the `doctor` subcommand and the admin page, so its field names are a small
//! contract: [`Diagnostics`] is both what the controller serializes and what they deserialize.

use serde::{Deserialize, Serialize};
use std::fmt::Write as _;

/// The whole report.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Diagnostics {
    /// Length of one window, in seconds.
    pub window_seconds: f64,
    /// Windows evaluated so far (0: not started yet, e.g. before the preflight passed).
    pub windows: u64,
    /// When the last window closed (RFC 3339).
    pub evaluated_at: Option<String>,
    /// Every finding, raised or not, in the catalogue's order.
    pub findings: Vec<FindingReport>,
    /// The latest window's key numbers, for people.
    pub signals: Vec<Signal>,
    /// The key series of the last windows, oldest first (at most [`HISTORY`] points), for plots.
    pub history: Vec<HistoryPoint>,
}

/// How many windows of history the report keeps.
pub const HISTORY: usize = 60;

/// The names of the series of [`HistoryPoint::values`]; API errors add one per status code seen
/// (`api errors 403 per second`).
pub const SERIES: &[&str] = &[
    "reconciles per second",
    "status writes per second",
    "API requests per second",
    "watch restarts per second",
    "reconciles in flight (peak)",
    "resident memory bytes",
];

/// The key series at the end of one window.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct HistoryPoint {
    /// When the window closed (RFC 3339).
    pub at: String,
    /// Series name to value.
    pub values: std::collections::BTreeMap<String, f64>,
}

/// One finding's state.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FindingReport {
    /// Its name (`status-churn`).
    pub finding: String,
    /// Whether it is raised now.
    pub active: bool,
    /// The guide's symptom.
    pub symptom: String,
    /// Since when it is raised (RFC 3339), if it is.
    pub since: Option<String>,
    /// The numbers that raised it (the latest window with the symptom).
    pub evidence: Vec<String>,
    /// The most likely cause, by the evidence.
    pub likely_cause: Option<String>,
    /// Every cause that fits the symptom, most likely first.
    pub causes: Vec<String>,
    /// What to do.
    pub fix: String,
    /// Where its docs are.
    pub docs: String,
    /// How often it was raised since the controller started.
    pub raised: u64,
}

/// One number of the latest window.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Signal {
    /// What it is.
    pub name: String,
    /// Its value.
    pub value: f64,
}

impl Diagnostics {
    /// The findings raised now.
    pub fn active(&self) -> impl Iterator<Item = &FindingReport> {
        self.findings.iter().filter(|f| f.active)
    }

    /// A report a person can act on: each raised finding with its evidence, cause and fix.
    pub fn render_text(&self) -> String {
        let mut out = String::new();
        if self.windows == 0 {
            out.push_str("The controller has not evaluated a diagnosis window yet.\n");
            return out;
        }
        let active: Vec<_> = self.active().collect();
        let _ = writeln!(
            out,
            "{} finding{} raised ({} windows of {} s evaluated{})",
            active.len(),
            if active.len() == 1 { "" } else { "s" },
            self.windows,
            self.window_seconds,
            self.evaluated_at
                .as_deref()
                .map(|at| format!(", the last at {at}"))
                .unwrap_or_default()
        );
        for finding in active {
            let _ = writeln!(out, "\n{}: {}", finding.finding, finding.symptom);
            if let Some(since) = &finding.since {
                let _ = writeln!(out, "  since     {since}");
            }
            for line in &finding.evidence {
                let _ = writeln!(out, "  evidence  {line}");
            }
            if let Some(cause) = &finding.likely_cause {
                let _ = writeln!(out, "  cause     {cause}");
            }
            let _ = writeln!(out, "  fix       {}", finding.fix);
            let _ = writeln!(out, "  docs      {}", finding.docs);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_text_report_shows_only_raised_findings_with_cause_and_fix() {
        let report = Diagnostics {
            window_seconds: 10.0,
            windows: 3,
            evaluated_at: Some("2026-12-04T20:00:00Z".into()),
            findings: vec![
                FindingReport {
                    finding: "status-churn".into(),
                    active: true,
                    symptom: "a status patch on every reconcile".into(),
                    evidence: vec!["12 status writes".into()],
                    likely_cause: Some("a timestamp".into()),
                    fix: "be deterministic".into(),
                    docs: "docs/diagnosis.md#status-churn".into(),
                    ..FindingReport::default()
                },
                FindingReport {
                    finding: "throttled".into(),
                    ..FindingReport::default()
                },
            ],
            signals: Vec::new(),
            history: Vec::new(),
        };
        let text = report.render_text();
        assert!(text.starts_with("1 finding raised"), "{text}");
        assert!(text.contains("status-churn: a status patch"), "{text}");
        assert!(text.contains("cause     a timestamp"), "{text}");
        assert!(text.contains("fix       be deterministic"), "{text}");
        assert!(!text.contains("throttled"), "{text}");
        let json = serde_json::to_string(&report).expect("serializes");
        assert!(json.contains("\"likelyCause\""), "{json}");
        let back: Diagnostics = serde_json::from_str(&json).expect("deserializes");
        assert_eq!(back, report);
    }
}
