//! Watches that do not recover and errors nobody sees: no-bookmarks, forbidden-watch, no-backoff,
//! skip-preflight, silent-watch-errors, crash-on-error; and forbidden-patch, the write RBAC does not
//! grant.

use crate::harness::{Child, Demo, Logs, NS, Res};
use crate::loops::{live_off, live_on, off, on};
use crate::table::{DocState, Probe, Table, idle};
use crate::{intro, note, outro, para, phase};
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
    let builder =
        kube_apiserver_sandbox::Sandbox::builder().bookmark_interval(Duration::from_secs(1));
    let demo = Demo::start_with(builder, logs, fault, true).await?;
    demo.create_docs("quiet", 3).await?;
    demo.server_fault(json!({ "type": "compactEvery", "seconds": 2.0 }))
        .await?;
    println!("sandbox   server fault: compactEvery 2 s; bookmarks every 1 s");
    let mut kube = demo.identity.kube_config(&demo.sandbox);
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
            "a controller in this process, as deployed, with --fault no-bookmarks --fault \
             unpaged-initial-list (restarted: both are restart-only toggles).",
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
            "3 Documents in {NS}. The namespace-only install of yaml/faults/forbidden-watch.yaml: \
             the shipped ClusterRole bound by a RoleBinding in {NS} instead of cluster-wide (the \
             sandbox enforces RBAC), and the controller configured with --namespace {NS}, the \
             right way for it. Watch 403s."
        ),
    );
    let demo = Demo::start(logs, fault, true).await?;
    demo.create_docs("guarded", 3).await?;
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

    on(
        &[fault],
        &format!("--namespace {NS}, but the Document watch goes to cluster scope."),
    );
    let c = demo.controller(config(&[fault])).await?;
    Table::new(&probes, &demo)
        .run(&c.target, Duration::from_secs(12), idle)
        .await?;
    if let Some(line) = logs.last_short("403", 400) {
        note(&format!("a log line: {line}"));
    }
    note("retried with backoff forever; nothing is reconciled, /readyz stays 503.");
    c.stop().await?;

    off("Same ServiceAccount, same RoleBinding.");
    let c = demo.controller(config(&[])).await?;
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

/// The note of a demo whose controller runs with its RBAC revoked.
const REVOKED: &str = "The controller's RBAC is revoked (its ClusterRoleBinding deleted after \
     yaml/rbac.yaml was applied), so every request it makes is answered 403, on any API server; \
     skip-preflight lets it start anyway (the preflight would stop it at the 403). With no RBAC \
     it cannot read doc-controller-config either, so its toggles are set at start.";

/// The demo of `no-backoff`.
pub async fn no_backoff(logs: &Logs) -> Res {
    let fault = Fault::NoBackoff;
    intro(
        fault,
        &format!(
            "3 Documents. {REVOKED} Watch the error rate; in phase 2 the RBAC is given back at \
             t=6s."
        ),
    );
    let demo = Demo::start(logs, fault, true).await?;
    demo.create_docs("late", 3).await?;
    demo.revoke_rbac().await?;
    let probes = [
        Probe::Count(
            "document watch errors",
            "doc_controller_watch_errors_total",
            &["resource=\"documents\""],
        ),
        Probe::Count(
            "403 answers",
            "doc_controller_api_requests_total",
            &["code=\"403\""],
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
         line for each: a controller hammering an API server that is already refusing it.",
    );
    c.stop().await?;

    off("skip-preflight stays on; the RBAC is given back at t=6s.");
    let c = demo
        .controller(Demo::config(&[Fault::SkipPreflight]))
        .await?;
    let d = &demo;
    let restore = move |tick: u32| async move {
        if tick == 3 {
            d.restore_rbac().await?;
        }
        Ok(())
    };
    Table::new(&probes, &demo)
        .run(&c.target, Duration::from_secs(16), restore)
        .await?;
    note(
        "retries slow down exponentially (with jitter), and the watch recovers on its own once \
         the RBAC is back: every Document Ready.",
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
        "a sandbox WITHOUT the Document CRD (sandbox only: removing it from a cluster deletes \
         every Document). Watch what the controller does about it.",
    );
    let demo = Demo::start(logs, fault, false).await?;
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
        "run the install command (here: doc_controller::document::install), create 3 Documents, \
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
        &format!(
            "{REVOKED} The controller runs as the doc-controller binary (a child process) so \
             its own log output is what you read. Watch the error counter next to the log lines."
        ),
    );
    let demo = Demo::start(logs, fault, true).await?;
    demo.revoke_rbac().await?;
    let probes = [
        Probe::Count(
            "watch errors (metric)",
            "doc_controller_watch_errors_total",
            &[],
        ),
        Probe::Logs("controller's WARNs", "watch error, retrying"),
        Probe::Logs("kube-runtime's WARNs", KUBE_403),
        Probe::Readyz("/readyz"),
    ];

    phase(
        "phase 1: fault ON",
        "doc-controller --fault skip-preflight --fault silent-watch-errors (a child process, \
         as deployed, with the Deployment's RUST_LOG=info,kube=warn).",
    );
    let child = Child::spawn(
        &demo,
        &["--fault", "skip-preflight", "--fault", fault.name()],
    )
    .await?;
    Table::new(&probes, &demo)
        .run(&child.target, Duration::from_secs(10), idle)
        .await?;
    note(
        "the controller says nothing about its failing watches; only the metric tells. What is \
         left in the log is kube-runtime's own WARN, which kube writes for a 403 only (any other \
         watch error, a 404, a 410, a timeout, is at debug, and the log is clean):",
    );
    if let Some(line) = child.target.logs.last_short(KUBE_403, 240) {
        para("", &line);
    }
    child.stop().await?;

    phase(
        "phase 2: fault OFF",
        "doc-controller --fault skip-preflight (a new child process).",
    );
    let child = Child::spawn(&demo, &["--fault", "skip-preflight"]).await?;
    Table::new(&probes, &demo)
        .run(&child.target, Duration::from_secs(10), idle)
        .await?;
    if let Some(line) = child.target.logs.last_short("watch error, retrying", 400) {
        note(&format!(
            "the controller's own line, with the resource and the reason: {line}"
        ));
    }
    child.stop().await?;
    outro(fault);
    Ok(())
}

/// What kube-runtime's watcher logs (at WARN) for a 403, whatever the controller does.
const KUBE_403: &str = "error with 403";

/// The demo of `crash-on-error`.
pub async fn crash_on_error(logs: &Logs) -> Res {
    let fault = Fault::CrashOnError;
    intro(
        fault,
        &format!(
            "3 Documents. {REVOKED} The watch hits a soft error (403) at once. The controller \
             runs as the doc-controller binary; the demo restarts it when it exits, with a \
             growing delay, as the kubelet does (CrashLoopBackOff). In phase 2 the RBAC is given \
             back at t=6s."
        ),
    );
    let demo = Demo::start(logs, fault, true).await?;
    demo.create_docs("survivor", 3).await?;
    demo.revoke_rbac().await?;

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
        let pid = child.target.pid.unwrap_or_default();
        match child.exited_within(Duration::from_secs(5)).await {
            Some(code) => {
                println!(
                    "  {:>4}s  pid {pid} exited with code {} after {} ms (restarts {restarts})",
                    started.elapsed().as_secs(),
                    code.map_or("none".into(), |c| c.to_string()),
                    run.elapsed().as_millis(),
                );
                para(
                    "",
                    &format!(
                        "last log line: {}",
                        child.target.logs.last_short("", 200).unwrap_or_default()
                    ),
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
        "doc-controller --fault skip-preflight (still no RBAC); the RBAC is given back at t=6s.",
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
    let restore = move |tick: u32| async move {
        if tick == 3 {
            d.restore_rbac().await?;
        }
        Ok(())
    };
    Table::new(&probes, &demo)
        .run(&child.target, Duration::from_secs(20), restore)
        .await?;
    let pid = child.target.pid.unwrap_or_default();
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
        "3 published Documents, and 3 more created right after the switch. The shipped \
         ClusterRole grants `patch` on documents/status but not on documents (the sandbox \
         enforces RBAC). Watch 403s and status writes.",
    );
    let demo = Demo::start(logs, fault, true).await?;
    demo.create_docs("guarded", 3).await?;
    let probes = [
        Probe::Count(
            "403 answers",
            "doc_controller_api_requests_total",
            &["code=\"403\""],
        ),
        Probe::Count("status writes", "doc_controller_status_patches_total", &[]),
        Probe::Docs("documents", DocState::All),
        Probe::Docs("ready", DocState::Current),
        Probe::Logs("403 log lines", "403"),
    ];

    let c = demo.controller(Demo::config(&[])).await?;
    demo.wait_all_ready(Duration::from_secs(10)).await?;
    live_on(
        &[fault],
        "Status goes to the Document itself instead of its /status. The switch's reconciles \
         have no status to write (it is already right), so 3 new Documents are created at t=0.",
    );
    demo.set_live(&c.target, &[fault]).await?;
    let d = &demo;
    let newcomers = move |tick: u32| async move {
        if tick == 0 {
            d.create_docs("newcomer", 3).await?;
        }
        Ok(())
    };
    Table::new(&probes, &demo)
        .run(&c.target, Duration::from_secs(12), newcomers)
        .await?;
    if let Some(line) = logs.last_short("is forbidden", 400) {
        note(&format!("a log line: {line}"));
    }
    note(
        "finalizers and ConfigMaps are written (granted), the status never: each Document is \
         retried with a slow backoff (a 403 waits for a human), so the 403s grow slowly.",
    );

    live_off("");
    demo.set_live(&c.target, &[]).await?;
    Table::new(&probes, &demo)
        .run(&c.target, Duration::from_secs(8), idle)
        .await?;
    note(
        "the switch reconciled every Document at once, without waiting for their backoff: \
         status through the status subresource, which the RBAC grants: every Document Ready.",
    );
    c.stop().await?;
    outro(fault);
    Ok(())
}
