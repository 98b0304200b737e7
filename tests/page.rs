//! The admin page (`GET /`) of a controller with a toggle on: over plain HTTP, and in a real
//! browser (Debian's headless Chromium), which must show the plot and the finding.
//!
//! The browser test is ignored in a plain `cargo test` (it needs `/usr/bin/chromium`); `.ci/run`
//! installs Chromium and runs it with `cargo test --all-features --test page -- --ignored`. Run
//! that way without Chromium it fails, saying what to install, instead of passing.

mod support;

use doc_controller::Document;
use doc_controller::config::Config;
use doc_controller::diagnosis::Settings;
use doc_controller::diagnosis::report::Diagnostics;
use doc_controller::fault::{Fault, Faults};
use kube::api::Api;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;
use support::{
    Controller, Env, TestNamespace, create, doc, eventually, http_get, ready_as, wait_for,
};

/// Debian's Chromium (`apt-get install chromium`).
const CHROMIUM: &str = "/usr/bin/chromium";

/// The finding `status-timestamp` raises.
const FINDING: &str = "status-churn";

/// Windows of history the plot should have before the page is looked at.
const POINTS: usize = 6;

/// The `/diagnostics` report of the controller whose admin server is at `admin`.
async fn diagnostics(admin: SocketAddr) -> Diagnostics {
    let (code, body) = http_get(admin, "/diagnostics").await;
    assert_eq!(code, 200, "/diagnostics: {body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("/diagnostics: {e}: {body}"))
}

/// A controller with `status-timestamp` on, 1 s resyncs and 1 s diagnosis windows, two Documents,
/// waited for until `/diagnostics` shows the finding raised and a few points of history.
async fn churning(env: &Env, ns: &TestNamespace) -> (Controller, Diagnostics) {
    let config = Config {
        faults: Faults::new([Fault::StatusTimestamp]),
        resync_period: Duration::from_secs(1),
        diagnosis: Settings {
            window: Duration::from_secs(1),
            ..Settings::default()
        },
        ..Config::default()
    };
    let controller = Controller::start(env, ns, config).await;
    let docs: Api<Document> = Api::namespaced(env.client.clone(), ns.name());
    for name in ["page-0", "page-1"] {
        create(&docs, &doc(name, "A page", "words")).await;
    }
    for name in ["page-0", "page-1"] {
        wait_for(&docs, name, ready_as("Published")).await;
    }
    let admin = controller.admin_addr();
    let report = eventually(&format!("{FINDING} raised in /diagnostics"), || async {
        let report = diagnostics(admin).await;
        let raised = report.active().any(|f| f.finding == FINDING);
        (raised && report.history.len() >= POINTS).then_some(report)
    })
    .await;
    (controller, report)
}

/// The element that starts at the first occurrence of `opening` and ends at the first `closing`
/// after it.
fn element<'a>(page: &'a str, opening: &str, closing: &str) -> &'a str {
    let start = page
        .find(opening)
        .unwrap_or_else(|| panic!("no {opening} in the page:\n{page}"));
    let end = page[start..]
        .find(closing)
        .unwrap_or_else(|| panic!("{opening} is not closed by {closing}"))
        + start;
    &page[start..end]
}

/// Text as a browser serializes it into HTML (`&`, `<`, `>` escaped; quotes kept).
fn as_html_text(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// What a page (served, or as a browser's DOM) must show with the finding raised: the
/// reconciles plot with a line through several points, the finding with its fix and likely
/// cause, and the toggle in force.
fn assert_shows_plot_and_finding(page: &str, report: &Diagnostics) {
    let plot = element(page, "<svg id=\"plot-reconciles\"", "</svg>");
    let line = element(plot, "<path class=\"line\"", ">");
    let points = line
        .split_once(" d=\"")
        .and_then(|(_, d)| d.split_once('"'))
        .map(|(d, _)| d.matches(['M', 'L']).count())
        .unwrap_or_default();
    assert!(points >= 2, "the reconciles plot has a line: {plot}");
    assert!(
        plot.contains(">now</text>"),
        "the time axis is labelled: {plot}"
    );
    assert!(
        plot.contains("class=\"latest\""),
        "the latest value: {plot}"
    );

    let finding = report
        .findings
        .iter()
        .find(|f| f.finding == FINDING)
        .expect("the catalogue has status-churn");
    let article = element(
        page,
        &format!("<article class=\"finding\" data-finding=\"{FINDING}\">"),
        "</article>",
    );
    assert!(
        article.contains(&as_html_text(&finding.fix)),
        "the fix {:?} in {article}",
        finding.fix
    );
    let cause = finding
        .likely_cause
        .as_deref()
        .expect("a raised finding has a cause");
    assert!(
        article.contains(&as_html_text(cause)),
        "the cause in {article}"
    );
    assert!(
        page.contains("data-toggle=\"status-timestamp\""),
        "the toggle in force: {page}"
    );
}

#[tokio::test]
async fn the_page_shows_the_plots_the_finding_and_the_toggle() {
    let env = Env::new().await;
    let ns = env.namespace().await;
    let (controller, report) = churning(&env, &ns).await;

    let (code, page) = http_get(controller.admin_addr(), "/").await;

    assert_eq!(code, 200, "{page}");
    assert_shows_plot_and_finding(&page, &report);
    for key in [
        "writes",
        "api-requests",
        "api-errors",
        "watch-restarts",
        "in-flight",
        "rss",
    ] {
        assert!(
            page.contains(&format!("<svg id=\"plot-{key}\"")),
            "plot-{key}"
        );
    }
}

#[tokio::test]
#[ignore = "needs Debian's chromium; .ci/run installs it and runs it"]
async fn a_browser_shows_the_plot_and_the_finding() {
    assert!(
        Path::new(CHROMIUM).exists(),
        "{CHROMIUM} is missing: `apt-get install -y chromium` (Debian's package; .ci/run does it)"
    );
    let env = Env::new().await;
    let ns = env.namespace().await;
    let (controller, report) = churning(&env, &ns).await;
    // Under the target directory cargo gives integration tests (it exists, wherever
    // CARGO_TARGET_DIR puts it).
    let screenshot = PathBuf::from(concat!(env!("CARGO_TARGET_TMPDIR"), "/page.png"));
    let _ = std::fs::remove_file(&screenshot);
    let profile = tempfile::tempdir().expect("a profile directory");
    let url = format!("http://{}/", controller.admin_addr());

    // Plain CLI headless mode: load, let the page's own refresh run (virtual time runs the
    // timers; fetches pause it until they are answered), print the DOM, take the screenshot.
    let run = tokio::process::Command::new(CHROMIUM)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--virtual-time-budget=2500",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(format!("--screenshot={}", screenshot.display()))
        .args(["--window-size=1280,2000", "--dump-dom"])
        .arg(&url)
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(90), run)
        .await
        .expect("chromium ends within 90 s")
        .expect("chromium runs");
    let dom = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "chromium failed ({}): {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );

    assert_shows_plot_and_finding(&dom, &report);
    // The page followed the controller by itself: its script swapped in a fresh body.
    let html = element(&dom, "<html", ">");
    assert!(
        html.contains("data-refreshes="),
        "the page refreshed itself: {html}"
    );
    let size = std::fs::metadata(&screenshot)
        .map(|m| m.len())
        .unwrap_or_default();
    assert!(
        size > 10_000,
        "a screenshot at {} ({size} bytes)",
        screenshot.display()
    );
}
