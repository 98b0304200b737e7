//! The table of docs/faults.md, read as data: the catalogue test checks it against the toggle
//! declaration (`doc_controller::fault`), and the demos narrate from it. One parser for both.

#![allow(
    dead_code,
    reason = "the catalogue test reads some fields, the demos the others"
)]

/// One row of the table:
/// `| # | symptom | toggle | switch | what you see | finding | the fix | cluster needs | test |`.
#[derive(Clone, Debug, Default)]
pub struct Row {
    /// The catalogue row number.
    pub number: String,
    /// The guide's symptom.
    pub symptom: String,
    /// The toggle's name, without the backticks.
    pub toggle: String,
    /// `live` or `restart`.
    pub switch: String,
    /// What a person sees with the toggle on.
    pub what_you_see: String,
    /// The self-diagnosis's finding for it (a link into docs/diagnosis.md).
    pub finding: String,
    /// The fix.
    pub fix: String,
    /// The `yaml/faults/` manifest the symptom needs on a cluster, or `—`.
    pub cluster_needs: String,
    /// Where its tests are, and where they run.
    pub test: String,
}

/// Every toggle row of `text` (the header and separator rows left out).
pub fn rows(text: &str) -> Vec<Row> {
    text.lines()
        .filter(|l| l.starts_with("| ") && !l.starts_with("| #"))
        .filter_map(|line| {
            // `\|` inside a cell is a literal bar, not a column separator.
            let cells: Vec<String> = line
                .replace("\\|", "\u{0}")
                .split('|')
                .map(|c| c.trim().replace('\u{0}', "|"))
                .collect();
            if cells.len() != 11 || cells[1].starts_with("---") {
                return None;
            }
            Some(Row {
                number: cells[1].clone(),
                symptom: cells[2].clone(),
                toggle: cells[3].trim_matches('`').to_string(),
                switch: cells[4].clone(),
                what_you_see: cells[5].clone(),
                finding: cells[6].clone(),
                fix: cells[7].clone(),
                cluster_needs: cells[8].clone(),
                test: cells[9].clone(),
            })
        })
        .collect()
}

/// The rows of the repository's docs/faults.md.
pub fn read() -> Vec<Row> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/faults.md");
    rows(&std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}")))
}
