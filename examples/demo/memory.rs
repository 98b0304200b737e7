//! Memory and API load: keep-managed-fields, unpaged-initial-list, broad-watch-scope,
//! direct-reads, store-not-ready, unbounded-concurrency.

use crate::harness::{Child, Demo, Logs, Res};
use crate::loops::{live_off, live_on, off, on};
use crate::table::{DocState, Probe, Table, idle, sum_metric};
use crate::{intro, note, outro, phase};
use doc_controller::fault::Fault;
use doc_controller::{Document, DocumentSpec};
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::json;
use std::time::Duration;

const RECONCILES: Probe = Probe::Count("reconciles", "doc_controller_reconcile_total", &[]);

/// How many heavy Documents the memory demos create, and the size of the annotation each one
/// carries.
const HEAVY_DOCS: usize = 200;
const HEAVY_BYTES: usize = 80 * 1024;

/// Documents as `kubectl apply` (client-side) leaves them: with the whole object again in the
/// `kubectl.kubernetes.io/last-applied-configuration` annotation, here padded to `HEAVY_BYTES`.
/// Then publishes them with a healthy controller, so both phases start from the same state.
async fn heavy_documents(demo: &Demo) -> Res {
    let padding = "x".repeat(HEAVY_BYTES);
    let heavy = |i: usize| {
        let mut doc = Document::new(
            &format!("heavy-{i}"),
            DocumentSpec {
                title: format!("Heavy {i}"),
                content: "small content, big annotation".into(),
                hide: false,
            },
        );
        doc.metadata.annotations = Some(
            [(
                "kubectl.kubernetes.io/last-applied-configuration".to_string(),
                format!("{{\"spec\":{{\"content\":\"{padding}\"}}}}"),
            )]
            .into(),
        );
        doc
    };
    publish(
        demo,
        HEAVY_DOCS,
        heavy,
        &format!(
            "{HEAVY_DOCS} Documents with a {} KiB last-applied-configuration annotation each",
            HEAVY_BYTES / 1024
        ),
    )
    .await
}

/// Creates `n` Documents made by `make` and publishes them with a healthy controller (as
/// deployed), so that both phases of a demo start from the same state.
async fn publish(demo: &Demo, n: usize, make: impl Fn(usize) -> Document, what: &str) -> Res {
    let started = std::time::Instant::now();
    futures::stream::iter(0..n)
        .map(|i| {
            let doc = make(i);
            let docs = demo.docs.clone();
            async move { docs.create(&PostParams::default(), &doc).await.map(|_| ()) }
        })
        .buffer_unordered(8)
        .try_collect::<Vec<()>>()
        .await?;
    let created = started.elapsed();
    // Setup, not the demonstration: as many reconciles at once as the sandbox takes.
    let warm = doc_controller::Config {
        concurrency: 64,
        ..Demo::config(&[])
    };
    let warm = demo.controller(warm).await?;
    demo.wait_all_ready(Duration::from_secs(180)).await?;
    warm.stop().await?;
    crate::para(
        "setup",
        &format!(
            "{what}: created in {} s, published by a healthy controller in {} s more",
            created.as_secs(),
            (started.elapsed() - created).as_secs()
        ),
    );
    Ok(())
}

fn memory_probes() -> [Probe; 4] {
    [
        Probe::Gauge(
            "cached documents",
            "doc_controller_cached_objects",
            &["store=\"documents\""],
        ),
        Probe::Mib(
            "resident memory",
            "doc_controller_process_resident_memory_bytes",
            &[],
        ),
        Probe::Count(
            "LIST documents",
            "doc_controller_api_requests_total",
            &["verb=\"list\"", "resource=\"documents\""],
        ),
        Probe::Count(
            "LIST configmaps",
            "doc_controller_api_requests_total",
            &["verb=\"list\"", "resource=\"configmaps\""],
        ),
    ]
}

/// Runs the binary with `args` for `secs` under a table of `probes`, then stops it (SIGTERM).
async fn child_phase(
    demo: &Demo,
    args: &[&str],
    probes: &[Probe],
    secs: u64,
) -> Res<(f64, Option<f64>)> {
    let child = Child::spawn(demo, args).await?;
    Table::new(probes, demo)
        .run(&child.target, Duration::from_secs(secs), idle)
        .await?;
    let text = crate::table::http_get(child.target.admin, "/metrics")
        .await
        .map(|(_, body)| body)
        .unwrap_or_default();
    let mib = |bytes: f64| bytes / 1_048_576.0;
    let rss = mib(sum_metric(
        &text,
        "doc_controller_process_resident_memory_bytes",
        &[],
    ));
    let cached = text
        .contains("doc_controller_cached_object_bytes")
        .then(|| {
            mib(sum_metric(
                &text,
                "doc_controller_cached_object_bytes",
                &["store=\"documents\""],
            ))
        });
    let code = child.stop().await?;
    note(&format!(
        "controller process stopped with SIGTERM, exit code {}",
        code.map_or("none (killed)".into(), |c| c.to_string())
    ));
    Ok((rss, cached))
}

/// The demo of `keep-managed-fields`.
pub async fn keep_managed_fields(logs: &Logs) -> Res {
    let fault = Fault::KeepManagedFields;
    intro(
        fault,
        "Documents carrying a big last-applied-configuration annotation (and managedFields). \
         The controller runs as the doc-controller binary, a child process, so that its resident \
         memory is its own (the sandbox lives in this process). Watch resident memory once the \
         cache holds every Document.",
    );
    let demo = Demo::start(logs, fault, true).await?;
    heavy_documents(&demo).await?;
    let [cached, rss, ..] = memory_probes();
    let probes = [
        cached,
        Probe::Mib(
            "cached document bytes",
            "doc_controller_cached_object_bytes",
            &["store=\"documents\""],
        ),
        rss,
    ];

    phase(
        "phase 1: fault ON",
        "doc-controller --fault keep-managed-fields (a child process, as deployed; a \
         restart-only toggle: it shapes the watch at start).",
    );
    let (on_rss, on_cached) = child_phase(&demo, &["--fault", fault.name()], &probes, 12).await?;

    phase(
        "phase 2: fault OFF",
        "a new doc-controller process without the toggle, same sandbox, same Documents.",
    );
    let (off_rss, off_cached) = child_phase(&demo, &[], &probes, 12).await?;
    if let (Some(on), Some(off)) = (on_cached, off_cached) {
        note(&format!(
            "the Document Store held {on:.1} MiB with the toggle, {off:.1} MiB without: \
             annotations and managedFields the controller never reads."
        ));
    }
    note(&format!(
        "resident memory with the toggle {on_rss:.1} MiB, without {off_rss:.1} MiB."
    ));
    outro(fault);
    Ok(())
}

/// How many Documents `unpaged-initial-list` lists: four of kube's default pages (500).
const MANY_DOCS: usize = 2_000;

/// The content of each of them, so that one response of all of them weighs megabytes.
const MANY_BYTES: usize = 4 * 1024;

/// The URLs (path and query) of the controller's GETs of Documents, from the `requesting` lines
/// kube's client logs at debug (`RUST_LOG=kube_client=debug`), in order.
fn document_requests(logs: &Logs) -> Vec<String> {
    logs.matching(&["requesting", "http.method=GET", "/documents?"])
        .iter()
        .filter_map(|line| {
            let url = line.split("http.url=").nth(1)?.split_whitespace().next()?;
            let url = url.trim_end_matches('}');
            // The resource and its query; the deadline of a watch is left out as noise.
            let (path, query) = url.split_once('?').unwrap_or((url, ""));
            let resource = path.rsplit('/').next().unwrap_or(path);
            let query: Vec<&str> = query
                .split('&')
                .filter(|p| !p.is_empty() && !p.starts_with("timeoutSeconds="))
                .collect();
            Some(format!("…/{resource}?{}", query.join("&")))
        })
        .collect()
}

/// What a Document request is, by its shape.
fn request_shape(url: &str) -> &'static str {
    if url.contains("watch=true") && url.contains("sendInitialEvents=true") {
        "a streaming list: a WATCH that sends the existing objects one by one, then a bookmark"
    } else if url.contains("watch=true") {
        "a WATCH from the LIST's resourceVersion"
    } else if url.split(['?', '&']).any(|p| p == "limit=1") {
        "the preflight's LIST (limit 1)"
    } else if url.contains("limit=") {
        "a LIST, one page"
    } else {
        "a LIST with no limit: every Document in one response, held in memory at once"
    }
}

/// Runs the binary with `args` and the HTTP debug log for `secs` under a table of `probes`,
/// prints its requests for Documents, then stops it; returns its peak resident memory in MiB.
async fn logged_phase(demo: &Demo, args: &[&str], probes: &[Probe], secs: u64) -> Res<f64> {
    let child = Child::spawn_with(demo, args, "info,kube=warn,kube_client=debug").await?;
    Table::new(probes, demo)
        .run(&child.target, Duration::from_secs(secs), idle)
        .await?;
    let peak = child.target.pid.and_then(peak_rss).unwrap_or_default() / 1_048_576.0;
    note("its GETs of Documents, from its `requesting` log lines (kube_client=debug):");
    for url in document_requests(&child.target.logs).iter().take(4) {
        println!("            GET {url}");
        println!("                ↳ {}", request_shape(url));
    }
    let code = child.stop().await?;
    note(&format!(
        "controller process stopped with SIGTERM, exit code {}",
        code.map_or("none (killed)".into(), |c| c.to_string())
    ));
    Ok(peak)
}

/// The peak resident memory of process `pid` in bytes (`VmHWM` of `/proc/<pid>/status`; Linux).
pub fn peak_rss(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024.0)
}

/// The demo of `unpaged-initial-list`.
pub async fn unpaged_initial_list(logs: &Logs) -> Res {
    let fault = Fault::UnpagedInitialList;
    intro(
        fault,
        &format!(
            "{MANY_DOCS} Documents of {} KiB each (four of kube's default pages of 500). The \
             controller runs as the doc-controller binary (a child process, so that its memory is \
             its own) with RUST_LOG=info,kube_client=debug, which logs a `requesting` line per \
             request: the demo prints its GETs of Documents. Watch LIST documents (the \
             preflight's is the 1 both phases share) and resident memory, now and at its peak \
             (VmHWM).",
            MANY_BYTES / 1024
        ),
    );
    let demo = Demo::start(logs, fault, true).await?;
    let content = "x".repeat(MANY_BYTES);
    let many = |i: usize| {
        Document::new(
            &format!("many-{i}"),
            DocumentSpec {
                title: format!("Many {i}"),
                content: content.clone(),
                hide: false,
            },
        )
    };
    publish(
        &demo,
        MANY_DOCS,
        many,
        &format!("{MANY_DOCS} Documents of {} KiB", MANY_BYTES / 1024),
    )
    .await?;
    let [cached, rss, list, _] = memory_probes();
    let probes = [cached, list, rss, Probe::PeakMib("peak memory (VmHWM)")];

    phase(
        "phase 1: fault ON",
        "doc-controller --fault unpaged-initial-list (a child process, as deployed; a \
         restart-only toggle: it shapes the watch at start).",
    );
    let on_peak = logged_phase(&demo, &["--fault", fault.name()], &probes, 12).await?;
    note(
        "LIST documents 2: the preflight and one LIST of everything without a limit, the whole \
         response in memory at once.",
    );

    phase(
        "phase 2: fault OFF",
        "a new doc-controller process without the toggle: a streaming list.",
    );
    let off_peak = logged_phase(&demo, &[], &probes, 12).await?;
    note(&format!(
        "only the preflight's LIST; the Documents arrive one by one over the watch. Peak \
         resident memory {on_peak:.1} MiB with the toggle, {off_peak:.1} MiB without: the one \
         big response of the unpaged LIST stays in the process's high-water mark."
    ));
    outro(fault);
    Ok(())
}

/// The demo of `broad-watch-scope`.
pub async fn broad_watch_scope(logs: &Logs) -> Res {
    let fault = Fault::BroadWatchScope;
    intro(
        fault,
        "3 Documents, and 300 ConfigMaps of another team in namespace other-team, 20 of which \
         change every 2 s. Watch the ConfigMap cache and the ConfigMap watch events.",
    );
    let demo = Demo::start(logs, fault, true).await?;
    demo.create_docs("scoped", 3).await?;
    let namespaces: Api<Namespace> = Api::all(demo.client.clone());
    namespaces
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({ "metadata": { "name": "other-team" } }))?,
        )
        .await?;
    let cms: Api<ConfigMap> = Api::namespaced(demo.client.clone(), "other-team");
    futures::stream::iter(0..300)
        .map(|i| {
            let cms = cms.clone();
            async move {
                let cm: ConfigMap = serde_json::from_value(json!({
                    "metadata": { "name": format!("settings-{i}") },
                    "data": { "key": "value" }
                }))?;
                cms.create(&PostParams::default(), &cm).await?;
                Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
            }
        })
        .buffer_unordered(8)
        .try_collect::<Vec<()>>()
        .await?;
    let probes = [
        Probe::Gauge(
            "cached configmaps",
            "doc_controller_cached_objects",
            &["store=\"configmaps\""],
        ),
        Probe::Gauge(
            "cached documents",
            "doc_controller_cached_objects",
            &["store=\"documents\""],
        ),
        Probe::Count(
            "configmap watch events",
            "doc_controller_watch_events_total",
            &["resource=\"configmaps\""],
        ),
    ];
    let churn = |tick: u32| {
        let cms = cms.clone();
        async move {
            for i in 0..20 {
                cms.patch(
                    &format!("settings-{}", (tick as usize * 20 + i) % 300),
                    &PatchParams::default(),
                    &Patch::Merge(json!({ "data": { "key": format!("value {tick}") } })),
                )
                .await?;
            }
            Ok(())
        }
    };

    on(&[fault], "");
    let c = demo.controller(Demo::config(&[fault])).await?;
    Table::new(&probes, &demo)
        .run(&c.target, Duration::from_secs(10), churn)
        .await?;
    note(
        "every ConfigMap of the cluster is cached (3 published + the index + 300 unrelated), and \
         each change of the other team's ConfigMaps reaches the controller: +20 events a tick.",
    );
    c.stop().await?;

    off("");
    let c = demo.controller(Demo::config(&[])).await?;
    Table::new(&probes, &demo)
        .run(&c.target, Duration::from_secs(8), churn)
        .await?;
    note(
        "only the ConfigMaps labelled app.kubernetes.io/managed-by=doc-controller: 3 + the index.",
    );
    c.stop().await?;
    outro(fault);
    Ok(())
}

/// The demo of `direct-reads`.
pub async fn direct_reads(logs: &Logs) -> Res {
    let fault = Fault::DirectReads;
    intro(
        fault,
        "5 Documents, resynced every 5 s (--resync-period 5s), so reconciles keep coming. \
         Watch GET configmaps per reconcile: the GETs are granted by \
         yaml/faults/direct-reads.yaml (the shipped RBAC has no get on ConfigMaps, and without \
         it the toggle shows a 403 instead).",
    );
    let demo = Demo::start(logs, fault, true).await?;
    demo.create_docs("reader", 5).await?;
    let probes = [
        RECONCILES,
        Probe::Count(
            "GET configmaps",
            "doc_controller_api_requests_total",
            &["verb=\"get\"", "resource=\"configmaps\""],
        ),
        Probe::Ratio(
            "GETs/reconcile",
            (
                "doc_controller_api_requests_total",
                &["verb=\"get\"", "resource=\"configmaps\""],
            ),
            ("doc_controller_reconcile_total", &[]),
        ),
        Probe::Count("all API requests", "doc_controller_api_requests_total", &[]),
    ];
    let config = |faults: &[Fault]| doc_controller::Config {
        resync_period: Duration::from_secs(5),
        ..Demo::config(faults)
    };

    let c = demo.controller(config(&[])).await?;
    demo.wait_all_ready(Duration::from_secs(10)).await?;
    live_on(&[fault], "");
    demo.set_live(&c.target, &[fault]).await?;
    Table::new(&probes, &demo)
        .run(&c.target, Duration::from_secs(12), idle)
        .await?;
    note(
        "GETs at once (the switch reconciles every Document), then on every resync: the \
         published ConfigMap and the index, objects the watch already delivered to the Store.",
    );

    live_off("Same 5 s resync.");
    demo.set_live(&c.target, &[]).await?;
    Table::new(&probes, &demo)
        .run(&c.target, Duration::from_secs(10), idle)
        .await?;
    note("the same reconciles read the Store: 0 GETs; a quiet cluster costs 0 API requests.");
    c.stop().await?;
    outro(fault);
    Ok(())
}

/// The demo of `watch-per-object`.
pub async fn watch_per_object(logs: &Logs) -> Res {
    let fault = Fault::WatchPerObject;
    intro(
        fault,
        "30 Documents. Watch the controller's WATCH requests on ConfigMaps and the watches the \
         API server holds open (sandbox_apiserver_open_watches, from the sandbox's own /metrics).",
    );
    let demo = Demo::start(logs, fault, true).await?;
    demo.create_docs("watched", 30).await?;
    let probes = [
        Probe::Count(
            "WATCH configmaps",
            "doc_controller_api_requests_total",
            &["verb=\"watch\"", "resource=\"configmaps\""],
        ),
        Probe::Server(
            "open watches (server)",
            "sandbox_apiserver_open_watches",
            Vec::new(),
        ),
        Probe::Docs("ready", DocState::Current),
    ];

    on(&[fault], "");
    let c = demo.controller(Demo::config(&[fault])).await?;
    Table::new(&probes, &demo)
        .run(&c.target, Duration::from_secs(10), idle)
        .await?;
    note(
        "a watch connection per Document's ConfigMap: it grows with the number of Documents, \
         and on a throttling API server each one counts against the controller's share.",
    );
    c.stop().await?;

    off("");
    let c = demo.controller(Demo::config(&[])).await?;
    Table::new(&probes, &demo)
        .run(&c.target, Duration::from_secs(8), idle)
        .await?;
    note(
        "one shared ConfigMap watch for all owned objects (plus the one of the live toggles' \
         ConfigMap), whatever the number of Documents.",
    );
    c.stop().await?;
    outro(fault);
    Ok(())
}

/// The demo of `store-not-ready`.
pub async fn store_not_ready(logs: &Logs) -> Res {
    let fault = Fault::StoreNotReady;
    intro(
        fault,
        "5 published Documents. The sandbox delays the controller's LIST and WATCH of \
         ConfigMaps by 3 s (server fault latency, for its ServiceAccount only), so after a \
         restart the Document cache fills before the ConfigMap cache. Watch the ConfigMap \
         applies right after each restart.",
    );
    let demo = Demo::start(logs, fault, true).await?;
    demo.create_docs("racy", 5).await?;
    let warm = demo.controller(Demo::config(&[])).await?;
    demo.wait_all_ready(Duration::from_secs(10)).await?;
    warm.stop().await?;
    demo.server_fault(json!({
        "type": "latency", "millis": 3000,
        "verbs": ["list", "watch"], "resources": ["configmaps"], "user": Demo::user()
    }))
    .await?;
    println!(
        "sandbox   server fault: latency 3000 ms on list/watch configmaps for {}",
        Demo::user()
    );
    let probes = [
        RECONCILES,
        Probe::Gauge(
            "cached configmaps",
            "doc_controller_cached_objects",
            &["store=\"configmaps\""],
        ),
        Probe::Count(
            "apply configmaps",
            "doc_controller_api_requests_total",
            &["verb=\"apply\"", "resource=\"configmaps\""],
        ),
        Probe::Readyz("/readyz"),
    ];

    on(
        &[fault],
        "store-not-ready is a live toggle, but its symptom shows only right after a start (the \
         only time the ConfigMap cache is empty), so this demo restarts the controller with it \
         set.",
    );
    let c = demo.controller(Demo::config(&[fault])).await?;
    Table::new(&probes, &demo)
        .run(&c.target, Duration::from_secs(8), idle)
        .await?;
    note(
        "reconciles ran on an empty ConfigMap cache, took every published ConfigMap for missing \
         and applied all of them again.",
    );
    c.stop().await?;

    off("The ConfigMap latency is still on.");
    let c = demo.controller(Demo::config(&[])).await?;
    Table::new(&probes, &demo)
        .run(&c.target, Duration::from_secs(8), idle)
        .await?;
    note(
        "reconciles waited for the ConfigMap cache's initial list: 0 applies, the cache says \
         they are up to date.",
    );
    c.stop().await?;
    demo.clear_server_faults().await?;
    outro(fault);
    Ok(())
}

/// The name of the priority level of yaml/throttling.yaml, from the file.
fn throttled_level() -> Res<String> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("yaml/throttling.yaml");
    let text = std::fs::read_to_string(&path)?;
    let objects: Vec<serde_json::Value> = serde_saphyr::from_multiple(&text)?;
    objects
        .iter()
        .find(|obj| obj["kind"] == "PriorityLevelConfiguration")
        .and_then(|obj| obj["metadata"]["name"].as_str())
        .map(str::to_string)
        .ok_or_else(|| "no PriorityLevelConfiguration in yaml/throttling.yaml".into())
}

/// The demo of `unbounded-concurrency`.
pub async fn unbounded_concurrency(logs: &Logs) -> Res {
    let fault = Fault::UnboundedConcurrency;
    const DOCS: usize = 100;
    const LATENCY: Duration = Duration::from_millis(20);
    intro(
        fault,
        &format!(
            "{DOCS} Documents waiting for a controller. yaml/throttling.yaml gives the \
             controller's ServiceAccount a small share of the API server through API Priority \
             and Fairness (8 seats; Reject: what does not fit is answered 429 with \
             Retry-After), as a busy cluster does; the sandbox enforces it like a real server. A \
             real server takes milliseconds per request, so a burst overlaps there by itself; \
             the sandbox answers in microseconds and is given {} ms per request of the \
             controller's user (server fault latency). Watch 429s on both sides.",
            LATENCY.as_millis()
        ),
    );
    let demo = Demo::start(logs, fault, true).await?;
    demo.sandbox
        .faults()
        .set(kube_apiserver_sandbox::Fault::latency(LATENCY).for_user(Demo::user()));
    println!(
        "sandbox   server fault: latency {} ms for {}",
        LATENCY.as_millis(),
        Demo::user()
    );
    demo.create_docs("crowd", DOCS).await?;
    let level = format!("priority_level=\"{}\"", throttled_level()?);
    let probes = [
        RECONCILES,
        Probe::Server(
            "429s sent (server)",
            "apiserver_flowcontrol_rejected_requests_total",
            vec![level],
        ),
        Probe::Count(
            "429s seen (controller)",
            "doc_controller_api_requests_total",
            &["code=\"429\""],
        ),
        Probe::Gauge("in flight", "doc_controller_reconciles_in_flight", &[]),
        Probe::Docs("ready+current", DocState::Current),
    ];

    on(
        &[fault],
        "All Documents are there at start: the initial list makes every one ready at once, as \
         after a restart.",
    );
    let c = demo.controller(Demo::config(&[fault])).await?;
    Table::new(&probes, &demo)
        .run(&c.target, Duration::from_secs(14), idle)
        .await?;
    note(
        "every Document reconciled at once: far more requests than the share's seats, and the \
         API server rejects what does not fit with 429 and a Retry-After \
         (apiserver_flowcontrol_rejected_requests_total, as `kubectl get --raw /metrics` shows \
         it). kube's client retries each after its Retry-After, and the controller counts every \
         attempt; the Documents trickle in.",
    );
    c.stop().await?;

    // Give the OFF phase the same amount of work: a new generation of every Document.
    futures::stream::iter(0..DOCS)
        .map(|i| {
            let docs = demo.docs.clone();
            async move {
                docs.patch(
                    &format!("crowd-{i}"),
                    &PatchParams::default(),
                    &Patch::Merge(json!({ "spec": { "content": "second edition" } })),
                )
                .await
                .map(|_| ())
            }
        })
        .buffer_unordered(8)
        .try_collect::<Vec<()>>()
        .await?;
    off(
        "--concurrency 4, sized to the share (8 seats: 4 reconciles, the index writer, the \
         watches); every Document was edited meanwhile, so all need work again.",
    );
    let config = doc_controller::Config {
        concurrency: 4,
        ..Demo::config(&[])
    };
    let c = demo.controller(config).await?;
    Table::new(&probes, &demo)
        .run(&c.target, Duration::from_secs(12), idle)
        .await?;
    note(
        "at most 4 reconciles at a time stay inside the share: no new 429s, and the same amount \
         of work done sooner.",
    );
    c.stop().await?;
    demo.clear_server_faults().await?;
    outro(fault);
    Ok(())
}
