//! Memory and API load: keep-managed-fields, unpaged-initial-list, broad-watch-scope,
//! direct-reads, store-not-ready, unbounded-concurrency.

use crate::harness::{Child, Demo, Logs, NS, Res};
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
    let started = std::time::Instant::now();
    let padding = "x".repeat(HEAVY_BYTES);
    futures::stream::iter(0..HEAVY_DOCS)
        .map(|i| {
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
            let docs = demo.docs.clone();
            async move { docs.create(&PostParams::default(), &doc).await.map(|_| ()) }
        })
        .buffer_unordered(8)
        .try_collect::<Vec<()>>()
        .await?;
    let warm = demo.controller(Demo::config(&[])).await?;
    demo.wait_all_ready(Duration::from_secs(60)).await?;
    warm.stop().await?;
    println!(
        "setup     {HEAVY_DOCS} Documents with a {} KiB last-applied-configuration annotation \
         each, published by a healthy controller ({} s)",
        HEAVY_BYTES / 1024,
        started.elapsed().as_secs()
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
    let demo = Demo::start(logs, true).await?;
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
        "doc-controller --fault keep-managed-fields (a child process; toggles switch at start \
         only).",
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

/// The demo of `unpaged-initial-list`.
pub async fn unpaged_initial_list(logs: &Logs) -> Res {
    let fault = Fault::UnpagedInitialList;
    intro(
        fault,
        "the same heavy Documents; the controller runs as the doc-controller binary (a child \
         process) so its memory is its own. Watch the LIST requests (the preflight's LIST is the \
         1 both phases share) and resident memory after the initial list.",
    );
    let demo = Demo::start(logs, true).await?;
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
        "doc-controller --fault unpaged-initial-list (a child process).",
    );
    let (on_rss, _) = child_phase(&demo, &["--fault", fault.name()], &probes, 12).await?;
    note(
        "LIST documents 2: the preflight and one LIST of everything, the whole response in \
         memory at once (plus LIST configmaps 1).",
    );

    phase(
        "phase 2: fault OFF",
        "a new doc-controller process without the toggle: streaming lists.",
    );
    let (off_rss, _) = child_phase(&demo, &[], &probes, 12).await?;
    note(&format!(
        "only the preflight's LIST; objects arrive one by one over the watch. Resident memory \
         {on_rss:.1} MiB with the toggle, {off_rss:.1} MiB without (the peak of one big response \
         stays in the allocator's high-water mark)."
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
    let demo = Demo::start(logs, true).await?;
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
        "5 Documents requeued every 2 s (--resync-period 2s), so reconciles keep coming. Watch \
         GET configmaps per reconcile.",
    );
    let demo = Demo::start(logs, true).await?;
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
        resync_period: Duration::from_secs(2),
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
        "GETs on every reconcile (the published ConfigMap and the index) for objects the watch \
         already delivered to the Store.",
    );

    live_off("Same 2 s requeue.");
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
    let demo = Demo::start(logs, true).await?;
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
            &[],
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
        "5 published Documents. The sandbox delays LIST and WATCH of ConfigMaps by 3 s (server \
         fault latency), so after a restart the Document cache fills before the ConfigMap cache. \
         Watch the ConfigMap applies right after each restart.",
    );
    let demo = Demo::start(logs, true).await?;
    demo.create_docs("racy", 5).await?;
    let warm = demo.controller(Demo::config(&[])).await?;
    demo.wait_all_ready(Duration::from_secs(10)).await?;
    warm.stop().await?;
    demo.server_fault(json!({
        "type": "latency", "millis": 3000,
        "verbs": ["list", "watch"], "resources": ["configmaps"]
    }))
    .await?;
    println!("sandbox   server fault: latency 3000 ms on list/watch configmaps");
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
        "store-not-ready is a live toggle, but its symptom shows only right after a start, so \
         this demo restarts the controller.",
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

/// The demo of `unbounded-concurrency`.
pub async fn unbounded_concurrency(logs: &Logs) -> Res {
    let fault = Fault::UnboundedConcurrency;
    const DOCS: usize = 120;
    const LIMIT: u32 = 8;
    intro(
        fault,
        &format!(
            "{DOCS} Documents waiting for a controller. The controller runs as the \
             doc-controller ServiceAccount (yaml/rbac.yaml, through a TokenRequest token), and \
             the sandbox gives that user {LIMIT} concurrent requests (server fault maxInFlight, \
             like an API Priority and Fairness share; admins are exempt) and answers it in 50 ms \
             (server fault latency: in-memory answers are too fast to overlap). Watch 429s."
        ),
    );
    let demo = Demo::start(logs, true).await?;
    let kube = demo.service_account(true).await?;
    demo.server_fault(json!({
        "type": "maxInFlight", "limit": LIMIT,
        "user": format!("system:serviceaccount:{NS}:doc-controller")
    }))
    .await?;
    demo.server_fault(json!({
        "type": "latency", "millis": 50,
        "user": format!("system:serviceaccount:{NS}:doc-controller")
    }))
    .await?;
    println!(
        "sandbox   server faults for system:serviceaccount:{NS}:doc-controller: maxInFlight \
         {LIMIT}, latency 50 ms"
    );
    demo.create_docs("crowd", DOCS).await?;
    let probes = [
        RECONCILES,
        Probe::Server(
            "429s sent (server)",
            "sandbox_apiserver_throttled_requests_total",
            &[],
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
        "All Documents are there at start: the initial list makes every one ready at once.",
    );
    let c = demo
        .controller_as(Demo::config(&[fault]), kube.clone())
        .await?;
    Table::new(&probes, &demo)
        .run(&c.target, Duration::from_secs(14), idle)
        .await?;
    note(
        "every Document reconciled at once: far more requests in flight than the share, and \
         the API server answers 429 with Retry-After: 1. kube's client retries those by itself \
         (its default RetryPolicy), so the controller's own metrics count no 429: they show up \
         as slow requests, and the Documents trickle in.",
    );
    c.stop().await?;

    // Give the OFF phase the same amount of work: a new generation of every Document.
    for i in 0..DOCS {
        demo.docs
            .patch(
                &format!("crowd-{i}"),
                &PatchParams::default(),
                &Patch::Merge(json!({ "spec": { "content": "second edition" } })),
            )
            .await?;
    }
    off("concurrency 4 (--concurrency 4); every Document was edited meanwhile, so all need work.");
    let config = doc_controller::Config {
        concurrency: 4,
        ..Demo::config(&[])
    };
    let c = demo.controller_as(config, kube).await?;
    Table::new(&probes, &demo)
        .run(&c.target, Duration::from_secs(12), idle)
        .await?;
    note(
        "at most 4 reconciles at a time stay inside the share: no 429s, and the same amount of \
         work done sooner.",
    );
    c.stop().await?;
    demo.clear_server_faults().await?;
    outro(fault);
    Ok(())
}
