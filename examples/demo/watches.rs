//! Watches that do not recover and errors nobody sees: no-bookmarks, forbidden-watch, no-backoff,
//! skip-preflight, silent-watch-errors, crash-on-error; and forbidden-patch, the write RBAC does not
//! grant.

use crate::harness::{Child, Demo, Logs, NS, Res};
use crate::loops::{off, on};
use crate::table::{DocState, Probe, Table, idle};
use crate::{intro, note, outro, phase};
use doc_controller::fault::Fault;
use serde_json::json;
use std::time::{Duration, Instant};

const RECONCILES: Probe = Probe::Count("reconciles", "doc_controller_reconcile_total", &[]);

fn watch_errors(header: &'static str, reason: &'static str) -> Probe {
    // The label sets are static strings; the reasons used here are the metric's own labels.
    let labels: &'static [&'static str] = match reason {
        "410" => &["reason=\"410\""],
        "403" => &["reason=\"403\""],
        "404" => &["reason=\"404\""],
        "connection" => &["reason=\"connection\""],
        _ => &[],
    };
    Probe::Count(header, "doc_controller_watch_errors_total", labels)
}

/// The demo of `no-bookmarks`.
pub async fn no_bookmarks(logs: &Logs) -> Res {
    let fault = Fault::NoBookmarks;
    intro(
        fault,
        "3 quiet Documents. The sandbox compacts its watch history every 2 s (server fault \
         compactEvery) and sends bookmarks every second to watches that ask for them; the \
         controller's connections are cut after 3 s without a byte (client read timeout 3 s, as \
         an idle timeout of a load balancer would). Watch 410 Gone and the full re-lists.",
    );
    let builder = sandbox::Sandbox::builder().bookmark_interval(Duration::from_secs(1));
    let demo = Demo::start_with(builder, logs, true).await?;
    demo.create_docs("quiet", 3).await?;
    demo.server_fault(json!({ "type": "compactEvery", "seconds": 2.0 }))
        .await?;
    println!("sandbox   server fault: compactEvery 2 s; bookmarks every 1 s");
    let mut kube = demo.sandbox.kube_config();
    kube.read_timeout = Some(Duration::from_secs(3));
    let probes = [
        Probe::Count("watch errors", "doc_controller_watch_errors_total", &[]),
        watch_errors("410 Gone", "410"),
        Probe::Count(
            "(re)lists",
            "doc_controller_watch_events_total",
            &["event=\"init_done\""],
        ),
        Probe::Count(
            "WATCH requests",
            "doc_controller_api_requests_total",
            &["verb=\"watch\""],
        ),
    ];

    on(&[fault], "");
    let c = demo
        .controller_as(Demo::config(&[fault]), kube.clone())
        .await?;
    Table::new(&probes, &demo)
        .run(&c.target, Duration::from_secs(12), idle)
        .await?;
    c.stop().await?;
    const REFUSED: &str = "bookmarks must be set when using send_initial_events";
    if let Some(line) = logs.last(REFUSED) {
        note(&format!(
            "the watches never started: kube refuses a streaming list without bookmarks \
             before sending it. A log line: {line}"
        ));
        note(
            "so this toggle, alone, shows a different failure than its row. To see the row's \
             symptom the demo adds unpaged-initial-list (LIST, then WATCH), where bookmarks can \
             be off.",
        );
        phase(
            "phase 1b: fault ON, with unpaged-initial-list",
            "a controller in this process with --fault no-bookmarks --fault \
             unpaged-initial-list (restarted: these toggles switch at start only).",
        );
        let c = demo
            .controller_as(
                Demo::config(&[fault, Fault::UnpagedInitialList]),
                kube.clone(),
            )
            .await?;
        Table::new(&probes, &demo)
            .run(&c.target, Duration::from_secs(12), idle)
            .await?;
        c.stop().await?;
    }
    note(
        "without bookmarks a quiet watch carries no bytes: it is cut, resumes from its last \
         resourceVersion, which the compaction removed: 410 Gone, and a full re-list each time.",
    );

    off("Same compaction, same read timeout.");
    let c = demo.controller_as(Demo::config(&[]), kube).await?;
    Table::new(&probes, &demo)
        .run(&c.target, Duration::from_secs(10), idle)
        .await?;
    note(
        "bookmarks keep the watches busy and their resourceVersion recent: no cut, no 410, no \
         re-list (the first list is the start).",
    );
    c.stop().await?;
    demo.clear_server_faults().await?;
    outro(fault);
    Ok(())
}

/// The demo of `forbidden-watch`.
pub async fn forbidden_watch(logs: &Logs) -> Res {
    let fault = Fault::ForbiddenWatch;
    intro(
        fault,
        &format!(
            "3 Documents in {NS}. The controller runs as the doc-controller ServiceAccount with \
             the ClusterRole of yaml/rbac.yaml bound by a RoleBinding in {NS} only (a TokenRequest \
             token; the sandbox enforces RBAC), configured with --namespace {NS}. Watch 403s."
        ),
    );
    let demo = Demo::start(logs, true).await?;
    demo.create_docs("guarded", 3).await?;
    let kube = demo.service_account(false).await?;
    println!("sandbox   RoleBinding doc-controller in {NS} → ClusterRole doc-controller");
    let probes = [
        watch_errors("403 watch errors", "403"),
        RECONCILES,
        Probe::Docs("ready", DocState::Current),
        Probe::Readyz("/readyz"),
        Probe::Logs("403 log lines", "403"),
    ];
    let config = |faults: &[Fault]| doc_controller::Config {
        namespace: Some(NS.to_string()),
        ..Demo::config(faults)
    };

    on(&[fault], "The Document watch goes to cluster scope.");
    let c = demo.controller_as(config(&[fault]), kube.clone()).await?;
    Table::new(&probes, &demo)
        .run(&c.target, Duration::from_secs(12), idle)
        .await?;
    if let Some(line) = logs.last_short("403", 300) {
        note(&format!("a log line: {line}"));
    }
    note("retried with backoff forever; nothing is reconciled, /readyz stays 503.");
    c.stop().await?;

    off("Same ServiceAccount, same RoleBinding.");
    let c = demo.controller_as(config(&[]), kube).await?;
    Table::new(&probes, &demo)
        .run(&c.target, Duration::from_secs(8), idle)
        .await?;
    note(&format!(
        "the watch stays in {NS}, where RBAC allows it: every Document Ready."
    ));
    c.stop().await?;
    outro(fault);
    Ok(())
}

/// The demo of `no-backoff`.
pub async fn no_backoff(logs: &Logs) -> Res {
    let fault = Fault::NoBackoff;
    intro(
        fault,
        "a sandbox WITHOUT the Document CRD, and skip-preflight on in both phases so that the \
         controller starts watching anyway: every watch request fails with 404. Watch the \
         error rate; in phase 2 the CRD is installed at t=6s.",
    );
    let demo = Demo::start(logs, false).await?;
    let probes = [
        Probe::Count(
            "document watch errors",
            "doc_controller_watch_errors_total",
            &["resource=\"documents\""],
        ),
        Probe::Count(
            "404 answers",
            "doc_controller_api_requests_total",
            &["code=\"404\""],
        ),
        Probe::Warnings("WARN lines"),
        Probe::Docs("ready", DocState::Current),
    ];

    on(&[Fault::SkipPreflight, fault], "");
    let c = demo
        .controller(Demo::config(&[Fault::SkipPreflight, fault]))
        .await?;
    Table::new(&probes, &demo)
        .run(&c.target, Duration::from_secs(8), idle)
        .await?;
    note(
        "hundreds of failing requests a second, as fast as the API server answers, and a WARN \
         line for each: a controller hammering an API server that is already failing.",
    );
    c.stop().await?;

    off("skip-preflight stays on; the CRD is installed at t=6s and 3 Documents created.");
    let c = demo
        .controller(Demo::config(&[Fault::SkipPreflight]))
        .await?;
    let d = &demo;
    let install = move |tick: u32| async move {
        if tick == 3 {
            d.install_crd().await?;
            d.create_docs("late", 3).await?;
            note("CRD installed, 3 Documents created");
        }
        Ok(())
    };
    Table::new(&probes, &demo)
        .run(&c.target, Duration::from_secs(20), install)
        .await?;
    note(
        "retries slow down exponentially (with jitter), and the watch recovers on its own once \
         the CRD is there.",
    );
    c.stop().await?;
    outro(fault);
    Ok(())
}

/// The demo of `skip-preflight`.
pub async fn skip_preflight(logs: &Logs) -> Res {
    let fault = Fault::SkipPreflight;
    intro(
        fault,
        "a sandbox WITHOUT the Document CRD. Watch what the controller does about it.",
    );
    let demo = Demo::start(logs, false).await?;
    let probes = [
        watch_errors("404 watch errors", "404"),
        Probe::Healthz("/healthz"),
        Probe::Readyz("/readyz"),
    ];

    on(&[fault], "");
    let c = demo.controller(Demo::config(&[fault])).await?;
    Table::new(&probes, &demo)
        .run(&c.target, Duration::from_secs(10), idle)
        .await?;
    note("alive, not ready, retrying 404s forever; the cause is only in a WARN line among many.");
    c.stop().await?;

    off("The preflight LISTs Documents (limit 1) before any watch.");
    let mut c = demo.controller(Demo::config(&[])).await?;
    match c.ended_within(Duration::from_secs(10)).await {
        Some(Err(e)) => {
            note(&format!("the controller stopped at once with: {e}"));
            note("(the binary exits with code 1 and prints this line)");
        }
        Some(Ok(())) => note("the controller stopped without an error (unexpected)"),
        None => note("the controller is still running after 10 s (unexpected)"),
    }
    drop(c);
    phase(
        "then",
        "run the install command (here: doc_controller::crd::install), create 3 Documents, \
         start the controller again.",
    );
    demo.install_crd().await?;
    demo.create_docs("installed", 3).await?;
    let c = demo.controller(Demo::config(&[])).await?;
    let probes = [
        watch_errors("404 watch errors", "404"),
        Probe::Readyz("/readyz"),
        Probe::Docs("ready", DocState::Current),
    ];
    Table::new(&probes, &demo)
        .run(&c.target, Duration::from_secs(6), idle)
        .await?;
    c.stop().await?;
    outro(fault);
    Ok(())
}

/// The demo of `silent-watch-errors`.
pub async fn silent_watch_errors(logs: &Logs) -> Res {
    let fault = Fault::SilentWatchErrors;
    intro(
        fault,
        "a sandbox WITHOUT the Document CRD and skip-preflight in both phases, so the watch fails \
         with 404 all the time. The controller runs as the doc-controller binary (a child \
         process) so its own log output is what you read. Watch the error counter next to the \
         log lines.",
    );
    let demo = Demo::start(logs, false).await?;
    let probes = [
        Probe::Count(
            "watch errors (metric)",
            "doc_controller_watch_errors_total",
            &[],
        ),
        Probe::Logs("'watch error' log lines", "watch error"),
        Probe::Readyz("/readyz"),
    ];

    phase(
        "phase 1: fault ON",
        "doc-controller --fault skip-preflight --fault silent-watch-errors (a child process).",
    );
    let child = Child::spawn(
        &demo,
        &["--fault", "skip-preflight", "--fault", fault.name()],
    )
    .await?;
    Table::new(&probes, &demo)
        .run(&child.target, Duration::from_secs(10), idle)
        .await?;
    note(&format!(
        "the logs say nothing ({} lines in all, the last: {:?}); only the metric tells.",
        child.target.logs.count(""),
        child.target.logs.last_short("", 240).unwrap_or_default()
    ));
    child.stop().await?;

    phase(
        "phase 2: fault OFF",
        "doc-controller --fault skip-preflight (a new child process).",
    );
    let child = Child::spawn(&demo, &["--fault", "skip-preflight"]).await?;
    Table::new(&probes, &demo)
        .run(&child.target, Duration::from_secs(10), idle)
        .await?;
    if let Some(line) = child.target.logs.last_short("watch error", 300) {
        note(&format!("a log line: {line}"));
    }
    child.stop().await?;
    outro(fault);
    Ok(())
}

/// The demo of `crash-on-error`.
pub async fn crash_on_error(logs: &Logs) -> Res {
    let fault = Fault::CrashOnError;
    intro(
        fault,
        "a sandbox WITHOUT the Document CRD and skip-preflight in both phases, so the watch hits \
         a soft error (404) at once. The controller runs as the doc-controller binary; the demo \
         restarts it when it exits, with a growing delay, as the kubelet does (CrashLoopBackOff). \
         In phase 2 the CRD is installed at t=6s.",
    );
    let demo = Demo::start(logs, false).await?;

    phase(
        "phase 1: fault ON",
        "doc-controller --fault skip-preflight --fault crash-on-error, restarted whenever it \
         exits (1 s, 2 s, 4 s ...).",
    );
    let started = Instant::now();
    let mut delay = Duration::from_secs(1);
    let mut restarts = 0;
    while started.elapsed() < Duration::from_secs(14) {
        let run = Instant::now();
        let mut child = Child::spawn(
            &demo,
            &["--fault", "skip-preflight", "--fault", fault.name()],
        )
        .await?;
        let pid = child.pid().unwrap_or_default();
        match child.exited_within(Duration::from_secs(5)).await {
            Some(code) => {
                println!(
                    "  {:>4}s  pid {pid} exited with code {} after {} ms (restarts {restarts}); \
                     last log: {}",
                    started.elapsed().as_secs(),
                    code.map_or("none".into(), |c| c.to_string()),
                    run.elapsed().as_millis(),
                    child.target.logs.last_short("", 240).unwrap_or_default(),
                );
            }
            None => {
                println!("  pid {pid} still running after 5 s");
                child.stop().await?;
                break;
            }
        }
        restarts += 1;
        tokio::time::sleep(delay).await;
        delay *= 2;
    }
    note(&format!(
        "{restarts} restarts in {} s. Under Kubernetes you would see CrashLoopBackOff and a \
         restart count, and the cause only in the previous container's log.",
        started.elapsed().as_secs()
    ));

    phase(
        "phase 2: fault OFF",
        "doc-controller --fault skip-preflight (still no CRD); the CRD is installed at t=6s and 3 \
         Documents created.",
    );
    let child = Child::spawn(&demo, &["--fault", "skip-preflight"]).await?;
    let probes = [
        Probe::Count(
            "watch errors",
            "doc_controller_watch_errors_total",
            &["resource=\"documents\""],
        ),
        Probe::Readyz("/readyz"),
        Probe::Docs("ready", DocState::Current),
    ];
    let d = &demo;
    let install = move |tick: u32| async move {
        if tick == 3 {
            d.install_crd().await?;
            d.create_docs("survivor", 3).await?;
            note("CRD installed, 3 Documents created");
        }
        Ok(())
    };
    Table::new(&probes, &demo)
        .run(&child.target, Duration::from_secs(20), install)
        .await?;
    let pid = child.pid().unwrap_or_default();
    let code = child.stop().await?;
    note(&format!(
        "one process (pid {pid}) ran through the errors and recovered by itself; SIGTERM: exit \
         code {}",
        code.map_or("none".into(), |c| c.to_string())
    ));
    outro(fault);
    Ok(())
}

/// The demo of `forbidden-patch`.
pub async fn forbidden_patch(logs: &Logs) -> Res {
    let fault = Fault::ForbiddenPatch;
    intro(
        fault,
        "3 Documents. The controller runs as the doc-controller ServiceAccount with the \
         ClusterRole of yaml/rbac.yaml (a TokenRequest token; the sandbox enforces RBAC), which \
         grants `patch` on documents/status but not on documents. Watch 403s and status writes.",
    );
    let demo = Demo::start(logs, true).await?;
    demo.create_docs("guarded", 3).await?;
    let kube = demo.service_account(true).await?;
    println!("sandbox   ClusterRoleBinding doc-controller → ClusterRole doc-controller");
    let probes = [
        Probe::Count(
            "403 answers",
            "doc_controller_api_requests_total",
            &["code=\"403\""],
        ),
        Probe::Count("status writes", "doc_controller_status_patches_total", &[]),
        Probe::Docs("ready", DocState::Current),
        Probe::Logs("403 log lines", "403"),
    ];

    on(
        &[fault],
        "Status goes to the Document itself instead of its /status.",
    );
    let c = demo
        .controller_as(Demo::config(&[fault]), kube.clone())
        .await?;
    Table::new(&probes, &demo)
        .run(&c.target, Duration::from_secs(12), idle)
        .await?;
    if let Some(line) = logs.last_short("is forbidden", 400) {
        note(&format!("a log line: {line}"));
    }
    note(
        "finalizers and ConfigMaps are written (granted), the status never: each Document is \
         retried with a slow backoff (a 403 waits for a human), so the 403s grow slowly.",
    );
    c.stop().await?;

    off("Same ServiceAccount, same ClusterRole.");
    let c = demo.controller_as(Demo::config(&[]), kube).await?;
    Table::new(&probes, &demo)
        .run(&c.target, Duration::from_secs(8), idle)
        .await?;
    note("status through the status subresource, which the RBAC grants: every Document Ready.");
    c.stop().await?;
    outro(fault);
    Ok(())
}
