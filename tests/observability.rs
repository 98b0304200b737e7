//! The alert rules and the Grafana dashboard of `yaml/observability/` against what they are for.
//!
//! Without anything but Rust: the PrometheusRule is what `rulegen` prints from `rules.yaml`, every
//! finding of the self-diagnosis has its alert, every runbook link has its anchor, every alert has
//! a promtool test with a firing and a silent target, and every dashboard panel reads the
//! controller's metrics through the `job`/`namespace`/`pod` variables.
//!
//! With Debian's `prometheus` package (`promtool` and `prometheus`), ignored by default with that
//! reason and run by `.ci/run`: `promtool check rules` and `promtool test rules`.
// region: fault-catalogue
//! And a real Prometheus on loopback scraping two controllers on the sandbox (a healthy one and
//! one with failure toggles on), where every panel query, every variable and every selector of
//! every alert returns data, every rule evaluates, the toggles' alerts go active and the healthy
//! controller's do not.
// endregion: fault-catalogue

mod support;

use doc_controller::diagnosis::Finding;
use heck::ToUpperCamelCase;
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
// region: fault-catalogue
use doc_controller::config::Config;
use doc_controller::fault::{Fault, Faults};
use std::net::SocketAddr;
use std::time::Duration;
use support::{Env, TestNamespace, create, doc, http_get};
// endregion: fault-catalogue

/// Where every runbook_url starts (README.md, "Alerts and dashboard": replace it with yours).
const RUNBOOK_BASE: &str = "https://github.com/kube-rs/doc-controller/blob/main/";

/// The docs of the findings, one `## <finding>` heading each.
const DIAGNOSIS_DOCS: &str = "docs/diagnosis.md";

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn read(path: &str) -> String {
    std::fs::read_to_string(repo(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn yaml(path: &str) -> Value {
    serde_saphyr::from_str(&read(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Every rule of `rules.yaml` (all of them alerts).
fn alerts() -> Vec<Value> {
    let rules = yaml("yaml/observability/rules.yaml");
    let groups = rules["groups"].as_array().expect("groups");
    let alerts: Vec<Value> = groups
        .iter()
        .flat_map(|g| g["rules"].as_array().expect("rules").iter().cloned())
        .collect();
    assert!(!alerts.is_empty());
    for alert in &alerts {
        assert!(alert["alert"].is_string(), "a recording rule? {alert}");
    }
    alerts
}

fn text<'a>(value: &'a Value, key: &str) -> &'a str {
    value[key]
        .as_str()
        .unwrap_or_else(|| panic!("no string {key} in {value}"))
}

/// The anchors GitHub gives the headings of a Markdown file.
fn anchors(markdown: &str) -> BTreeSet<String> {
    let mut in_code = false;
    let mut anchors = BTreeSet::new();
    for line in markdown.lines() {
        if line.starts_with("```") {
            in_code = !in_code;
        }
        if in_code || !line.starts_with('#') {
            continue;
        }
        let heading = line.trim_start_matches('#').trim();
        let slug: String = heading
            .to_lowercase()
            .chars()
            .filter(|c| c.is_alphanumeric() || *c == ' ' || *c == '-' || *c == '_')
            .map(|c| if c == ' ' { '-' } else { c })
            .collect();
        anchors.insert(slug);
    }
    anchors
}

#[test]
fn the_prometheus_rule_is_what_rulegen_prints_from_the_rules_file() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_rulegen"))
        .output()
        .expect("rulegen runs");
    assert!(
        output.status.success(),
        "rulegen failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let generated = String::from_utf8(output.stdout).expect("UTF-8");
    assert!(
        generated == read("yaml/observability/prometheusrule.yaml"),
        "yaml/observability/prometheusrule.yaml is stale; regenerate it with: \
         cargo run --bin rulegen > yaml/observability/prometheusrule.yaml"
    );
    let rule: Value = serde_saphyr::from_str(&generated).expect("YAML");
    assert_eq!(rule["kind"], "PrometheusRule");
    assert_eq!(rule["spec"], yaml("yaml/observability/rules.yaml"));
}

#[test]
fn every_finding_has_its_alert_and_every_alert_its_finding() {
    let alerts = alerts();
    let names: BTreeSet<&str> = Finding::ALL.iter().map(|f| f.name()).collect();
    for finding in Finding::ALL {
        let name = finding.name();
        let theirs: Vec<&Value> = alerts
            .iter()
            .filter(|a| a["labels"]["finding"] == name)
            .collect();
        assert_eq!(theirs.len(), 1, "finding {name}: {} alerts", theirs.len());
        let alert = theirs[0];
        assert_eq!(
            text(alert, "alert"),
            format!("DocControllerFinding{}", name.to_upper_camel_case())
        );
        assert_eq!(
            text(&alert["annotations"], "runbook_url"),
            format!("{RUNBOOK_BASE}{}", finding.docs()),
            "{name}"
        );
    }
    for alert in &alerts {
        if let Some(finding) = alert["labels"]["finding"].as_str() {
            assert!(names.contains(finding), "{alert}: no finding {finding}");
        } else {
            assert!(
                !text(alert, "alert").starts_with("DocControllerFinding"),
                "{alert}: a finding's alert without its finding label"
            );
        }
    }
}

#[test]
fn every_alert_says_what_and_links_a_runbook_anchor_that_exists() {
    let findings: BTreeSet<&str> = Finding::ALL.iter().map(|f| f.name()).collect();
    let mut names = BTreeSet::new();
    for alert in alerts() {
        let name = text(&alert, "alert");
        assert!(names.insert(name.to_string()), "{name} twice");
        assert!(name.starts_with("DocController"), "{name}");
        let severity = text(&alert["labels"], "severity");
        assert!(["warning", "critical"].contains(&severity), "{name}");
        let annotations = &alert["annotations"];
        for key in ["summary", "description"] {
            assert!(!text(annotations, key).trim().is_empty(), "{name}: {key}");
        }
        let url = text(annotations, "runbook_url");
        let (file, anchor) = url
            .strip_prefix(RUNBOOK_BASE)
            .and_then(|rest| rest.split_once('#'))
            .unwrap_or_else(|| panic!("{name}: {url} is not {RUNBOOK_BASE}<file>#<anchor>"));
        if file == DIAGNOSIS_DOCS {
            assert!(findings.contains(anchor), "{name}: no finding {anchor}");
            // Written alongside the findings; checked as soon as it is there.
            if let Ok(docs) = std::fs::read_to_string(repo(DIAGNOSIS_DOCS)) {
                assert!(
                    anchors(&docs).contains(anchor),
                    "{name}: {DIAGNOSIS_DOCS} has no heading for #{anchor}"
                );
            }
        } else {
            assert!(
                anchors(&read(file)).contains(anchor),
                "{name}: {file} has no heading for #{anchor}"
            );
        }
    }
}

#[test]
fn every_alert_has_a_promtool_test_where_it_fires_and_a_healthy_target_stays_silent() {
    let tests = yaml("yaml/observability/tests.yaml");
    let tests = tests["tests"].as_array().expect("tests");
    for alert in alerts() {
        let name = text(&alert, "alert");
        let mut fired = false;
        for test in tests {
            let evals: Vec<&Value> = test["alert_rule_test"]
                .as_array()
                .expect("alert_rule_test")
                .iter()
                .filter(|eval| eval["alertname"] == name)
                .collect();
            if evals.is_empty() {
                continue;
            }
            let series = test["input_series"].as_array().expect("input_series");
            assert!(
                series
                    .iter()
                    .any(|s| text(s, "series").contains("pod=\"doc-controller-healthy\"")),
                "{name}: a test without a healthy target"
            );
            for eval in evals {
                for expected in eval["exp_alerts"].as_array().expect("exp_alerts") {
                    fired = true;
                    assert_ne!(
                        expected["exp_labels"]["pod"], "doc-controller-healthy",
                        "{name}: fires on the healthy target"
                    );
                }
            }
        }
        assert!(fired, "{name}: no promtool test where it fires");
    }
}

/// A `doc_controller_*` selector of a PromQL expression: the metric and its label matchers
/// (`label`, `op`, `value`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Selector {
    metric: String,
    matchers: Vec<(String, String, String)>,
}

impl std::fmt::Display for Selector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.metric)?;
        if !self.matchers.is_empty() {
            let matchers: Vec<String> = self
                .matchers
                .iter()
                .map(|(label, op, value)| format!("{label}{op}\"{value}\""))
                .collect();
            write!(f, "{{{}}}", matchers.join(", "))?;
        }
        Ok(())
    }
}

/// The `doc_controller_*` selectors of `expr`, in order.
fn selectors(expr: &str) -> Vec<Selector> {
    let ident = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == ':';
    let mut found = Vec::new();
    let mut rest = expr;
    while let Some(at) = rest.find("doc_controller_") {
        let starts_a_name = rest[..at].chars().next_back().is_none_or(|c| !ident(c));
        let tail = &rest[at..];
        let end = tail.find(|c: char| !ident(c)).unwrap_or(tail.len());
        rest = &tail[end..];
        if !starts_a_name {
            continue;
        }
        let mut selector = Selector {
            metric: tail[..end].to_string(),
            matchers: Vec::new(),
        };
        if let Some(inner) = rest.strip_prefix('{') {
            let close = inner.find('}').expect("a closing brace");
            for matcher in split_matchers(&inner[..close]) {
                let op_at = matcher.find(['=', '!']).expect("an operator");
                let label = matcher[..op_at].trim().to_string();
                let after = &matcher[op_at..];
                let op_len = if after.starts_with("=~")
                    || after.starts_with("!~")
                    || after.starts_with("!=")
                {
                    2
                } else {
                    1
                };
                let value = after[op_len..].trim().trim_matches('"').to_string();
                selector
                    .matchers
                    .push((label, after[..op_len].to_string(), value));
            }
            rest = &inner[close + 1..];
        }
        found.push(selector);
    }
    found
}

/// The comma-separated matchers of a selector's braces (commas inside quotes are values).
fn split_matchers(inner: &str) -> Vec<&str> {
    let (mut parts, mut start, mut quoted) = (Vec::new(), 0, false);
    for (i, c) in inner.char_indices() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => {
                parts.push(&inner[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&inner[start..]);
    parts.into_iter().filter(|p| !p.trim().is_empty()).collect()
}

fn dashboard() -> Value {
    serde_json::from_str(&read("yaml/observability/dashboard.json"))
        .expect("dashboard.json is JSON")
}

/// Every panel of the dashboard, rows' collapsed panels included, rows themselves not.
fn panels(dashboard: &Value) -> Vec<Value> {
    let mut panels = Vec::new();
    for panel in dashboard["panels"].as_array().expect("panels") {
        if panel["type"] == "row" {
            panels.extend(panel["panels"].as_array().into_iter().flatten().cloned());
        } else {
            panels.push(panel.clone());
        }
    }
    panels
}

/// The queries of every panel: (panel title, expr).
fn panel_queries(dashboard: &Value) -> Vec<(String, String)> {
    panels(dashboard)
        .iter()
        .flat_map(|panel| {
            let title = text(panel, "title").to_string();
            panel["targets"]
                .as_array()
                .unwrap_or_else(|| panic!("panel {title} has no targets"))
                .iter()
                .map(move |target| (title.clone(), text(target, "expr").to_string()))
                .collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn the_dashboard_has_its_variables_and_every_panel_reads_the_controllers_metrics() {
    let dashboard = dashboard();
    assert!(dashboard["schemaVersion"].as_u64().expect("schemaVersion") >= 39);
    let variables = dashboard["templating"]["list"]
        .as_array()
        .expect("templating");
    let variable = |name: &str| {
        variables
            .iter()
            .find(|v| v["name"] == name)
            .unwrap_or_else(|| panic!("no variable {name}"))
    };
    assert_eq!(variable("datasource")["type"], "datasource");
    assert_eq!(variable("datasource")["query"], "prometheus");
    for name in ["job", "namespace", "pod"] {
        let v = variable(name);
        assert_eq!(v["type"], "query", "{name}");
        assert_eq!(v["datasource"]["uid"], "${datasource}", "{name}");
        assert!(
            text(v, "definition").starts_with("label_values(doc_controller_"),
            "{name}"
        );
    }
    let mut ids = BTreeSet::new();
    for panel in dashboard["panels"].as_array().expect("panels") {
        assert!(ids.insert(panel["id"].as_u64().expect("an id")), "{panel}");
    }
    for panel in panels(&dashboard) {
        let title = text(&panel, "title");
        assert_eq!(panel["datasource"]["uid"], "${datasource}", "{title}");
        assert!(panel["gridPos"]["w"].as_u64().is_some(), "{title}");
    }
    let queries = panel_queries(&dashboard);
    let mut metrics = BTreeSet::new();
    for (title, expr) in &queries {
        let found = selectors(expr);
        assert!(
            !found.is_empty(),
            "{title}: {expr} reads no controller metric"
        );
        for selector in found {
            for (label, variable) in [
                ("job", "$job"),
                ("namespace", "$namespace"),
                ("pod", "$pod"),
            ] {
                assert!(
                    selector
                        .matchers
                        .contains(&(label.into(), "=~".into(), variable.into())),
                    "{title}: {selector} does not filter {label}=~\"{variable}\""
                );
            }
            metrics.insert(selector.metric);
        }
    }
    // What the issue asks the dashboard to show.
    for metric in [
        "doc_controller_reconcile_total",
        "doc_controller_reconcile_errors_total",
        "doc_controller_reconcile_duration_seconds_bucket",
        "doc_controller_api_requests_total",
        "doc_controller_api_request_duration_seconds_bucket",
        "doc_controller_watch_errors_total",
        "doc_controller_open_watches",
        "doc_controller_reconciles_in_flight",
        "doc_controller_documents",
        "doc_controller_cached_objects",
        "doc_controller_cached_object_bytes",
        "doc_controller_process_resident_memory_bytes",
        "doc_controller_finding_active",
    ] {
        assert!(metrics.contains(metric), "no panel shows {metric}");
    }
}

#[test]
fn selectors_are_read_with_their_matchers() {
    let found = selectors(
        r#"sum without (x) (rate(doc_controller_a_total{code="4,3", verb=~"get|list"}[5m])) / doc_controller_b > 0 and not_doc_controller_c"#,
    );
    let rendered: Vec<String> = found.iter().map(ToString::to_string).collect();
    assert_eq!(
        rendered,
        [
            r#"doc_controller_a_total{code="4,3", verb=~"get|list"}"#,
            "doc_controller_b"
        ]
    );
}

/// The path of `tool` on PATH, or a failure that says how to get it.
fn require(tool: &str) -> PathBuf {
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join(tool))
        .find(|path| path.is_file())
        .unwrap_or_else(|| {
            panic!(
                "{tool} is not on PATH: install Debian's prometheus package \
                 (apt-get install -y prometheus), as .ci/run does"
            )
        })
}

fn promtool(args: &[&str]) {
    let output = std::process::Command::new(require("promtool"))
        .args(args)
        .current_dir(repo("yaml/observability"))
        .output()
        .expect("promtool runs");
    assert!(
        output.status.success(),
        "promtool {}:\n{}{}",
        args.join(" "),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
#[ignore = "needs promtool and prometheus (Debian package prometheus); .ci/run runs them"]
fn promtool_checks_the_rules_and_their_unit_tests_pass() {
    promtool(&["check", "rules", "rules.yaml"]);
    promtool(&["test", "rules", "tests.yaml"]);
}

// region: fault-catalogue
/// A controller running in-process as deployed, with the admin address Prometheus scrapes.
struct Scraped {
    /// The `pod` label its target gets.
    pod: &'static str,
    namespace: String,
    admin: SocketAddr,
    controller: support::Controller,
}

impl Scraped {
    async fn start(env: &Env, ns: &TestNamespace, pod: &'static str, faults: &[Fault]) -> Self {
        let config = Config {
            faults: Faults::new(faults.iter().copied()),
            // Short windows: readiness and findings show within seconds, not tens of them.
            diagnosis: doc_controller::diagnosis::Settings {
                window: Duration::from_secs(2),
                ..Default::default()
            },
            ..Config::default()
        };
        let controller = support::Controller::start(env, ns, config).await;
        Scraped {
            pod,
            namespace: ns.name().to_owned(),
            admin: controller.admin_addr(),
            controller,
        }
    }

    async fn stop(self) {
        let _ = self.controller.stop().await;
    }
}

/// A Prometheus server on loopback, a child process that ends with the test.
struct Prometheus {
    child: tokio::process::Child,
    addr: SocketAddr,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Prometheus {
    /// Starts Prometheus scraping `targets` every second, with the alert rules loaded.
    async fn start(targets: &[&Scraped]) -> Self {
        let binary = require("prometheus");
        let dir = tempfile::tempdir().expect("a temporary directory");
        let static_configs: Vec<String> = targets
            .iter()
            .map(|t| {
                format!(
                    "      - targets: ['{}']\n        labels: {{namespace: '{}', pod: '{}'}}\n",
                    t.admin, t.namespace, t.pod
                )
            })
            .collect();
        let config = format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
             rule_files:\n  - '{}'\n\
             scrape_configs:\n  - job_name: doc-controller\n    static_configs:\n{}",
            repo("yaml/observability/rules.yaml").display(),
            static_configs.concat()
        );
        let config_file = dir.path().join("prometheus.yml");
        std::fs::write(&config_file, config).expect("prometheus.yml written");
        let addr = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free loopback port");
        let log = dir.path().join("prometheus.log");
        let log_file = std::fs::File::create(&log).expect("log file");
        let child = tokio::process::Command::new(binary)
            .arg(format!("--config.file={}", config_file.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address={addr}"))
            .stdin(std::process::Stdio::null())
            .stdout(log_file.try_clone().expect("log file"))
            .stderr(log_file)
            .kill_on_drop(true)
            .spawn()
            .expect("prometheus starts");
        let mut prometheus = Prometheus {
            child,
            addr,
            log,
            _dir: dir,
        };
        prometheus.wait_ready().await;
        prometheus
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    async fn wait_ready(&mut self) {
        let deadline = tokio::time::Instant::now() + support::TIMEOUT;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("prometheus exited ({status}):\n{}", self.log());
            }
            if tokio::net::TcpStream::connect(self.addr).await.is_ok()
                && http_get(self.addr, "/-/ready").await.0 == 200
            {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "prometheus not ready:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// `GET /api/v1/<path>?<query>`'s `data`, or why not.
    async fn api(&self, path: &str, query: &[(&str, &str)]) -> Result<Value, String> {
        let query: Vec<String> = query
            .iter()
            .map(|(k, v)| format!("{k}={}", encode(v)))
            .collect();
        let (code, body) =
            http_get(self.addr, &format!("/api/v1/{path}?{}", query.join("&"))).await;
        let body: Value = serde_json::from_str(&body).map_err(|e| format!("{code} {e}: {body}"))?;
        if body["status"] != "success" {
            return Err(format!("{code}: {body}"));
        }
        Ok(body["data"].clone())
    }

    /// The series an instant query returns.
    async fn query(&self, expr: &str) -> Result<Vec<Value>, String> {
        let data = self.api("query", &[("query", expr)]).await?;
        Ok(data["result"].as_array().cloned().unwrap_or_default())
    }
}

/// Percent-encodes a query parameter.
fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A series' value, if it is a finite number.
fn finite(series: &Value) -> Option<f64> {
    series["value"][1]
        .as_str()
        .and_then(|v| v.parse::<f64>().ok())
        .filter(|v| v.is_finite())
}

/// Alert selectors whose label values only a failure outside this test shows (the API server
/// answering 401, 429, 403 on a watch, or not at all): their metric and label names are checked,
/// not that the values occur.
const ONLY_A_FAILURE_SHOWS: &[(&str, &str, &str)] = &[
    ("doc_controller_api_requests_total", "code", "401"),
    ("doc_controller_api_requests_total", "code", "429"),
    ("doc_controller_api_requests_total", "code", "timeout|error"),
    ("doc_controller_api_requests_total", "verb", "list|watch"),
];

/// What one round of checks found missing, empty on success.
async fn missing_data(
    prometheus: &Prometheus,
    panels: &[(String, String)],
    variables: &[(String, String)],
    alert_selectors: &BTreeSet<Selector>,
    rules: usize,
) -> Vec<String> {
    let mut missing = Vec::new();
    // Every query returns series; every panel shows a number (a ratio of two idle rates is NaN,
    // and is shown as no value, so one finite value per panel is what "not empty" means).
    let mut shown = std::collections::BTreeMap::<&str, bool>::new();
    for (title, expr) in panels {
        match prometheus.query(expr).await {
            Ok(series) if !series.is_empty() => {
                *shown.entry(title).or_default() |= series.iter().any(|s| finite(s).is_some());
            }
            Ok(_) => missing.push(format!("panel {title:?}: {expr} returns nothing")),
            Err(e) => missing.push(format!("panel {title:?}: {expr} -> {e}")),
        }
    }
    for (title, _) in shown.iter().filter(|(_, shown)| !**shown) {
        missing.push(format!("panel {title:?} shows no number"));
    }
    for (label, matcher) in variables {
        match prometheus
            .api(&format!("label/{label}/values"), &[("match[]", matcher)])
            .await
        {
            Ok(values) if values.as_array().is_some_and(|v| !v.is_empty()) => {}
            other => missing.push(format!("variable {label} of {matcher}: {other:?}")),
        }
    }
    for selector in alert_selectors {
        let mut checks = vec![selector.metric.clone()];
        for (label, _, _) in &selector.matchers {
            checks.push(format!("{}{{{label}!=\"\"}}", selector.metric));
        }
        let only_a_failure = selector.matchers.iter().any(|(label, _, value)| {
            ONLY_A_FAILURE_SHOWS.contains(&(
                selector.metric.as_str(),
                label.as_str(),
                value.as_str(),
            ))
        });
        if !only_a_failure {
            checks.push(selector.to_string());
        }
        for check in checks {
            match prometheus.query(&check).await {
                Ok(series) if !series.is_empty() => {}
                other => missing.push(format!("alert selector {check}: {other:?}")),
            }
        }
    }
    match prometheus.api("rules", &[("type", "alert")]).await {
        Ok(data) => {
            let evaluated: Vec<&Value> = data["groups"]
                .as_array()
                .into_iter()
                .flatten()
                .flat_map(|g| g["rules"].as_array().into_iter().flatten())
                .collect();
            if evaluated.len() != rules {
                missing.push(format!("{} rules loaded of {rules}", evaluated.len()));
            }
            for rule in evaluated {
                if rule["health"] != "ok" {
                    missing.push(format!(
                        "rule {} health {} {}",
                        rule["name"], rule["health"], rule["lastError"]
                    ));
                }
            }
        }
        Err(e) => missing.push(format!("rules: {e}")),
    }
    missing
}

/// The alert names active (pending or firing) for a target.
async fn active_alerts(prometheus: &Prometheus, pod: &str) -> BTreeSet<String> {
    prometheus
        .query(&format!("ALERTS{{pod=\"{pod}\"}}"))
        .await
        .unwrap_or_default()
        .iter()
        .filter_map(|s| s["metric"]["alertname"].as_str().map(str::to_string))
        .collect()
}

#[tokio::test]
#[ignore = "needs promtool and prometheus (Debian package prometheus); .ci/run runs them"]
async fn every_panel_variable_and_alert_selector_has_data_on_a_prometheus_scraping_the_controller()
{
    // Fail at once, before anything starts, when the server is missing.
    require("prometheus");
    let env = Env::new().await;
    let (healthy_ns, faulty_ns) = (env.namespace().await, env.namespace().await);
    let healthy = Scraped::start(&env, &healthy_ns, "doc-controller-healthy", &[]).await;
    // Errors and a finding for the error panels: statuses the RBAC forbids (write-forbidden,
    // reconcile errors) and GETs of cached ConfigMaps (excessive-api-calls).
    let faulty_toggles = [Fault::ForbiddenPatch, Fault::DirectReads];
    let faulty = Scraped::start(&env, &faulty_ns, "doc-controller-faulty", &faulty_toggles).await;
    for ns in [&healthy_ns, &faulty_ns] {
        let docs = kube::Api::namespaced(env.client.clone(), ns.name());
        for name in ["ada", "grace", "linus"] {
            create(&docs, &doc(name, &format!("About {name}"), "hello")).await;
        }
    }
    let docs = kube::Api::namespaced(env.client.clone(), healthy_ns.name());
    support::wait_for(&docs, "ada", support::ready_as("Published")).await;

    let prometheus = Prometheus::start(&[&healthy, &faulty]).await;

    let dashboard = dashboard();
    let namespaces = format!("{}|{}", healthy_ns.name(), faulty_ns.name());
    let pods = format!("{}|{}", healthy.pod, faulty.pod);
    let substitute = |expr: &str| {
        expr.replace("$__rate_interval", "1m")
            .replace("$__interval", "15s")
            .replace("$__range", "5m")
            .replace("$job", "doc-controller")
            .replace("$namespace", &namespaces)
            .replace("$pod", &pods)
    };
    let panels: Vec<(String, String)> = panel_queries(&dashboard)
        .into_iter()
        .map(|(title, expr)| (title, substitute(&expr)))
        .collect();
    let variables: Vec<(String, String)> = dashboard["templating"]["list"]
        .as_array()
        .expect("templating")
        .iter()
        .filter(|v| v["type"] == "query")
        .map(|v| {
            let definition = substitute(text(v, "definition"));
            let (matcher, label) = definition
                .strip_prefix("label_values(")
                .and_then(|d| d.strip_suffix(')'))
                .and_then(|d| d.rsplit_once(','))
                .expect("label_values(<selector>, <label>)");
            (label.trim().to_string(), matcher.trim().to_string())
        })
        .collect();
    let alerts = alerts();
    let alert_selectors: BTreeSet<Selector> = alerts
        .iter()
        .flat_map(|a| selectors(text(a, "expr")))
        .collect();
    for (metric, label, value) in ONLY_A_FAILURE_SHOWS {
        assert!(
            alert_selectors.iter().any(|s| s.metric == *metric
                && s.matchers.iter().any(|(l, _, v)| l == label && v == value)),
            "ONLY_A_FAILURE_SHOWS names {metric}{{{label}={value:?}}}, no alert reads it"
        );
    }
    // What the toggles of the faulty controller raise, and what a healthy one must not.
    let expected_active: BTreeSet<String> = [
        "DocControllerFindingWriteForbidden",
        "DocControllerFindingExcessiveApiCalls",
        "DocControllerReconcileErrors",
    ]
    .map(String::from)
    .into();

    // Wait until every condition holds at once, with the last round's failures if they never do.
    let started = tokio::time::Instant::now();
    let deadline = started + Duration::from_secs(120);
    loop {
        let mut missing = missing_data(
            &prometheus,
            &panels,
            &variables,
            &alert_selectors,
            alerts.len(),
        )
        .await;
        let faulty_active = active_alerts(&prometheus, faulty.pod).await;
        for name in expected_active.difference(&faulty_active) {
            missing.push(format!("{name} not active for {}", faulty.pod));
        }
        let healthy_active = active_alerts(&prometheus, healthy.pod).await;
        if !healthy_active.is_empty() {
            missing.push(format!("active for {}: {healthy_active:?}", healthy.pod));
        }
        if missing.is_empty() {
            eprintln!("every check held after {:?}", started.elapsed());
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "after 120 s:\n{}\nprometheus log:\n{}",
            missing.join("\n"),
            prometheus.log()
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    healthy.stop().await;
    faulty.stop().await;
}
// endregion: fault-catalogue
