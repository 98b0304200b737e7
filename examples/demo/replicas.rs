//! Replicas without a leader election: no-leader-election.

use crate::harness::{Child, Demo, Logs, NS, Res, TICK};
use crate::table::{http_get, sum_metric};
use crate::{intro, note, outro, para, phase};
use doc_controller::fault::Fault;
use k8s_openapi::api::events::v1::Event;
use kube::api::{Api, ListParams};
use kube_apiserver_sandbox::testkit::Wait;
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

/// The Lease timings of the demo: client-go's defaults, as shipped.
const RETRY_PERIOD: Duration = Duration::from_secs(2);

/// The demo of `no-leader-election`.
pub async fn no_leader_election(logs: &Logs) -> Res {
    let fault = Fault::NoLeaderElection;
    intro(
        fault,
        "Two replicas of the doc-controller binary, as a Deployment with `replicas: 2` runs them: \
         the same ServiceAccount, each with its own --identity (a Pod's name). Phase 1: both with \
         the toggle: 4 new Documents, and each gets its Published Event twice, once per replica \
         (`reportingInstance`). Phase 2: without it: one replica leads, the other is a standby \
         (ready, caches warm, writes nothing); 4 more Documents get one Event each; then the \
         leader is stopped (SIGTERM) and the standby takes over within a couple of seconds.",
    );
    let demo = Demo::start(logs, fault, true).await?;

    phase(
        "phase 1: fault ON",
        "two binaries with --fault no-leader-election (restart-only: it decides at start whether \
         the process takes part in the election).",
    );
    let replicas = start(&demo, &["--fault=no-leader-election"]).await?;
    demo.create_docs("twice", 4).await?;
    watch(&demo, &replicas, "twice", Duration::from_secs(10)).await?;
    for (name, replica) in &replicas {
        findings(name, replica).await;
    }
    note(
        "both replicas reconcile every Document: each publishes the same Events (two \
         reportingInstances per Document) and sends the same writes; with a status or a \
         ConfigMap that is not deterministic they would overwrite each other.",
    );
    stop(replicas).await?;

    phase(
        "phase 2: fault OFF",
        "both stopped (SIGTERM), two new ones without the toggle: each takes part in the \
         election for the Lease doc-controller in `default`; the first to take it leads.",
    );
    let replicas = start(&demo, &[]).await?;
    demo.create_docs("once", 4).await?;
    watch(&demo, &replicas, "once", Duration::from_secs(8)).await?;
    let mut replicas = replicas;
    let leader = leader_index(&replicas).await.ok_or("no replica leads")?;
    let (_, standby) = &replicas[1 - leader];
    if let Ok((code, body)) = http_get(standby.target.admin, "/readyz").await {
        note(&format!(
            "the standby's /readyz {code}: {}",
            body.lines().collect::<Vec<_>>().join(" | ")
        ));
    }
    let (_, stopping) = replicas.remove(leader);
    let stopped_at = Instant::now();
    stopping.stop().await?;
    let (_, standby) = &replicas[0];
    let taken = Wait::new("the standby to lead")
        .timeout(Duration::from_secs(20))
        .until(|| leads(standby))
        .await
        .ok()
        .map(|()| stopped_at.elapsed());
    match taken {
        Some(after) => note(&format!(
            "the leader was stopped with SIGTERM: it finished its reconciles, released the Lease \
             (no holder, leaseDurationSeconds 1), and the standby took over {:.1} s after the \
             signal (its next look, one retry period of {} s with jitter), not a lease duration",
            after.as_secs_f64(),
            RETRY_PERIOD.as_secs()
        )),
        None => note("the standby did not take over within 20 s"),
    }
    demo.create_docs("after", 2).await?;
    watch(&demo, &replicas, "after", Duration::from_secs(6)).await?;
    stop(replicas).await?;
    outro(fault);
    Ok(())
}

/// Two replicas of the Deployment, by identity.
type Replicas = Vec<(&'static str, Child)>;

/// Starts `replica-a` and `replica-b` with `args`, one after the other, and waits until both
/// are ready.
async fn start(demo: &Demo, args: &[&str]) -> Res<Replicas> {
    let mut replicas = Vec::new();
    for name in ["replica-a", "replica-b"] {
        let identity = format!("--identity={name}");
        let mut all = vec![identity.as_str()];
        all.extend_from_slice(args);
        println!("{name}  doc-controller {}", all.join(" "));
        replicas.push((name, Child::spawn(demo, &all).await?));
    }
    Wait::new("both replicas to be ready")
        .timeout(Duration::from_secs(20))
        .interval(Duration::from_millis(100))
        .until(|| async {
            for (_, replica) in &replicas {
                let ready = http_get(replica.target.admin, "/readyz").await;
                if !matches!(ready, Ok((200, _))) {
                    return false;
                }
            }
            true
        })
        .await?;
    Ok(replicas)
}

async fn stop(replicas: Replicas) -> Res {
    for (_, replica) in replicas {
        replica.stop().await?;
    }
    Ok(())
}

/// Whether a replica says it leads (`doc_controller_leader`).
async fn leads(replica: &Child) -> bool {
    metric(replica, "doc_controller_leader").await == 1.0
}

async fn leader_index(replicas: &Replicas) -> Option<usize> {
    for (i, (_, replica)) in replicas.iter().enumerate() {
        if leads(replica).await {
            return Some(i);
        }
    }
    None
}

async fn metric(replica: &Child, name: &str) -> f64 {
    http_get(replica.target.admin, "/metrics")
        .await
        .map(|(_, body)| sum_metric(&body, name, &[]))
        .unwrap_or_default()
}

/// Prints, every tick for `duration`, what each replica does and the Events of the Documents
/// named `prefix-*`.
async fn watch(demo: &Demo, replicas: &Replicas, prefix: &str, duration: Duration) -> Res {
    let mut header = format!("  {:>5}", "t");
    for (name, _) in replicas {
        let short = name.trim_start_matches("replica-");
        header.push_str(&format!(
            "  {:>8}  {:>10}  {:>14}",
            format!("{short} leads"),
            format!("{short} reconc."),
            format!("{short} unleased")
        ));
    }
    header.push_str(&format!("  {:>16}  {:>9}", "Published Events", "instances"));
    println!("{header}");
    let started = Instant::now();
    loop {
        let mut line = format!("  {:>4}s", started.elapsed().as_secs());
        for (_, replica) in replicas {
            line.push_str(&format!(
                "  {:>8}  {:>10}  {:>14}",
                metric(replica, "doc_controller_leader").await,
                metric(replica, "doc_controller_reconcile_total").await,
                metric(replica, "doc_controller_writes_without_lease_total").await,
            ));
        }
        let (events, instances) = published(demo, prefix).await?;
        line.push_str(&format!(
            "  {:>16}  {:>9}",
            events,
            instances.iter().cloned().collect::<Vec<_>>().join(",")
        ));
        println!("{line}");
        if started.elapsed() + TICK > duration {
            return Ok(());
        }
        tokio::time::sleep(TICK).await;
    }
}

/// Published Events of the Documents `prefix-*`, and which replicas reported them.
async fn published(demo: &Demo, prefix: &str) -> Res<(usize, BTreeSet<String>)> {
    let events: Api<Event> = Api::namespaced(demo.client.clone(), NS);
    let mut per_document: BTreeMap<String, usize> = BTreeMap::new();
    let mut instances = BTreeSet::new();
    for event in events.list(&ListParams::default()).await?.items {
        let about = event
            .regarding
            .as_ref()
            .and_then(|r| r.name.clone())
            .unwrap_or_default();
        if event.reason.as_deref() == Some("Published") && about.starts_with(prefix) {
            *per_document.entry(about).or_default() += 1;
            instances.extend(event.reporting_instance.clone());
        }
    }
    Ok((per_document.values().sum(), instances))
}

/// Prints the findings a replica's `/diagnostics` shows raised.
async fn findings(name: &str, replica: &Child) {
    let Ok((_, body)) = http_get(replica.target.admin, "/diagnostics").await else {
        return;
    };
    let Ok(report) = serde_json::from_str::<doc_controller::diagnosis::report::Diagnostics>(&body)
    else {
        return;
    };
    for finding in report.active() {
        para(
            "  finding",
            &format!(
                "{name}: {}: {} ({}). Fix: {}",
                finding.finding,
                finding.evidence.join("; "),
                finding.likely_cause.clone().unwrap_or_default(),
                finding.fix
            ),
        );
    }
}
