//! Reconcile loops and reconcilers that do not run: status-timestamp, no-predicate,
//! generation-only-predicate, predicate-blocks-all, narrow-selector, cleanup-fails,
//! controller-down, blocking-reconcile.

use crate::harness::{Demo, Logs, NS, Res};
use crate::table::{DocState, Probe, Table, idle};
use crate::{intro, note, outro, phase};
use doc_controller::fault::Fault;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

const RECONCILES: Probe = Probe::Count("reconciles", "doc_controller_reconcile_total", &[]);
const STATUS_WRITES: Probe =
    Probe::Count("status writes", "doc_controller_status_patches_total", &[]);

/// The standard note of a phase with the toggle on.
pub fn on(faults: &[Fault], extra: &str) {
    let flags: Vec<String> = faults.iter().map(|f| format!("--fault {f}")).collect();
    let restart = match faults.iter().filter(|f| !f.is_live()).count() {
        0 => "set at start",
        1 => {
            "restart-only: it shapes the watches, the client or the controller at start, so the \
             demo (re)starts the controller to switch it"
        }
        _ => {
            "restart-only: they shape the watches, the client or the controller at start, so the \
             demo (re)starts the controller to switch them"
        }
    };
    phase(
        "phase 1: fault ON",
        &format!(
            "a controller in this process, as deployed, with {} ({restart}). {extra}",
            flags.join(" ")
        ),
    );
}

/// The note of a phase switching live toggles on (no restart).
pub fn live_on(faults: &[Fault], extra: &str) {
    let names: Vec<&str> = faults.iter().map(|f| f.name()).collect();
    phase(
        "phase 1: fault ON",
        &format!(
            "{} switches live: the running controller (--live-faults) follows the \
             doc-controller-config ConfigMap, and the switch itself reconciles every Document, \
             so what the toggle breaks in a reconcile shows at once, with no restart and no \
             Document touched. {extra}",
            names.join(" + ")
        ),
    );
}

/// The note of a phase switching every live toggle off again.
pub fn live_off(extra: &str) {
    phase(
        "phase 2: fault OFF",
        &format!(
            "faults=\"\" in doc-controller-config: the same controller, no restart; the switch \
             reconciles every Document again. {extra}"
        ),
    );
}

/// The standard note of the phase with the toggle off.
pub fn off(extra: &str) {
    phase(
        "phase 2: fault OFF",
        &format!(
            "that controller stopped gracefully (App::run's shutdown future: in-flight reconciles \
             finish); a new one without the toggle on the same sandbox. {extra}"
        ),
    );
}

/// The `--resync-period` of the recipe that the row of `fault` documents (`… --resync-period
/// 2s …`), so that the demo shows exactly what docs/faults.md tells a person to run.
fn documented_resync(fault: Fault) -> Res<Duration> {
    let row = crate::row(fault);
    let value = row
        .what_you_see
        .split("--resync-period")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .map(|v| v.trim_matches(|c: char| !c.is_ascii_alphanumeric()))
        .ok_or("docs/faults.md documents no --resync-period recipe for this toggle")?;
    Ok(humantime::parse_duration(value)?)
}

/// The demo of `status-timestamp`.
pub async fn status_timestamp(logs: &Logs) -> Res {
    let fault = Fault::StatusTimestamp;
    let resync = documented_resync(fault)?;
    let every = humantime::format_duration(resync);
    intro(
        fault,
        &format!(
            "3 Documents; the controller runs with --resync-period {every}, the documented \
             recipe: every resync reconciles every Document though nothing changed. The toggle \
             is switched on live, which itself reconciles every Document at once. Watch status \
             writes per reconcile and the resourceVersion of status-timestamp-0."
        ),
    );
    let demo = Demo::start(logs, fault, true).await?;
    demo.create_docs("status-timestamp", 3).await?;
    let probes = [
        RECONCILES,
        STATUS_WRITES,
        Probe::Ratio(
            "writes/reconcile",
            ("doc_controller_status_patches_total", &[]),
            ("doc_controller_reconcile_total", &[]),
        ),
        Probe::Rv("rv status-timestamp-0", "status-timestamp-0"),
    ];
    let config = |faults: &[Fault]| doc_controller::Config {
        resync_period: resync,
        ..Demo::config(faults)
    };

    let c = demo.controller(config(&[])).await?;
    demo.wait_all_ready(Duration::from_secs(10)).await?;
    live_on(&[fault], &format!("A resync every {every}."));
    demo.set_live(&c.target, &[fault]).await?;
    Table::new(&probes, &demo)
        .run(&c.target, Duration::from_secs(14), idle)
        .await?;
    let d = demo.docs.get("status-timestamp-0").await?;
    if let Some(msg) = d.ready_condition().map(|c| c.message.clone()) {
        note(&format!("Ready message of status-timestamp-0: {msg:?}"));
    }
    note(
        "the switch wrote all 3 statuses at once, then every resync rewrote them \
         (writes/reconcile ≈ 1) and the resourceVersion climbed, though nothing changed. The \
         predicate keeps these writes from triggering more reconciles; with no-predicate too \
         each write would trigger the next: `just demo no-predicate` shows that loop.",
    );

    live_off(&format!("Same resync every {every}."));
    demo.set_live(&c.target, &[]).await?;
    Table::new(&probes, &demo)
        .run(&c.target, Duration::from_secs(10), idle)
        .await?;
    note(
        "reconciles keep coming with every resync; after one last write per Document at the \
         switch (the timestamp leaves the message) the computed status equals the stored one: \
         no write (writes/reconcile 0), the resourceVersion stays.",
    );
    c.stop().await?;
    outro(fault);
    Ok(())
}

/// The demo of `no-predicate`.
pub async fn no_predicate(logs: &Logs) -> Res {
    let fault = Fault::NoPredicate;
    intro(
        fault,
        "3 Documents; a 'label bot' sets a label on each of them every 2 s (a change that \
         leaves the spec alone, as a status write does). Watch reconciles per tick: +3 means \
         every label change was reconciled. Then no-predicate + status-timestamp together: the \
         endless loop, with nobody touching anything.",
    );
    let demo = Demo::start(logs, fault, true).await?;
    demo.create_docs("no-predicate", 3).await?;
    let probes = [
        RECONCILES,
        STATUS_WRITES,
        Probe::Rv("rv no-predicate-0", "no-predicate-0"),
    ];
    let d = &demo;
    let label_bot = move |tick: u32| async move {
        for i in 0..3 {
            d.label(&format!("no-predicate-{i}"), "touched", &tick.to_string())
                .await?;
        }
        Ok(())
    };

    let c = demo.controller(Demo::config(&[])).await?;
    demo.wait_all_ready(Duration::from_secs(10)).await?;
    live_on(&[fault], "The label bot runs.");
    demo.set_live(&c.target, &[fault]).await?;
    Table::new(&probes, &demo)
        .run(&c.target, Duration::from_secs(8), label_bot)
        .await?;
    note("+3 reconciles per tick: one per label change, though no spec changed.");

    phase(
        "phase 1b: both ON",
        "no-predicate + status-timestamp, live. The label bot stops: nothing outside the \
         controller changes any Document; the switch's own reconcile of every Document starts \
         the loop.",
    );
    demo.set_live(&c.target, &[fault, Fault::StatusTimestamp])
        .await?;
    Table::new(&probes, &demo)
        .run(&c.target, Duration::from_secs(8), idle)
        .await?;
    note(
        "the full loop: each status write comes back as a watch event, passes the (missing) \
         filter, is reconciled, and writes the status again: rate(status writes) > 0 with \
         nothing changing.",
    );

    live_off("The label bot runs again.");
    demo.set_live(&c.target, &[]).await?;
    Table::new(&probes, &demo)
        .run(&c.target, Duration::from_secs(8), label_bot)
        .await?;
    note(
        "labels still change every 2 s (the resourceVersion climbs), but generation and \
         finalizers do not: the predicate filter lets nothing through, 0 reconciles.",
    );
    c.stop().await?;
    outro(fault);
    Ok(())
}

/// The demo of `generation-only-predicate`.
pub async fn generation_only_predicate(logs: &Logs) -> Res {
    let fault = Fault::GenerationOnlyPredicate;
    intro(
        fault,
        "a new Document every 2 s. The first reconcile of a Document only adds the finalizer; \
         the next step needs a reconcile triggered by that finalizer change. Watch 'stuck' \
         (finalizer, but no status).",
    );
    let demo = Demo::start(logs, fault, true).await?;
    let probes = [
        RECONCILES,
        Probe::Docs("documents", DocState::All),
        Probe::Docs("stuck", DocState::Stuck),
        Probe::Docs("ready", DocState::Current),
    ];
    let d = &demo;
    let creator = |offset: u32| {
        move |tick: u32| async move {
            d.create_docs(&format!("new-{}", offset + tick), 1).await?;
            Ok(())
        }
    };

    let c = demo.controller(Demo::config(&[])).await?;
    live_on(
        &[fault],
        "Its symptom is what happens to a new Document: one is created every tick.",
    );
    demo.set_live(&c.target, &[fault]).await?;
    Table::new(&probes, &demo)
        .run(&c.target, Duration::from_secs(12), creator(0))
        .await?;
    note(
        "each new Document got its finalizer and then nothing: the finalizer change does not \
         bump generation, so the generation-only predicate drops it. They would wait for the \
         resync period (1 h).",
    );

    live_off("New Documents keep coming.");
    demo.set_live(&c.target, &[]).await?;
    Table::new(&probes, &demo)
        .run(&c.target, Duration::from_secs(8), creator(100))
        .await?;
    note(
        "the stuck ones were published right after the switch (it reconciles every Document: \
         the step their dropped finalizer event would have triggered), and new Documents go \
         finalizer → Published at once. Without that reconcile of everything they would have \
         waited for the resync or a restart: a predicate switched back does not replay the \
         events it dropped.",
    );
    c.stop().await?;
    outro(fault);
    Ok(())
}

/// The demo of `predicate-blocks-all`.
pub async fn predicate_blocks_all(logs: &Logs) -> Res {
    let fault = Fault::PredicateBlocksAll;
    intro(
        fault,
        "3 Documents; every 2 s an editor changes the title of each one (a new generation). \
         Watch reconciles and 'behind' (observedGeneration behind generation: an edit not \
         reconciled).",
    );
    let demo = Demo::start(logs, fault, true).await?;
    demo.create_docs("frozen", 3).await?;
    let probes = [
        RECONCILES,
        Probe::Docs("ready+current", DocState::Current),
        Probe::Docs("behind", DocState::Behind),
        Probe::Warnings("WARN lines"),
    ];
    let d = &demo;
    let editor = move |tick: u32| async move {
        for i in 0..3 {
            d.set_spec(
                &format!("frozen-{i}"),
                json!({ "title": format!("frozen {i}, edit {tick}") }),
            )
            .await?;
        }
        Ok(())
    };

    let c = demo.controller(Demo::config(&[])).await?;
    demo.wait_all_ready(Duration::from_secs(10)).await?;
    live_on(&[fault], "The editor starts.");
    demo.set_live(&c.target, &[fault]).await?;
    Table::new(&probes, &demo)
        .run(&c.target, Duration::from_secs(12), editor)
        .await?;
    note(
        "the predicate lets a Document through once and never again: no edit is reconciled, \
         and no log line says so.",
    );

    live_off("The editor keeps editing.");
    demo.set_live(&c.target, &[]).await?;
    Table::new(&probes, &demo)
        .run(&c.target, Duration::from_secs(10), editor)
        .await?;
    note(
        "the switch reconciled every Document, catching up the edits the predicate had dropped; \
         then every edit is reconciled within its tick: 'behind' stays at 0 between edits.",
    );
    c.stop().await?;
    outro(fault);
    Ok(())
}

/// The demo of `narrow-selector`.
pub async fn narrow_selector(logs: &Logs) -> Res {
    let fault = Fault::NarrowSelector;
    intro(
        fault,
        "3 Documents. Watch the controller's Document cache next to what the API lists.",
    );
    let demo = Demo::start(logs, fault, true).await?;
    demo.create_docs("unseen", 3).await?;
    let probes = [
        Probe::Docs("API lists", DocState::All),
        Probe::Gauge(
            "cached documents",
            "doc_controller_cached_objects",
            &["store=\"documents\""],
        ),
        RECONCILES,
        Probe::Docs("no status", DocState::Unreconciled),
        Probe::Readyz("/readyz"),
    ];

    on(
        &[fault],
        "Its Document watch selects doc-controller.kube.rs/shard=does-not-exist.",
    );
    let c = demo.controller(Demo::config(&[fault])).await?;
    Table::new(&probes, &demo)
        .run(&c.target, Duration::from_secs(10), idle)
        .await?;
    note(
        "kubectl lists 3 Documents, the controller's cache holds 0, nothing is reconciled, \
         and /readyz is 200: the (empty) cache is synced.",
    );
    c.stop().await?;

    off("");
    let c = demo.controller(Demo::config(&[])).await?;
    Table::new(&probes, &demo)
        .run(&c.target, Duration::from_secs(8), idle)
        .await?;
    c.stop().await?;
    outro(fault);
    Ok(())
}

/// The demo of `cleanup-fails`.
pub async fn cleanup_fails(logs: &Logs) -> Res {
    let fault = Fault::CleanupFails;
    intro(
        fault,
        "3 published Documents are deleted at the start of the phase. Watch 'terminating' and \
         the cleanup errors.",
    );
    let demo = Demo::start(logs, fault, true).await?;
    demo.create_docs("doomed", 3).await?;
    let probes = [
        Probe::Docs("documents", DocState::All),
        Probe::Docs("terminating", DocState::Terminating),
        Probe::Count(
            "cleanup errors",
            "doc_controller_reconcile_errors_total",
            &["reason=\"injected_cleanup_failure\""],
        ),
        Probe::Logs("'reconcile failed' logs", "reconcile failed"),
    ];

    let c = demo.controller(Demo::config(&[])).await?;
    demo.wait_all_ready(Duration::from_secs(10)).await?;
    live_on(
        &[fault],
        "Its symptom is what happens on a delete: the Documents are deleted at t=0.",
    );
    demo.set_live(&c.target, &[fault]).await?;
    let d = &demo;
    let deleter = move |tick: u32| async move {
        if tick == 0 {
            for i in 0..3 {
                d.delete(&format!("doomed-{i}")).await?;
            }
        }
        Ok(())
    };
    Table::new(&probes, &demo)
        .run(&c.target, Duration::from_secs(14), deleter)
        .await?;
    if let Some(line) = logs.last_short("reconcile failed", 400) {
        note(&format!("a log line: {line}"));
    }
    note(
        "the deletes were accepted, but cleanup fails every time (retried with backoff), so \
         the finalizer stays and the Documents stay Terminating.",
    );

    live_off("The switch runs each cleanup again at once, without the toggle.");
    demo.set_live(&c.target, &[]).await?;
    Table::new(&probes, &demo)
        .run(&c.target, Duration::from_secs(10), idle)
        .await?;
    note("cleanup succeeds, the finalizer is released, the Documents are gone.");
    c.stop().await?;
    outro(fault);
    Ok(())
}

/// The demo of `controller-down`.
pub async fn controller_down(logs: &Logs) -> Res {
    let fault = Fault::ControllerDown;
    intro(
        fault,
        "3 Documents published by a healthy controller; then the process restarts with the \
         toggle, and at t=0 one Document is deleted and a new one created. Watch /healthz next \
         to the reconciles.",
    );
    let demo = Demo::start(logs, fault, true).await?;
    demo.create_docs("waiting", 3).await?;
    let probes = [
        Probe::Healthz("/healthz"),
        RECONCILES,
        Probe::Docs("terminating", DocState::Terminating),
        Probe::Docs("no status", DocState::Unreconciled),
        Probe::Docs("ready", DocState::Current),
    ];
    let warm = demo.controller(Demo::config(&[])).await?;
    demo.wait_all_ready(Duration::from_secs(10)).await?;
    warm.stop().await?;

    on(&[fault], "");
    let c = demo.controller(Demo::config(&[fault])).await?;
    let d = &demo;
    let change = move |tick: u32| async move {
        if tick == 0 {
            d.delete("waiting-0").await?;
            d.create_docs("newcomer", 1).await?;
        }
        Ok(())
    };
    Table::new(&probes, &demo)
        .run(&c.target, Duration::from_secs(10), change)
        .await?;
    note(
        "alive and serving metrics, but 0 reconciles: the deleted Document stays Terminating \
         and the new one gets no status. A liveness probe is happy; an alert on \
         rate(doc_controller_reconcile_total) would not be.",
    );
    c.stop().await?;

    off("");
    let c = demo.controller(Demo::config(&[])).await?;
    Table::new(&probes, &demo)
        .run(&c.target, Duration::from_secs(8), idle)
        .await?;
    c.stop().await?;
    outro(fault);
    Ok(())
}

/// The demo of `blocking-reconcile`.
pub async fn blocking_reconcile(logs: &Logs) -> Res {
    let fault = Fault::BlockingReconcile;
    intro(
        fault,
        "8 Documents, all edited every 2 s. Watch the mean reconcile duration and how long \
         /healthz takes to answer: the runtime threads are blocked. (Here the sandbox shares \
         this process's runtime and stalls too; in a cluster only the controller would.)",
    );
    let demo = Demo::start(logs, fault, true).await?;
    demo.create_docs("busy", 8).await?;
    let probes = [
        RECONCILES,
        Probe::MeanMs(
            "mean reconcile",
            "doc_controller_reconcile_duration_seconds",
        ),
        Probe::Healthz("/healthz"),
        Probe::Docs("ready+current", DocState::Current),
    ];
    let d = &demo;
    let editor = move |tick: u32| async move {
        for i in 0..8 {
            d.set_spec(
                &format!("busy-{i}"),
                json!({ "content": format!("edit {tick}") }),
            )
            .await?;
        }
        Ok(())
    };

    let c = demo.controller(Demo::config(&[])).await?;
    demo.wait_all_ready(Duration::from_secs(10)).await?;
    live_on(&[fault], "");
    demo.set_live(&c.target, &[fault]).await?;
    Table::new(&probes, &demo)
        .run(&c.target, Duration::from_secs(12), editor)
        .await?;
    note(
        "every reconcile holds its runtime thread for its synchronous sleep (≥ 250 ms); \
         everything else on that thread waits, /healthz included. tokio-console (--features \
         console) shows the long polls.",
    );

    live_off("");
    demo.set_live(&c.target, &[]).await?;
    Table::new(&probes, &demo)
        .run(&c.target, Duration::from_secs(8), editor)
        .await?;
    note("reconciles take milliseconds; /healthz answers at once.");
    c.stop().await?;
    outro(fault);
    Ok(())
}

/// The demo of `rival-writer`.
pub async fn rival_writer(logs: &Logs) -> Res {
    let fault = Fault::RivalWriter;
    intro(
        fault,
        "1 Document. Another controller (played by this demo, field manager 'rival') keeps the \
         annotation rival.example.com/reviewed on the published ConfigMap document-rival-0, \
         adding it back whenever it is gone. Watch its writes and the controller's UPDATEs \
         (granted by yaml/faults/rival-writer.yaml: the shipped RBAC has no update on \
         ConfigMaps, and without it the toggle shows a 403 instead).",
    );
    let demo = Demo::start(logs, fault, true).await?;
    demo.create_docs("rival", 1).await?;
    let writes = Arc::new(AtomicU64::new(0));
    let rival = tokio::spawn(play_rival(demo.client.clone(), writes.clone()));
    let probes = [
        RECONCILES,
        Probe::Count(
            "UPDATE configmaps",
            "doc_controller_api_requests_total",
            &["verb=\"update\"", "resource=\"configmaps\""],
        ),
        Probe::Shared("rival's writes", writes),
    ];

    let c = demo.controller(Demo::config(&[])).await?;
    demo.wait_all_ready(Duration::from_secs(10)).await?;
    live_on(&[fault], "");
    demo.set_live(&c.target, &[fault]).await?;
    Table::new(&probes, &demo)
        .run(&c.target, Duration::from_secs(12), idle)
        .await?;
    note(
        "the controller compares and PUTs the whole ConfigMap: the rival's annotation is \
         removed, re-added, removed...: two writers ping-ponging, each change triggering the other.",
    );

    live_off("");
    demo.set_live(&c.target, &[]).await?;
    Table::new(&probes, &demo)
        .run(&c.target, Duration::from_secs(8), idle)
        .await?;
    note(
        "server-side apply of the fields the controller owns, compared on those fields only: \
         the rival's annotation stays, nobody writes.",
    );
    c.stop().await?;
    rival.abort();
    outro(fault);
    Ok(())
}

/// Another writer, as another controller is written: watches `document-rival-0` and puts its
/// annotation back whenever it is gone.
async fn play_rival(client: kube::Client, writes: Arc<AtomicU64>) -> Res {
    use futures::StreamExt;
    use kube::runtime::{WatchStreamExt, watcher};
    let cms: Api<ConfigMap> = Api::namespaced(client, NS);
    let params = PatchParams {
        field_manager: Some("rival".into()),
        ..PatchParams::default()
    };
    let selector = watcher::Config::default().fields("metadata.name=document-rival-0");
    let mut changes = watcher(cms.clone(), selector)
        .default_backoff()
        .applied_objects()
        .boxed();
    while let Some(change) = changes.next().await {
        let Ok(cm) = change else {
            continue;
        };
        let reviewed = cm
            .metadata
            .annotations
            .is_some_and(|a| a.contains_key("rival.example.com/reviewed"));
        if !reviewed {
            let patch =
                json!({ "metadata": { "annotations": { "rival.example.com/reviewed": "yes" } } });
            if cms
                .patch("document-rival-0", &params, &Patch::Merge(patch))
                .await
                .is_ok()
            {
                writes.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
    Ok(())
}
