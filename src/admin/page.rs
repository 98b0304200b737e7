//! The admin server's page (`GET /`): what to watch during a demo, in one browser tab.
//!
//! The key series of the last windows as line plots, and the findings raised now with their
//! evidence, likely cause and fix.
// region: fault-catalogue
//! And the failure toggles in force.
// endregion: fault-catalogue
//! [`render`] builds the whole page from a [`Diagnostics`] report, without I/O, so it is
//! unit-tested like any function.
//!
//! # Why server-rendered SVG
//! The plots are inline SVG computed here from [`Diagnostics::history`]: no chart library, no
//! JavaScript build chain, nothing fetched from elsewhere, and the page shows its numbers even
//! with scripts off. The only script is a few lines that re-fetch the page every window and swap
//! its body in, so the page follows the controller live without a reload flash and keeps its
//! scroll position; without scripts a `<meta http-equiv="refresh">` reloads it instead.
//!
//! # Stable hooks
//! Tests (and anyone scraping the page) can rely on `id="plot-<key>"` on each plot's `<svg>`
//! (keys in [`PLOTS`]) and `class="finding" data-finding="<name>"` on each raised finding.
// region: fault-catalogue
//! And `class="toggle" data-toggle="<name>"` on each toggle in force.
// endregion: fault-catalogue
//!
//! Every text that comes from the report is HTML-escaped ([`escape`]): evidence lines quote API
//! error messages, which a cluster's users can shape.

use crate::diagnosis::report::{Diagnostics, FindingReport, HISTORY, HistoryPoint};
use std::fmt::Write as _;

/// The `Content-Security-Policy` the page is served with: it loads nothing from anywhere, and
/// its script may only fetch the page itself.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'unsafe-inline'; \
     script-src 'unsafe-inline'; connect-src 'self'; img-src data:; base-uri 'none'; \
     form-action 'none'; frame-ancestors 'none'";

/// One plot of the page: which series of the history it draws, and how.
#[derive(Clone, Copy, Debug)]
pub struct Plot {
    /// The stable part of its element id (`plot-<key>`).
    pub key: &'static str,
    /// Its heading.
    pub title: &'static str,
    /// The unit of its values, as shown after them.
    pub unit: &'static str,
    /// What it draws.
    pub source: Source,
}

/// Where a plot's lines come from.
#[derive(Clone, Copy, Debug)]
pub enum Source {
    /// One series of [`crate::diagnosis::report::SERIES`], multiplied by a factor (bytes to MiB).
    Series(&'static str, f64),
    /// One line per status code of the `api errors <code> per second` series.
    ApiErrors,
}

const MIB: f64 = 1.0 / 1_048_576.0;

/// The plots, in page order.
pub const PLOTS: &[Plot] = &[
    Plot {
        key: "reconciles",
        title: "Reconciles",
        unit: "/s",
        source: Source::Series("reconciles per second", 1.0),
    },
    Plot {
        key: "writes",
        title: "Status writes",
        unit: "/s",
        source: Source::Series("status writes per second", 1.0),
    },
    Plot {
        key: "api-requests",
        title: "API requests",
        unit: "/s",
        source: Source::Series("API requests per second", 1.0),
    },
    Plot {
        key: "api-errors",
        title: "API errors by code",
        unit: "/s",
        source: Source::ApiErrors,
    },
    Plot {
        key: "watch-restarts",
        title: "Watch restarts",
        unit: "/s",
        source: Source::Series("watch restarts per second", 1.0),
    },
    Plot {
        key: "in-flight",
        title: "Reconciles in flight (peak)",
        unit: "",
        source: Source::Series("reconciles in flight (peak)", 1.0),
    },
    Plot {
        key: "rss",
        title: "Resident memory",
        unit: " MiB",
        source: Source::Series("resident memory bytes", MIB),
    },
];

const API_ERRORS_PREFIX: &str = "api errors ";
const API_ERRORS_SUFFIX: &str = " per second";

// region: fault-catalogue
/// The failure toggles `metrics` reports in force (`doc_controller_fault_active{fault} == 1`),
/// sorted. The controller sets that gauge for every toggle once its watches start; before that
/// (or with `controller-down`, which never starts them) the list is empty.
pub fn toggles_in_force(metrics: &crate::metrics::Metrics) -> Vec<String> {
    let mut toggles: Vec<String> = metrics
        .sample()
        .iter()
        .filter(|family| family.name() == "doc_controller_fault_active")
        .flat_map(|family| family.get_metric())
        .filter(|metric| metric.get_gauge().value() >= 1.0)
        .filter_map(|metric| {
            metric
                .get_label()
                .iter()
                .find(|label| label.name() == "fault")
                .map(|label| label.value().to_string())
        })
        .collect();
    toggles.sort();
    toggles
}
// endregion: fault-catalogue

/// The whole page, showing `report`.
pub fn render(report: &Diagnostics) -> String {
    let active: Vec<&FindingReport> = report.active().collect();
    let refresh = refresh_seconds(report.window_seconds);
    let mut out = String::with_capacity(32 * 1024);
    let title = match active.len() {
        0 => "doc-controller".to_string(),
        1 => "doc-controller: 1 finding raised".to_string(),
        n => format!("doc-controller: {n} findings raised"),
    };
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\" data-refresh-seconds=\"{refresh}\">\n<head>\n\
         <meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{}</title>\n\
         <noscript><meta http-equiv=\"refresh\" content=\"{refresh}\"></noscript>\n\
         <style>{STYLE}</style>\n<script>{}</script>\n</head>\n<body>\n",
        escape(&title),
        SCRIPT.replace("REFRESH_MS", &(refresh * 1000).to_string()),
    );
    header(&mut out, report, active.len());
    plots(&mut out, report);
    findings(&mut out, report, &active);
    out.push_str(
        "<footer>Read-only: this server changes nothing. The same report as JSON: \
         <a href=\"/diagnostics\">/diagnostics</a>; the metrics: <a href=\"/metrics\">/metrics</a>.\
         </footer>\n</body>\n</html>\n",
    );
    out
}

/// How often the page refreshes: once a window (a new point at most once a window), at least
/// every 10 s so a page opened on a slow window still shows a stopped controller soon.
#[allow(
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    reason = "clamped to 1..=10 first, so the conversion cannot truncate or wrap"
)]
fn refresh_seconds(window_seconds: f64) -> u64 {
    window_seconds.ceil().clamp(1.0, 10.0) as u64
}

fn header(out: &mut String, report: &Diagnostics, active: usize) {
    out.push_str("<header>\n<h1>doc-controller</h1>\n<p id=\"status\">");
    if report.windows == 0 {
        let _ = write!(
            out,
            "No diagnosis window evaluated yet (one every {} s).",
            number(report.window_seconds)
        );
    } else {
        let _ = write!(
            out,
            "<strong>{active} finding{} raised</strong>; {} windows of {} s evaluated{}.",
            if active == 1 { "" } else { "s" },
            report.windows,
            number(report.window_seconds),
            report
                .evaluated_at
                .as_deref()
                .map(|at| format!(", the last at {}", escape(&short_time(at))))
                .unwrap_or_default()
        );
    }
    out.push_str("</p>\n</header>\n");
}

fn plots(out: &mut String, report: &Diagnostics) {
    out.push_str("<section id=\"plots\">\n<h2>The last windows</h2>\n<div class=\"grid\">\n");
    for plot in PLOTS {
        let lines = lines(plot, &report.history);
        out.push_str("<figure>\n");
        let _ = writeln!(
            out,
            "<figcaption>{}{}</figcaption>",
            escape(plot.title),
            if plot.unit.is_empty() {
                String::new()
            } else {
                format!(
                    " <span class=\"unit\">({})</span>",
                    escape(plot.unit.trim())
                )
            }
        );
        svg(
            out,
            plot,
            &lines,
            report.history.len(),
            report.window_seconds,
        );
        out.push_str("</figure>\n");
    }
    out.push_str("</div>\n</section>\n");
}

/// One line of a plot: its label (empty for a single-line plot) and a value per history point
/// (`None` where the point lacks the series).
struct Line {
    label: String,
    values: Vec<Option<f64>>,
}

fn lines(plot: &Plot, history: &[HistoryPoint]) -> Vec<Line> {
    match plot.source {
        Source::Series(name, factor) => vec![Line {
            label: String::new(),
            values: history
                .iter()
                .map(|point| point.values.get(name).map(|v| v * factor))
                .collect(),
        }],
        Source::ApiErrors => {
            // A code's series exists in a window only when it had errors: absent is 0.
            let codes: std::collections::BTreeSet<&str> = history
                .iter()
                .flat_map(|point| point.values.keys())
                .filter_map(|name| {
                    name.strip_prefix(API_ERRORS_PREFIX)?
                        .strip_suffix(API_ERRORS_SUFFIX)
                })
                .collect();
            codes
                .into_iter()
                .map(|code| {
                    let name = format!("{API_ERRORS_PREFIX}{code}{API_ERRORS_SUFFIX}");
                    Line {
                        label: code.to_string(),
                        values: history
                            .iter()
                            .map(|point| Some(point.values.get(&name).copied().unwrap_or(0.0)))
                            .collect(),
                    }
                })
                .collect()
        }
    }
}

// Plot geometry, in SVG user units.
const WIDTH: f64 = 420.0;
const HEIGHT: f64 = 170.0;
const LEFT: f64 = 56.0;
const RIGHT: f64 = 14.0;
const TOP: f64 = 22.0;
const BOTTOM: f64 = 22.0;
const COLOURS: &[&str] = &[
    "#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2",
];

/// One plot: axes labelled with 0, half and the top of the scale and the time span, the lines,
/// the latest value of each line. The x axis always spans [`HISTORY`] windows, so points keep
/// their place as the plot fills from the right.
fn svg(out: &mut String, plot: &Plot, lines: &[Line], points: usize, window_seconds: f64) {
    let top = nice_ceiling(
        lines
            .iter()
            .flat_map(|line| line.values.iter().flatten())
            .fold(0.0_f64, |max, v| max.max(*v)),
    );
    let (x0, x1, y0, y1) = (LEFT, WIDTH - RIGHT, HEIGHT - BOTTOM, TOP);
    let y = |v: f64| y0 - (v / top).clamp(0.0, 1.0) * (y0 - y1);
    let span = (HISTORY - 1) as f64;
    // Point i of n sits (n - 1 - i) windows left of "now".
    let x = |i: usize| x1 - ((points - 1 - i) as f64 / span).min(1.0) * (x1 - x0);
    let _ = writeln!(
        out,
        "<svg id=\"plot-{}\" class=\"plot\" data-points=\"{points}\" viewBox=\"0 0 {WIDTH} {HEIGHT}\" \
         width=\"{WIDTH}\" height=\"{HEIGHT}\" role=\"img\" aria-label=\"{}\">",
        plot.key,
        escape(plot.title)
    );
    // Grid and y labels: 0, half, top.
    for fraction in [0.0, 0.5, 1.0] {
        let value = top * fraction;
        let at = y(value);
        let _ = writeln!(
            out,
            "<line class=\"grid\" x1=\"{x0}\" y1=\"{at:.1}\" x2=\"{x1}\" y2=\"{at:.1}\"/>\
             <text class=\"axis\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            x0 - 6.0,
            at + 4.0,
            number(value)
        );
    }
    let _ = writeln!(
        out,
        "<line class=\"axis\" x1=\"{x0}\" y1=\"{y0}\" x2=\"{x1}\" y2=\"{y0}\"/>\
         <line class=\"axis\" x1=\"{x0}\" y1=\"{y0}\" x2=\"{x0}\" y2=\"{y1}\"/>\
         <text class=\"axis\" x=\"{x0}\" y=\"{:.1}\">{}</text>\
         <text class=\"axis\" x=\"{x1}\" y=\"{:.1}\" text-anchor=\"end\">now</text>",
        y0 + 16.0,
        escape(&ago(span * window_seconds)),
        y0 + 16.0,
    );
    if points == 0 {
        let _ = writeln!(
            out,
            "<text class=\"empty\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">waiting for the first window</text>",
            (x0 + x1) / 2.0,
            (y0 + y1) / 2.0
        );
    }
    let mut legend = Vec::new();
    if lines.is_empty() && points > 0 {
        // No code had errors in any window: a flat line at 0 says so.
        let _ = writeln!(
            out,
            "<path class=\"line\" data-series=\"none\" stroke=\"{}\" d=\"M{:.1} {y0:.1} L{x1:.1} {y0:.1}\"/>",
            COLOURS[2],
            x(0)
        );
        legend.push(("none".to_string(), COLOURS[2]));
    }
    for (index, line) in lines.iter().enumerate() {
        let colour = COLOURS[index % COLOURS.len()];
        let mut d = String::new();
        let mut pen_down = false;
        for (i, value) in line.values.iter().enumerate() {
            match value {
                Some(v) => {
                    let _ = write!(
                        d,
                        "{}{:.1} {:.1} ",
                        if pen_down { "L" } else { "M" },
                        x(i),
                        y(*v)
                    );
                    pen_down = true;
                }
                None => pen_down = false,
            }
        }
        let series = if line.label.is_empty() {
            plot.key.to_string()
        } else {
            line.label.clone()
        };
        if !d.is_empty() {
            let _ = writeln!(
                out,
                "<path class=\"line\" data-series=\"{}\" stroke=\"{colour}\" d=\"{}\"/>",
                escape(&series),
                d.trim_end()
            );
        }
        let latest = line.values.last().copied().flatten();
        if let (Some(v), Some(last)) = (latest, points.checked_sub(1)) {
            let _ = writeln!(
                out,
                "<circle class=\"dot\" fill=\"{colour}\" cx=\"{:.1}\" cy=\"{:.1}\" r=\"3\"/>",
                x(last),
                y(v)
            );
        }
        let value = match latest {
            Some(v) => format!("{}{}", number(v), plot.unit),
            None if points == 0 => "–".to_string(),
            None => "n/a".to_string(),
        };
        legend.push((
            if line.label.is_empty() {
                value
            } else {
                format!("{} {value}", line.label)
            },
            colour,
        ));
    }
    // The latest values, top right: what the plot says now.
    let mut at = x1;
    for (text, colour) in legend.iter().rev() {
        let _ = writeln!(
            out,
            "<text class=\"latest\" fill=\"{colour}\" x=\"{at:.1}\" y=\"14\" text-anchor=\"end\">{}</text>",
            escape(text)
        );
        at -= 9.0 * text.chars().count() as f64 + 12.0;
    }
    out.push_str("</svg>\n");
}

fn findings(out: &mut String, report: &Diagnostics, active: &[&FindingReport]) {
    out.push_str("<section id=\"findings\">\n<h2>Findings raised</h2>\n");
    if active.is_empty() {
        let _ = writeln!(
            out,
            "<p class=\"none\">{}</p>",
            if report.windows == 0 {
                "None yet: no window evaluated."
            } else {
                "None: the controller sees none of the symptoms it knows."
            }
        );
    }
    for finding in active {
        let name = escape(&finding.finding);
        let _ = writeln!(
            out,
            "<article class=\"finding\" data-finding=\"{name}\">\n<h3>{name}</h3>\n\
             <p class=\"symptom\">{}</p>",
            escape(&finding.symptom)
        );
        if let Some(since) = &finding.since {
            let _ = writeln!(
                out,
                "<p class=\"since\">raised since {} ({} time{} since the controller started)</p>",
                escape(&short_time(since)),
                finding.raised,
                if finding.raised == 1 { "" } else { "s" }
            );
        }
        if !finding.evidence.is_empty() {
            out.push_str("<h4>Evidence</h4>\n<ul class=\"evidence\">\n");
            for line in &finding.evidence {
                let _ = writeln!(out, "<li>{}</li>", escape(line));
            }
            out.push_str("</ul>\n");
        }
        if let Some(cause) = &finding.likely_cause {
            let _ = writeln!(
                out,
                "<h4>Likely cause</h4>\n<p class=\"cause\">{}</p>",
                escape(cause)
            );
        }
        let _ = writeln!(
            out,
            "<h4>Fix</h4>\n<p class=\"fix\">{}</p>",
            escape(&finding.fix)
        );
        // The docs are a path in the repository unless they are a URL: only a URL is a link
        // (a relative href would point at this admin server, which serves no docs).
        let docs = escape(&finding.docs);
        if finding.docs.starts_with("https://") || finding.docs.starts_with("http://") {
            let _ = writeln!(
                out,
                "<p class=\"docs\">Docs: <a href=\"{docs}\">{docs}</a></p>"
            );
        } else {
            let _ = writeln!(
                out,
                "<p class=\"docs\">Docs: <code>{docs}</code> in the repository</p>"
            );
        }
        out.push_str("</article>\n");
    }
    out.push_str("</section>\n");
}

// region: fault-catalogue
/// `page` with a section listing the failure `toggles` in force, before its footer.
pub fn with_toggles(mut page: String, toggles: &[String]) -> String {
    let mut section = String::new();
    toggles_section(&mut section, toggles);
    let at = page.find("<footer>").unwrap_or(page.len());
    page.insert_str(at, &section);
    page
}

fn toggles_section(out: &mut String, toggles: &[String]) {
    out.push_str("<section id=\"toggles\">\n<h2>Failure toggles in force</h2>\n");
    if toggles.is_empty() {
        out.push_str(
            "<p class=\"none\">None reported (the controller reports them once its watches \
             start).</p>\n",
        );
    } else {
        out.push_str("<ul>\n");
        for toggle in toggles {
            let toggle = escape(toggle);
            let _ = writeln!(
                out,
                "<li class=\"toggle\" data-toggle=\"{toggle}\" style=\"font-size: 15px\">\
                 <code style=\"background: #fef3c7; padding: 1px 6px; border-radius: 4px\">\
                 {toggle}</code></li>"
            );
        }
        out.push_str(
            "</ul>\n<p class=\"note\">These misbehave on purpose: see <code>docs/faults.md</code>.</p>\n",
        );
    }
    out.push_str("</section>\n");
}
// endregion: fault-catalogue

/// An RFC 3339 time as people read it: `2026-12-04 20:27:05 UTC`, without the fraction of a
/// second; any other text as it is.
fn short_time(at: &str) -> String {
    match at.parse::<k8s_openapi::jiff::Timestamp>() {
        Ok(time) => time.strftime("%Y-%m-%d %H:%M:%S UTC").to_string(),
        Err(_) => at.to_string(),
    }
}

/// `text` safe inside HTML text and double- or single-quoted attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A value for a label: at most three significant digits, no trailing zeros.
fn number(value: f64) -> String {
    if !value.is_finite() {
        return "n/a".to_string();
    }
    let text = match value.abs() {
        v if v >= 100.0 => format!("{value:.0}"),
        v if v >= 10.0 => format!("{value:.1}"),
        _ => format!("{value:.2}"),
    };
    let text = if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        text
    };
    if text == "-0" { "0".to_string() } else { text }
}

/// The top of a plot's scale: the smallest 1, 2 or 5 times a power of ten at or above `max`
/// (1 for an all-zero plot, so a flat line sits at the bottom).
fn nice_ceiling(max: f64) -> f64 {
    if !(max.is_finite() && max > 0.0) {
        return 1.0;
    }
    let magnitude = 10_f64.powf(max.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|step| step * magnitude)
        .find(|top| *top >= max * (1.0 - 1e-9))
        .unwrap_or(10.0 * magnitude)
}

/// `−59 s`, `−9 min 50 s`: how long ago the left edge of a plot is.
#[allow(
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    reason = "a non-negative whole number of seconds, far below u64::MAX"
)]
fn ago(seconds: f64) -> String {
    let seconds = seconds.max(0.0).round() as u64;
    match (seconds / 60, seconds % 60) {
        (0, s) => format!("−{s} s"),
        (m, 0) => format!("−{m} min"),
        (m, s) => format!("−{m} min {s} s"),
    }
}

/// Kept small on purpose: look, not layout engine.
const STYLE: &str = "
body { font: 15px/1.45 system-ui, sans-serif; margin: 0 auto; max-width: 1320px; padding: 0 20px 24px; color: #1f2937; }
header { display: flex; gap: 24px; align-items: baseline; border-bottom: 1px solid #e5e7eb; }
h1 { font-size: 22px; margin: 14px 0; }
h2 { font-size: 17px; margin: 20px 0 8px; }
h3 { margin: 0 0 4px; font-size: 16px; font-family: ui-monospace, monospace; color: #b91c1c; }
h4 { margin: 8px 0 2px; font-size: 13px; text-transform: uppercase; letter-spacing: .04em; color: #6b7280; }
p { margin: 2px 0; }
.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(420px, 1fr)); gap: 12px; }
figure { margin: 0; border: 1px solid #e5e7eb; border-radius: 6px; padding: 6px 8px; }
figcaption { font-weight: 600; }
.unit { color: #6b7280; font-weight: normal; }
svg.plot { display: block; width: 100%; height: auto; font: 11px system-ui, sans-serif; }
svg .grid { stroke: #eef0f3; }
svg line.axis { stroke: #9ca3af; }
svg text.axis { fill: #6b7280; }
svg text.latest { font-weight: 600; font-size: 13px; }
svg text.empty { fill: #9ca3af; }
svg .line { fill: none; stroke-width: 2; stroke-linejoin: round; }
.finding { border: 1px solid #fca5a5; border-left: 6px solid #dc2626; border-radius: 6px; background: #fef2f2; padding: 10px 14px; margin: 8px 0; }
.symptom { font-weight: 600; }
.since, .note { color: #6b7280; font-size: 13px; }
.evidence { margin: 2px 0; padding-left: 20px; font-family: ui-monospace, monospace; font-size: 13px; }
.fix { background: #ecfdf5; border-left: 4px solid #16a34a; padding: 4px 8px; }
.none { color: #166534; }
footer { margin-top: 24px; color: #6b7280; font-size: 13px; }
";

/// Re-fetches the page once a window and swaps the new body in (scripts of the fetched document
/// do not run; this one stays). When the controller stops answering, the status line says so.
const SCRIPT: &str = "
(() => {
  let refreshes = 0;
  setInterval(async () => {
    try {
      const answer = await fetch(location.pathname, { cache: 'no-store' });
      if (!answer.ok) throw new Error('HTTP ' + answer.status);
      const page = new DOMParser().parseFromString(await answer.text(), 'text/html');
      document.title = page.title;
      document.body.replaceWith(page.body);
      document.documentElement.dataset.refreshes = String(++refreshes);
      delete document.documentElement.dataset.stale;
    } catch (error) {
      const status = document.getElementById('status');
      if (status) status.textContent = 'The controller does not answer (' + error.message + '); retrying.';
      document.documentElement.dataset.stale = 'true';
    }
  }, REFRESH_MS);
})();
";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnosis::report::SERIES;
    use std::collections::BTreeMap;

    fn point(values: &[(&str, f64)]) -> HistoryPoint {
        HistoryPoint {
            at: "2026-12-04T20:00:00Z".into(),
            values: values
                .iter()
                .map(|(name, value)| ((*name).to_string(), *value))
                .collect::<BTreeMap<_, _>>(),
        }
    }

    fn churn() -> FindingReport {
        FindingReport {
            finding: "status-churn".into(),
            active: true,
            symptom: "a status patch on every reconcile".into(),
            since: Some("2026-12-04T20:00:00Z".into()),
            evidence: vec!["12 status writes for generations already written".into()],
            likely_cause: Some("a timestamp of now in the status".into()),
            fix: "Compute the status from the spec only".into(),
            docs: "docs/diagnosis.md#status-churn".into(),
            raised: 1,
            ..FindingReport::default()
        }
    }

    fn report(history: Vec<HistoryPoint>, findings: Vec<FindingReport>) -> Diagnostics {
        Diagnostics {
            window_seconds: 2.0,
            windows: history.len() as u64,
            evaluated_at: Some("2026-12-04T20:00:00Z".into()),
            findings,
            signals: Vec::new(),
            history,
        }
    }

    /// The `<svg …>…</svg>` element with id `plot-<key>`.
    fn plot<'a>(page: &'a str, key: &str) -> &'a str {
        let start = page
            .find(&format!("<svg id=\"plot-{key}\""))
            .unwrap_or_else(|| panic!("no plot {key} in {page}"));
        let end = page[start..].find("</svg>").expect("svg closed") + start;
        &page[start..end]
    }

    #[test]
    fn every_plotted_series_is_one_the_report_keeps() {
        for plot in PLOTS {
            if let Source::Series(name, _) = plot.source {
                assert!(SERIES.contains(&name), "{name} is not in report::SERIES");
            }
        }
    }

    #[test]
    fn a_raised_finding_shows_with_evidence_cause_fix_and_docs() {
        let quiet = FindingReport {
            finding: "throttled".into(),
            fix: "not shown".into(),
            ..FindingReport::default()
        };
        let page = render(&report(Vec::new(), vec![churn(), quiet]));
        assert!(
            page.contains("<article class=\"finding\" data-finding=\"status-churn\">"),
            "{page}"
        );
        assert!(page.contains("a status patch on every reconcile"), "{page}");
        assert!(
            page.contains("<li>12 status writes for generations already written</li>"),
            "{page}"
        );
        assert!(
            page.contains("<p class=\"cause\">a timestamp of now in the status</p>"),
            "{page}"
        );
        assert!(
            page.contains("<p class=\"fix\">Compute the status from the spec only</p>"),
            "{page}"
        );
        assert!(page.contains("docs/diagnosis.md#status-churn"), "{page}");
        assert!(!page.contains("data-finding=\"throttled\""), "{page}");
        assert!(!page.contains("not shown"), "{page}");
        assert!(page.contains("<title>doc-controller: 1 finding raised</title>"));
    }

    #[test]
    fn every_text_is_escaped() {
        let hostile = FindingReport {
            finding: "x\"><script>alert(1)</script>".into(),
            symptom: "<b>bold</b> & 'quoted'".into(),
            evidence: vec!["forbidden: <img src=x onerror=alert(1)>".into()],
            likely_cause: Some("</p><p>".into()),
            fix: "a < b".into(),
            docs: "javascript:alert(1)".into(),
            ..churn()
        };
        let page = render(&report(vec![point(&[])], vec![hostile]));
        let body = page.split_once("</script>").map_or("", |(_, rest)| rest);
        assert!(!body.contains("<script"), "{body}");
        assert!(!body.contains("<img"), "{body}");
        assert!(!body.contains("<b>bold"), "{body}");
        assert!(!body.contains("href=\"javascript"), "{body}");
        assert!(
            body.contains("&lt;b&gt;bold&lt;/b&gt; &amp; &#39;quoted&#39;"),
            "{body}"
        );
        assert!(
            body.contains("data-finding=\"x&quot;&gt;&lt;script&gt;"),
            "{body}"
        );
        assert!(body.contains("a &lt; b"), "{body}");
        assert_eq!(escape("&<>\"'"), "&amp;&lt;&gt;&quot;&#39;");
    }

    #[test]
    fn plots_are_there_with_no_point_and_with_one() {
        let empty = render(&report(Vec::new(), Vec::new()));
        for spec in PLOTS {
            let svg = plot(&empty, spec.key);
            assert!(svg.contains("data-points=\"0\""), "{svg}");
            assert!(svg.contains("waiting for the first window"), "{svg}");
            assert!(!svg.contains("<path"), "{svg}");
        }
        assert!(
            empty.contains("No diagnosis window evaluated yet"),
            "{empty}"
        );

        let one = render(&report(
            vec![point(&[
                ("reconciles per second", 2.5),
                ("resident memory bytes", 52_428_800.0),
            ])],
            Vec::new(),
        ));
        let svg = plot(&one, "reconciles");
        assert!(svg.contains("data-points=\"1\""), "{svg}");
        assert!(
            svg.contains("<path class=\"line\" data-series=\"reconciles\""),
            "{svg}"
        );
        assert!(svg.contains("<circle class=\"dot\""), "{svg}");
        assert!(svg.contains(">2.5/s</text>"), "the latest value: {svg}");
        assert!(plot(&one, "rss").contains(">50 MiB</text>"), "{one}");
        // A series the point lacks is not made up.
        assert!(plot(&one, "writes").contains(">n/a</text>"), "{one}");
        // No API error in any window: a flat line at 0, labelled.
        let errors = plot(&one, "api-errors");
        assert!(errors.contains("data-series=\"none\""), "{errors}");
    }

    #[test]
    fn a_plot_draws_every_point_with_axes_and_the_latest_value() {
        let history: Vec<_> = (0..5)
            .map(|i| {
                point(&[
                    ("reconciles per second", f64::from(i)),
                    ("api errors 403 per second", if i >= 3 { 1.5 } else { 0.0 }),
                ])
            })
            .chain([point(&[("reconciles per second", 7.0)])])
            .collect();
        let page = render(&report(history, Vec::new()));
        let svg = plot(&page, "reconciles");
        let path = svg
            .split(" d=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .expect("a path");
        assert_eq!(path.matches(['M', 'L']).count(), 6, "{path}");
        assert!(path.starts_with('M') && !path[1..].contains('M'), "{path}");
        assert!(svg.contains(">10</text>"), "the top of the scale: {svg}");
        assert!(svg.contains(">0</text>"), "{svg}");
        assert!(svg.contains(">now</text>"), "{svg}");
        assert!(
            svg.contains(">−1 min 58 s</text>"),
            "59 windows of 2 s: {svg}"
        );
        assert!(svg.contains(">7/s</text>"), "{svg}");
        // The code's series is absent in the last window: 0 there, not a gap.
        let errors = plot(&page, "api-errors");
        assert!(errors.contains("data-series=\"403\""), "{errors}");
        assert!(errors.contains(">403 0/s</text>"), "{errors}");
    }

    #[test]
    fn the_page_refreshes_once_a_window() {
        let page = render(&report(Vec::new(), Vec::new()));
        assert!(
            page.contains("<meta http-equiv=\"refresh\" content=\"2\">"),
            "{page}"
        );
        assert!(page.contains("}, 2000);"), "{page}");
        assert_eq!(refresh_seconds(0.1), 1);
        assert_eq!(refresh_seconds(60.0), 10);
    }

    // region: fault-catalogue
    #[test]
    fn toggles_in_force_are_listed_escaped() {
        let toggles = ["status-timestamp".to_string(), "<i>toggle</i>".to_string()];
        let page = with_toggles(render(&report(Vec::new(), Vec::new())), &toggles);
        assert!(
            page.contains("<li class=\"toggle\" data-toggle=\"status-timestamp\""),
            "{page}"
        );
        let body = page.split_once("</script>").map_or("", |(_, rest)| rest);
        assert!(!body.contains("<i>toggle"), "{body}");
        let none = with_toggles(render(&report(Vec::new(), Vec::new())), &[]);
        assert!(none.contains("None reported"), "{none}");
        assert!(
            page.find("id=\"toggles\"") < page.find("<footer>"),
            "{page}"
        );
    }

    #[test]
    fn toggles_in_force_are_read_from_the_fault_gauge() {
        let metrics = crate::metrics::Metrics::new(&[]).expect("metrics");
        let gauges = crate::controller::toggles::Gauges::register(&metrics).expect("gauges");
        assert!(toggles_in_force(&metrics).is_empty());
        gauges.set("status-timestamp", true, false);
        gauges.set("no-predicate", false, true);
        gauges.set("broad-watch-scope", true, false);
        assert_eq!(
            toggles_in_force(&metrics),
            ["broad-watch-scope", "status-timestamp"]
        );
    }
    // endregion: fault-catalogue

    #[test]
    fn labels_are_short_and_scales_round() {
        assert_eq!(number(0.0), "0");
        assert_eq!(number(2.5), "2.5");
        assert_eq!(number(0.333), "0.33");
        assert_eq!(number(12.34), "12.3");
        assert_eq!(number(1234.4), "1234");
        assert_eq!(number(f64::NAN), "n/a");
        assert_eq!(nice_ceiling(0.0), 1.0);
        assert_eq!(nice_ceiling(7.0), 10.0);
        assert_eq!(nice_ceiling(1.5), 2.0);
        assert_eq!(nice_ceiling(0.3), 0.5);
        assert_eq!(nice_ceiling(50.0), 50.0);
        assert_eq!(ago(59.0), "−59 s");
        assert_eq!(ago(590.0), "−9 min 50 s");
        assert_eq!(ago(120.0), "−2 min");
        assert_eq!(
            short_time("2026-12-04T20:27:05.687825955Z"),
            "2026-12-04 20:27:05 UTC"
        );
        assert_eq!(short_time("soon"), "soon");
    }
}
