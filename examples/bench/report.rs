//! One table per run: printed to stdout and written as JSON to `target/bench/<scenario>.json`.

use serde_json::{Value, json};
use std::path::PathBuf;

/// One line of a table: what was measured, its value, the goal and whether it is met.
pub struct Row {
    metric: String,
    value: Value,
    unit: &'static str,
    goal: Option<String>,
    met: Option<bool>,
}

/// The results of one scenario run.
pub struct Report {
    scenario: String,
    params: Value,
    rows: Vec<Row>,
    notes: Vec<String>,
}

impl Report {
    /// An empty report for `scenario`, run with `params`.
    pub fn new(scenario: &str, params: Value) -> Self {
        Self {
            scenario: scenario.to_string(),
            params,
            rows: Vec::new(),
            notes: Vec::new(),
        }
    }

    /// A measured figure without a goal.
    pub fn row(&mut self, metric: impl Into<String>, value: impl Into<Value>, unit: &'static str) {
        self.rows.push(Row {
            metric: metric.into(),
            value: value.into(),
            unit,
            goal: None,
            met: None,
        });
    }

    /// A measured figure with its goal and whether it is met.
    pub fn goal(
        &mut self,
        metric: impl Into<String>,
        value: impl Into<Value>,
        unit: &'static str,
        goal: impl Into<String>,
        met: bool,
    ) {
        self.rows.push(Row {
            metric: metric.into(),
            value: value.into(),
            unit,
            goal: Some(goal.into()),
            met: Some(met),
        });
    }

    /// A line of explanation printed under the table.
    pub fn note(&mut self, note: impl Into<String>) {
        self.notes.push(note.into());
    }

    /// Prints the table and writes `target/bench/<scenario>.json`; returns the file's path.
    pub fn finish(&self) -> std::io::Result<PathBuf> {
        let cells: Vec<[String; 4]> = self
            .rows
            .iter()
            .map(|r| {
                [
                    r.metric.clone(),
                    format!("{} {}", show(&r.value), r.unit)
                        .trim_end()
                        .to_string(),
                    r.goal.clone().unwrap_or_default(),
                    match r.met {
                        Some(true) => "yes".to_string(),
                        Some(false) => "NO".to_string(),
                        None => String::new(),
                    },
                ]
            })
            .collect();
        let header = ["metric", "value", "goal", "met"];
        let mut widths = header.map(str::len);
        for row in &cells {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let line = |cells: [&str; 4]| {
            let parts: Vec<String> = cells
                .iter()
                .zip(widths)
                .map(|(c, w)| format!("{c:<w$}"))
                .collect();
            format!("| {} |", parts.join(" | "))
        };
        println!();
        println!("## {}  {}", self.scenario, self.params);
        println!("{}", line(header));
        let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
        println!("|-{}-|", rule.join("-|-"));
        for row in &cells {
            println!("{}", line([&row[0], &row[1], &row[2], &row[3]]));
        }
        for note in &self.notes {
            println!("  * {note}");
        }
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench");
        std::fs::create_dir_all(&dir)?;
        let path = dir.join(format!("{}.json", self.scenario));
        let json = json!({
            "scenario": self.scenario,
            "params": self.params,
            "unix_time": std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or_default(),
            "rows": self.rows.iter().map(|r| json!({
                "metric": r.metric,
                "value": r.value,
                "unit": r.unit,
                "goal": r.goal,
                "met": r.met,
            })).collect::<Vec<_>>(),
            "notes": self.notes,
        });
        let text = serde_json::to_string_pretty(&json).map_err(std::io::Error::other)?;
        std::fs::write(&path, text)?;
        println!("  -> {}", path.display());
        Ok(path)
    }
}

fn show(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Number(n) => match n.as_f64() {
            Some(f) if n.is_f64() => {
                if f.abs() >= 100.0 {
                    format!("{f:.0}")
                } else if f.abs() >= 10.0 {
                    format!("{f:.1}")
                } else {
                    format!("{f:.2}")
                }
            }
            _ => n.to_string(),
        },
        other => other.to_string(),
    }
}

/// Rounds to 3 decimals, for JSON values that should stay readable.
pub fn r3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}
