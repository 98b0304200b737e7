//! Replicas: two and three controller processes (the binary, as deployed, each with its own
//! `--identity`) share one Lease; the leader is stopped with SIGTERM, killed with SIGKILL, or cut
//! off from the API server, and after each exactly one process writes.
//!
//! # What is checked where
//! * **Who leads**, on both: each process's `doc_controller_leader` and `/readyz`, and the Lease
//!   itself, read every 100 ms by the test (its holder history, `leaseTransitions`,
//!   `acquireTime`/`renewTime`).
//! * **Handover times**, on both: from the signal (or the cut) until the new leader's
//!   `doc_controller_leader` is 1, printed, and bounded by what the configured durations imply,
//!   with room for a loaded machine (never tighter). After a SIGKILL the Lease shows the safety
//!   bound itself: the new holder's `acquireTime` is at least a lease duration after the old
//!   holder's last `renewTime` (both written by processes on this machine, one clock).
//! * **Who wrote**, from the API server's side:
//!   - on the sandbox, its audit log ([`kube_apiserver_sandbox::Sandbox::audit`]): every write the controllers'
//!     ServiceAccount made, with its `User-Agent`, which carries the process's identity. The
//!     writes of the replicas never interleave: each identity's writes form one run, in the
//!     order of the terms (so no Document, ConfigMap or index is written by two processes at
//!     once);
//!   - on a real cluster (and the sandbox), the Events: each Document's `Published` Event is
//!     there once, reported (`reportingInstance`) by the replica that led when it was created.
//! * **One identity twice** (a misconfiguration the default, the host name, allows on one host):
//!   the processes end with one leader.

mod support;

use doc_controller::Document;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::events::v1::Event;
use kube::api::{Api, ListParams};
use kube_apiserver_sandbox::testkit::Wait;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::proxy::Proxy;
use support::{Binary, Env, TestNamespace, create, deployed, doc, eventually, ready_as, wait_for};

/// The Lease the controllers share (the default `--lease-name`).
const LEASE: &str = "doc-controller";

/// A standby looks again between one and this many retry periods later (client-go's jitter).
const JITTER: f64 = 1.0 + doc_controller::leader::settings::JITTER_FACTOR;

/// Room for a loaded machine on top of what the durations imply: requests, process start-up,
/// the test's own polling. Generous on purpose: these bounds say "a retry period, not a lease
/// duration" and "a lease duration, not forever", not how fast this machine is.
const SLACK: Duration = Duration::from_secs(5);

/// The election's timings for one test.
#[derive(Clone, Copy)]
struct Timings {
    lease_duration: Duration,
    renew_deadline: Duration,
    retry_period: Duration,
}

/// Short, for the tests that wait a lease duration out (client-go's checks hold: 4 s > 1.2 × 1 s,
/// 6 s > 4 s).
const SHORT: Timings = Timings {
    lease_duration: Duration::from_secs(6),
    renew_deadline: Duration::from_secs(4),
    retry_period: Duration::from_secs(1),
};

/// The shipped lease duration and renew deadline, with a 1 s retry period: a released Lease is
/// taken within 2.2 s, where waiting it out would take 14 s or more.
const RELEASED: Timings = Timings {
    lease_duration: Duration::from_secs(15),
    renew_deadline: Duration::from_secs(10),
    retry_period: Duration::from_secs(1),
};

impl Timings {
    fn args(&self) -> Vec<String> {
        let d = |d: Duration| humantime::format_duration(d).to_string();
        vec![
            format!("--lease-duration={}", d(self.lease_duration)),
            format!("--renew-deadline={}", d(self.renew_deadline)),
            format!("--retry-period={}", d(self.retry_period)),
        ]
    }

    /// The longest a standby waits between two looks.
    fn longest_look(&self) -> Duration {
        self.retry_period.mul_f64(JITTER)
    }
}

/// One controller process and its identity.
struct Replica {
    name: &'static str,
    binary: Binary,
}

impl Replica {
    async fn start(
        env: &Env,
        ns: &TestNamespace,
        installed: &deployed::Installed,
        name: &'static str,
        timings: Timings,
        proxy: Option<&Proxy>,
    ) -> Replica {
        let mut args = timings.args();
        args.push(format!("--identity={name}"));
        let binary = Binary::start_as(
            env,
            ns,
            installed.clone(),
            &[("RUST_LOG", "info,kube=warn")],
            &args,
            proxy,
        )
        .await;
        Replica { name, binary }
    }

    async fn leads(&self) -> bool {
        self.binary.metric("doc_controller_leader", &[]).await == 1.0
    }

    async fn reconciles(&self) -> f64 {
        self.binary
            .metric("doc_controller_reconcile_total", &[])
            .await
    }
}

/// Waits until `replica` leads and returns how long that took from `since`.
async fn leads_after(replica: &Replica, since: Instant, within: Duration) -> Duration {
    Wait::new(format!("{} to lead", replica.name))
        .timeout(within)
        .until(|| replica.leads())
        .await
        .unwrap_or_else(|e| panic!("{e}; its log:\n{}", replica.binary.logs()));
    since.elapsed()
}

/// Waits until `replica` is ready and a standby under `leader`, as its `/readyz` says.
async fn standby_under(replica: &Replica, leader: &str) {
    eventually(&format!("{} ready as a standby", replica.name), || async {
        let (code, body) = replica.binary.readyz().await;
        (code == 200 && body.ends_with(&format!("standby: the leader is {leader}"))).then_some(())
    })
    .await;
    assert!(!replica.leads().await, "{} leads too", replica.name);
}

// === the Lease, as the test sees it ===

/// One state of the Lease, as first seen.
#[derive(Clone, Debug, PartialEq)]
struct Seen {
    holder: Option<String>,
    acquired: Option<k8s_openapi::jiff::Timestamp>,
    renewed: Option<k8s_openapi::jiff::Timestamp>,
    transitions: Option<i32>,
}

/// Every state of the Lease seen, read every 100 ms until dropped.
struct LeaseHistory {
    seen: Arc<Mutex<Vec<Seen>>>,
    task: tokio::task::JoinHandle<()>,
}

impl LeaseHistory {
    fn follow(env: &Env, ns: &TestNamespace) -> LeaseHistory {
        let api: Api<Lease> = Api::namespaced(env.client.clone(), ns.name());
        let seen = Arc::new(Mutex::new(Vec::<Seen>::new()));
        let record = seen.clone();
        let task = tokio::spawn(async move {
            loop {
                if let Ok(Some(lease)) = api.get_opt(LEASE).await {
                    let spec = lease.spec.unwrap_or_default();
                    let now = Seen {
                        holder: spec.holder_identity.filter(|h| !h.is_empty()),
                        acquired: spec.acquire_time.map(|t| t.0),
                        renewed: spec.renew_time.map(|t| t.0),
                        transitions: spec.lease_transitions,
                    };
                    let mut seen = record.lock().unwrap_or_else(|e| e.into_inner());
                    if seen.last() != Some(&now) {
                        seen.push(now);
                    }
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        });
        LeaseHistory { seen, task }
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The holders in the order they held it, a release (no holder) included as `None`.
    fn holders(&self) -> Vec<Option<String>> {
        let mut holders: Vec<Option<String>> = Vec::new();
        for seen in self.seen() {
            if holders.last() != Some(&seen.holder) {
                holders.push(seen.holder);
            }
        }
        holders
    }

    /// The last state seen.
    fn last(&self) -> Seen {
        self.seen().last().cloned().expect("the Lease was seen")
    }
}

impl Drop for LeaseHistory {
    fn drop(&mut self) {
        self.task.abort();
    }
}

// === who wrote ===

/// The identity in a controller's User-Agent, `doc-controller/0.1.0 (<identity>)`.
fn identity_of(user_agent: &str) -> Option<&str> {
    user_agent
        .rsplit_once('(')
        .and_then(|(_, rest)| rest.strip_suffix(')'))
}

/// On the sandbox: the runs of identities among every successful write the controllers made,
/// outside the Lease, in the order the API server answered them (one run per term), with each
/// run's writes; on a real cluster `None` (no audit log to read).
fn writer_runs(
    env: &Env,
    user: &str,
) -> Option<Vec<(String, Vec<kube_apiserver_sandbox::AuditEntry>)>> {
    let sandbox = env.sandbox()?;
    let mut runs: Vec<(String, Vec<kube_apiserver_sandbox::AuditEntry>)> = Vec::new();
    for entry in sandbox.audit() {
        if entry.user != user || entry.resource == "leases" || !entry.succeeded() {
            continue;
        }
        let identity = identity_of(&entry.user_agent)
            .unwrap_or("<no identity>")
            .to_string();
        match runs.last_mut() {
            Some((last, writes)) if *last == identity => writes.push(entry),
            _ => runs.push((identity, vec![entry])),
        }
    }
    Some(runs)
}

/// Asserts that the controllers' writes came from `expected` terms, one run each, in order: no
/// write of one replica between two of another, so no object was written by two at once.
fn assert_writers(env: &Env, user: &str, expected: &[&str]) {
    let Some(runs) = writer_runs(env, user) else {
        return;
    };
    let order: Vec<&str> = runs.iter().map(|(identity, _)| identity.as_str()).collect();
    assert_eq!(
        order,
        expected,
        "the writers in the API server's audit log, run by run ({} writes)",
        runs.iter().map(|(_, w)| w.len()).sum::<usize>()
    );
    for pair in runs.windows(2) {
        let (before, after) = (&pair[0], &pair[1]);
        let (last, first) = (
            before.1.last().expect("a run has writes"),
            after.1.first().expect("a run has writes"),
        );
        let gap = first
            .received
            .duration_since(last.answered)
            .unwrap_or_default();
        eprintln!(
            "audit: {} wrote {} times, its last write answered {:.2} s before {}'s first arrived",
            before.0,
            before.1.len(),
            gap.as_secs_f64(),
            after.0
        );
    }
}

/// The `reportingInstance`s of the `Published` Events of each Document.
async fn published_by(env: &Env, ns: &TestNamespace) -> BTreeMap<String, Vec<String>> {
    let events: Api<Event> = Api::namespaced(env.client.clone(), ns.name());
    let mut by = BTreeMap::<String, Vec<String>>::new();
    for event in events
        .list(&ListParams::default())
        .await
        .expect("events listed")
        .items
    {
        if event.reason.as_deref() != Some("Published") {
            continue;
        }
        let about = event.regarding.and_then(|r| r.name).unwrap_or_default();
        by.entry(about)
            .or_default()
            .push(event.reporting_instance.unwrap_or_default());
    }
    by
}

/// Creates Documents `<prefix>-0..n`, waits until each is published, and until each has its
/// one `Published` Event, reported by `leader`.
async fn published_by_one(env: &Env, ns: &TestNamespace, prefix: &str, n: usize, leader: &str) {
    let docs: Api<Document> = Api::namespaced(env.client.clone(), ns.name());
    for i in 0..n {
        create(&docs, &doc(&format!("{prefix}-{i}"), "Title", "words")).await;
    }
    for i in 0..n {
        wait_for(&docs, &format!("{prefix}-{i}"), ready_as("Published")).await;
    }
    let by = eventually("a Published Event for each Document", || async {
        let by = published_by(env, ns).await;
        (0..n)
            .all(|i| by.contains_key(&format!("{prefix}-{i}")))
            .then_some(by)
    })
    .await;
    for i in 0..n {
        let name = format!("{prefix}-{i}");
        assert_eq!(
            by[&name],
            vec![leader.to_string()],
            "{name}: one Published Event, from the leader"
        );
    }
}

// === the tests ===

#[tokio::test]
async fn two_replicas_one_leads_and_on_sigterm_the_standby_takes_over_within_a_retry_period() {
    let env = Env::new().await;
    let ns = env.namespace().await;
    let installed = deployed::install(&env, &ns).await;
    let history = LeaseHistory::follow(&env, &ns);
    let a = Replica::start(&env, &ns, &installed, "replica-a", RELEASED, None).await;
    leads_after(&a, Instant::now(), support::TIMEOUT).await;
    let b = Replica::start(&env, &ns, &installed, "replica-b", RELEASED, None).await;
    standby_under(&b, "replica-a").await;
    published_by_one(&env, &ns, "before", 3, "replica-a").await;
    assert_eq!(b.reconciles().await, 0.0, "a standby reconciles nothing");

    let signalled = Instant::now();
    a.binary.terminate().await;
    let handover = leads_after(&b, signalled, RELEASED.lease_duration).await;
    let mut a = a;
    assert_eq!(
        a.binary.exited_within(support::TIMEOUT).await,
        Some(Some(0)),
        "{}",
        a.binary.logs()
    );
    eprintln!(
        "SIGTERM handover: {:.2} s (retry period {:?}, lease duration {:?})",
        handover.as_secs_f64(),
        RELEASED.retry_period,
        RELEASED.lease_duration
    );
    // Released: taken at the standby's next look. Waited out, it could not be earlier than
    // the lease duration minus one renewal period after the signal.
    let bound = RELEASED.longest_look() + SLACK;
    assert!(
        handover < bound && bound < RELEASED.lease_duration - RELEASED.retry_period,
        "took {handover:?}, more than {bound:?}"
    );
    published_by_one(&env, &ns, "after", 2, "replica-b").await;

    assert!(
        a.binary.logs().contains("released the Lease"),
        "{}",
        a.binary.logs()
    );
    let holders = history.holders();
    assert_eq!(
        holders,
        [Some("replica-a".into()), None, Some("replica-b".into())],
        "created by a, released by a, taken by b"
    );
    assert_eq!(history.last().transitions, Some(1));
    assert_writers(&env, &installed.user, &["replica-a", "replica-b"]);
    let (code, _) = b.binary.stop().await;
    assert_eq!(code, Some(0));
}

#[tokio::test]
async fn of_three_replicas_exactly_one_replaces_a_killed_leader_and_not_before_its_lease_expired() {
    let env = Env::new().await;
    let ns = env.namespace().await;
    let installed = deployed::install(&env, &ns).await;
    let history = LeaseHistory::follow(&env, &ns);
    let a = Replica::start(&env, &ns, &installed, "replica-a", SHORT, None).await;
    leads_after(&a, Instant::now(), support::TIMEOUT).await;
    let b = Replica::start(&env, &ns, &installed, "replica-b", SHORT, None).await;
    let c = Replica::start(&env, &ns, &installed, "replica-c", SHORT, None).await;
    standby_under(&b, "replica-a").await;
    standby_under(&c, "replica-a").await;
    published_by_one(&env, &ns, "first", 3, "replica-a").await;

    let killed = Instant::now();
    a.binary.kill().await;
    // Whichever standby looks first after the lease ran out takes it; the other stays one.
    let bound = SHORT.lease_duration + SHORT.longest_look() * 2 + SLACK;
    let b_leads = Wait::new("a standby to take over")
        .timeout(bound)
        .until(|| async {
            if b.leads().await {
                Some(true)
            } else {
                c.leads().await.then_some(false)
            }
        })
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let handover = killed.elapsed();
    let (leader, other) = if b_leads { (b, c) } else { (c, b) };
    eprintln!(
        "SIGKILL handover: {:.2} s to {} (lease duration {:?}, retry period {:?})",
        handover.as_secs_f64(),
        leader.name,
        SHORT.lease_duration,
        SHORT.retry_period
    );
    // Never before the lease could have expired: the new holder's acquireTime is a lease
    // duration or more after the killed holder's last renewTime.
    let seen = eventually("the Lease with its new holder", || async {
        let seen = history.seen();
        seen.iter()
            .any(|s| s.holder.as_deref() == Some(leader.name))
            .then_some(seen)
    })
    .await;
    let last_renewal = seen
        .iter()
        .filter(|s| s.holder.as_deref() == Some("replica-a"))
        .filter_map(|s| s.renewed)
        .max()
        .expect("replica-a renewed");
    let acquired = seen
        .iter()
        .find(|s| s.holder.as_deref() == Some(leader.name))
        .and_then(|s| s.acquired)
        .expect("the new holder's acquireTime");
    let gap = acquired.duration_since(last_renewal);
    eprintln!(
        "the Lease: {} acquired {:.2} s after replica-a's last renewal",
        leader.name,
        gap.as_secs_f64()
    );
    assert!(
        gap >= k8s_openapi::jiff::SignedDuration::try_from(SHORT.lease_duration)
            .expect("a small duration"),
        "taken over {gap:?} after the last renewal, before the lease duration"
    );

    standby_under(&other, leader.name).await;
    published_by_one(&env, &ns, "second", 3, leader.name).await;
    assert_eq!(
        other.reconciles().await,
        0.0,
        "the other standby reconciles nothing"
    );

    // And once more with the two that are left: SIGTERM, released, taken at once.
    let signalled = Instant::now();
    leader.binary.terminate().await;
    let handover = leads_after(&other, signalled, SHORT.lease_duration).await;
    eprintln!(
        "SIGTERM handover: {:.2} s to {}",
        handover.as_secs_f64(),
        other.name
    );
    published_by_one(&env, &ns, "third", 2, other.name).await;
    assert_writers(
        &env,
        &installed.user,
        &["replica-a", leader.name, other.name],
    );
    assert_eq!(
        history.last().transitions,
        Some(2),
        "{:?}",
        history.holders()
    );
    let (code, _) = other.binary.stop().await;
    assert_eq!(code, Some(0));
}

#[tokio::test]
async fn a_leader_cut_off_from_the_api_server_stops_writing_before_a_standby_takes_over() {
    let env = Env::new().await;
    let ns = env.namespace().await;
    let installed = deployed::install(&env, &ns).await;
    let history = LeaseHistory::follow(&env, &ns);
    let proxy = Proxy::start(&env.kube_config()).await;
    let a = Replica::start(&env, &ns, &installed, "replica-a", SHORT, Some(&proxy)).await;
    leads_after(&a, Instant::now(), support::TIMEOUT).await;
    let b = Replica::start(&env, &ns, &installed, "replica-b", SHORT, None).await;
    standby_under(&b, "replica-a").await;
    published_by_one(&env, &ns, "before", 3, "replica-a").await;

    // Every connection of replica-a hangs from now on: nothing it sends arrives.
    let cut = Instant::now();
    proxy.hang();
    proxy.cut();
    let mut a_stopped = None;
    let mut b_started = None;
    let bound = SHORT.lease_duration + SHORT.longest_look() * 2 + SLACK;
    while b_started.is_none() {
        assert!(cut.elapsed() < bound, "no handover within {bound:?}");
        if a_stopped.is_none() && !a.leads().await {
            a_stopped = Some(cut.elapsed());
        }
        if b.leads().await {
            b_started = Some(cut.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (a_stopped, b_started) = (
        a_stopped.expect("replica-a stopped leading before replica-b started"),
        b_started.expect("replica-b leads"),
    );
    eprintln!(
        "cut off: replica-a stopped leading {:.2} s after the cut (renew deadline {:?}), \
         replica-b took over {:.2} s after it (lease duration {:?})",
        a_stopped.as_secs_f64(),
        SHORT.renew_deadline,
        b_started.as_secs_f64(),
        SHORT.lease_duration
    );
    assert!(a_stopped < b_started);
    assert!(
        a_stopped <= SHORT.renew_deadline + SLACK,
        "replica-a stops writing by its renew deadline"
    );
    assert_eq!(
        a.binary
            .metric(
                "doc_controller_leader_transitions_total",
                &[("transition", "lost")]
            )
            .await,
        1.0
    );

    // While replica-a is still cut off, replica-b does the work; then replica-a reconnects, sees
    // replica-b's Lease, and stays a standby: it never writes again.
    published_by_one(&env, &ns, "during", 2, "replica-b").await;
    proxy.pass();
    standby_under(&a, "replica-b").await;
    published_by_one(&env, &ns, "after", 2, "replica-b").await;
    assert_writers(&env, &installed.user, &["replica-a", "replica-b"]);
    assert_eq!(
        history.holders(),
        [Some("replica-a".into()), Some("replica-b".into())]
    );
    let (code, logs) = a.binary.stop().await;
    assert_eq!(code, Some(0), "{logs}");
    assert!(logs.contains("stopped leading"), "{logs}");
    let (code, _) = b.binary.stop().await;
    assert_eq!(code, Some(0));
}

#[tokio::test]
async fn two_processes_started_with_one_identity_end_with_one_leader() {
    let env = Env::new().await;
    let ns = env.namespace().await;
    // Both as `--identity same`, as two local runs on one host with the default (the host
    // name) would be.
    let same = || doc_controller::Config {
        leader_election: doc_controller::leader::Settings {
            identity: Some("same".into()),
            lease_duration: SHORT.lease_duration,
            renew_deadline: SHORT.renew_deadline,
            retry_period: SHORT.retry_period,
            ..Default::default()
        },
        ..Default::default()
    };
    let first = support::Controller::start(&env, &ns, same()).await;
    eventually("the first leads", || async {
        controller_leads(&first).await.then_some(())
    })
    .await;
    // The second finds the Lease under its own name and takes it back, as a restarted Pod
    // would; the first then finds a record it did not write under its name, and steps down.
    let second = support::Controller::start(&env, &ns, same()).await;
    eventually("exactly one leads, the second", || async {
        (!controller_leads(&first).await && controller_leads(&second).await).then_some(())
    })
    .await;
    tokio::time::sleep(SHORT.longest_look() * 2).await;
    assert!(!controller_leads(&first).await, "the first stays a standby");
    assert!(controller_leads(&second).await, "the second keeps leading");
    assert_eq!(
        first
            .metric(
                "doc_controller_leader_transitions_total",
                &[("transition", "lost")]
            )
            .await,
        1.0
    );
}

/// Whether an in-process controller says it leads.
async fn controller_leads(c: &support::Controller) -> bool {
    c.metric("doc_controller_leader", &[]).await == 1.0
}
