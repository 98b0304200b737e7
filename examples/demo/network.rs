//! An API server the controller cannot reach: api-unreachable.

use crate::harness::{Demo, Logs, Res};
use crate::loops::{off, on};
use crate::table::{DocState, Probe, Table, http_get, idle};
use crate::{intro, note, outro};
use doc_controller::fault::Fault;
use std::time::Duration;

/// The demo's deadline for an API answer, short so that a phase shows several (default 30 s).
const API_TIMEOUT: Duration = Duration::from_secs(2);

/// The demo of `api-unreachable`.
pub async fn api_unreachable(logs: &Logs) -> Res {
    let fault = Fault::ApiUnreachable;
    intro(
        fault,
        "3 Documents. The controller runs as the doc-controller ServiceAccount with \
         --api-timeout 2s (the default is 30s) so that each phase shows several deadlines. \
         Phase 1: every request is swallowed inside the process. Phase 2: the toggle off, then \
         a real outage: at t=4s the sandbox stops answering the controller (server fault hang, \
         for its ServiceAccount only) and cuts the open watches; at t=14s it answers again.",
    );
    let demo = Demo::start(logs, fault, true).await?;
    demo.create_docs("remote", 3).await?;
    let config = |faults: &[Fault]| doc_controller::Config {
        api_timeout: API_TIMEOUT,
        ..Demo::config(faults)
    };
    let probes = [
        Probe::Readyz("/readyz"),
        Probe::Count(
            "timeouts",
            "doc_controller_api_requests_total",
            &["code=\"timeout\""],
        ),
        Probe::Count("API requests", "doc_controller_api_requests_total", &[]),
        Probe::Logs("'did not answer' logs", "did not answer within"),
        Probe::Healthz("/healthz"),
        Probe::Docs("ready", DocState::Current),
    ];

    on(
        &[fault],
        "Nothing leaves the process; the deadline turns each silent request into an error.",
    );
    let c = demo.controller(config(&[fault])).await?;
    Table::new(&probes, &demo)
        .run(&c.target, Duration::from_secs(14), idle)
        .await?;
    if let Ok((code, reason)) = http_get(c.target.admin, "/readyz").await {
        note(&format!(
            "/readyz {code}: {}",
            reason.lines().collect::<Vec<_>>().join(" | ")
        ));
    }
    if let Some(line) = logs.last_short("did not answer within", 300) {
        note(&format!("a log line: {line}"));
    }
    note(
        "one attempt per deadline plus backoff (0.8 s, 1.6 s, 3.2 s, … with jitter), not a hot \
         loop; alive (/healthz 200, so no restarts) but not ready, and it says why. Without the \
         deadline the first request would wait forever: no error, no log line, a green probe.",
    );
    c.stop().await?;

    off("Then a real outage on the API server's side.");
    let c = demo.controller(config(&[])).await?;
    let probes = [
        Probe::Readyz("/readyz"),
        Probe::Count(
            "timeouts",
            "doc_controller_api_requests_total",
            &["code=\"timeout\""],
        ),
        Probe::Count(
            "watch errors",
            "doc_controller_watch_errors_total",
            &["reason=\"timeout\""],
        ),
        Probe::Docs("documents", DocState::All),
        Probe::Docs("ready", DocState::Current),
    ];
    let d = &demo;
    // The user the controller runs as: the hang spares the demo's own (admin) client.
    let user = Demo::user();
    let user = &user;
    let hang = std::sync::Arc::new(std::sync::Mutex::new(None));
    let outage = |tick: u32| {
        let hang = hang.clone();
        async move {
            let faults = d.sandbox.faults();
            match tick {
                2 => {
                    let id =
                        faults.set(kube_apiserver_sandbox::Fault::hang().for_user(user.as_str()));
                    faults.close_watches();
                    *hang.lock().unwrap_or_else(|e| e.into_inner()) = Some(id);
                    note("the API server stops answering the controller; open watches cut");
                }
                3 => {
                    d.create_docs("during-outage", 1).await?;
                    note("a Document created during the outage");
                }
                7 => {
                    if let Some(id) = hang.lock().unwrap_or_else(|e| e.into_inner()).take() {
                        faults.remove(id);
                    }
                    note("the API server answers again");
                }
                _ => {}
            }
            Ok(())
        }
    };
    Table::new(&probes, &demo)
        .run(&c.target, Duration::from_secs(24), outage)
        .await?;
    note(
        "the outage shows as counted timeouts and a 503 with the reason; the first answer makes \
         the controller ready again, the watches resume with backoff, and the Document created \
         meanwhile is published without a restart.",
    );
    c.stop().await?;
    outro(fault);
    Ok(())
}
