//! Survives faults, loses nothing: the controller through what a production cluster does to it.
//!
//! | case | fault | what must hold |
//! |---|---|---|
//! | [`api_server_restarts`] | the API server restarted mid-convergence (sandbox only) | every Document converges; no panic; requests during each outage within the backoff's bound |
//! | [`sigkills`] | the controller SIGKILLed at random points of reconciles and deletions | no Document gone with its index entry still listed; none stuck; the index lists exactly the published ones |
//! | [`throttling_storm`] | 429s for every request over a small rate | recovers by itself; 429s within the bound `Retry-After` allows |
//! | [`rbac_revoked`] | the ClusterRoleBinding deleted, then re-created | recovers by itself; requests within the backoff's bound |
//! | [`invalid_documents`] | Documents the schema admits and the controller rejects, at volume | each `Ready=False` `InvalidSpec` with exactly one Warning Event; no reconciles while nothing changes |
//!
//! The controller runs as deployed: the `doc-controller` binary as a child process, as its
//! ServiceAccount with the shipped RBAC ([`support::Binary`]), so it can be killed, and its
//! figures come from its own `/metrics` ([`measure`]). Every case waits on conditions with a
//! deadline and stops by itself; the only plain waits are the faults' own durations.
//!
//! # Sizes
//! Each case runs at a smaller size in a plain `cargo test` (the whole workspace's tests must
//! stay within 20 minutes on a 2-core machine), and at full size as an ignored test, which
//! `.ci/run` runs: `cargo test --all-features --test survival -- --ignored --nocapture`.
//! The figures (`figure | case | what | value` lines, shown with `--nocapture`) of a full run are
//! the README's "Survives faults" table.

#[path = "../support/mod.rs"]
mod support;

mod churn;
mod documents;
mod measure;

use doc_controller::Document;
use doc_controller::document::status::{READY, reason};
use doc_controller::error::RetryClass;
use documents::{Documents, create_all, ordinary};
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::api::events::v1::Event;
use kube::ResourceExt;
use kube::api::{Api, ListParams};
use measure::{Interval, Sample, figure};
use serde_json::json;
use std::time::Duration;
use support::{Binary, DIAGNOSIS, Env, TestNamespace};
use tokio::time::Instant;

/// The longest any convergence may take after its fault, at the sizes here, on a slow machine;
/// what it took is a figure.
const CONVERGED_WITHIN: Duration = Duration::from_secs(600);

/// Creates happen this many at a time, as from a busy client.
const CREATES_IN_FLIGHT: usize = 16;

/// The controller as deployed, ready.
async fn controller(env: &Env, ns: &TestNamespace) -> Binary {
    let binary = Binary::start(env, ns, &[]).await;
    binary.wait_ready().await;
    binary
}

/// Keeps a controller's log output in the directory `DOC_CONTROLLER_SURVIVAL_LOGS` names, if
/// set (`<case>-<n>.log`), for a look at what happened; the tests check what they need of it.
fn keep_logs(case: &str, logs: &str) {
    let Some(dir) = std::env::var_os("DOC_CONTROLLER_SURVIVAL_LOGS") else {
        return;
    };
    let dir = std::path::PathBuf::from(dir);
    let stem: String = case
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    std::fs::create_dir_all(&dir).expect("the log directory can be created");
    let n = (1..)
        .find(|n| !dir.join(format!("{stem}-{n}.log")).exists())
        .unwrap_or(0);
    std::fs::write(dir.join(format!("{stem}-{n}.log")), logs).expect("the log is written");
}

/// Stops the controller gracefully and checks it never panicked and exits 0.
async fn stopped_cleanly(case: &str, binary: Binary) {
    let (code, logs) = binary.stop().await;
    keep_logs(case, &logs);
    assert!(
        !logs.contains("panicked"),
        "{case}: the controller panicked:\n{logs}"
    );
    assert_eq!(code, Some(0), "{case}: exit code; logs:\n{logs}");
}

// === API server restarts ===

/// How many Documents converge through how many restarts, each down how long.
struct Restarts {
    documents: usize,
    restarts: usize,
    down: Duration,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    real_cluster,
    ignore = "restarting the API server on demand, keeping its data, is a sandbox hook"
)]
async fn documents_converge_through_api_server_restarts_without_a_request_storm() {
    api_server_restarts(Restarts {
        documents: 300,
        restarts: 2,
        down: Duration::from_secs(2),
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    real_cluster,
    ignore = "restarting the API server on demand, keeping its data, is a sandbox hook"
)]
#[cfg_attr(
    not(real_cluster),
    ignore = "full size: .ci/run runs it (cargo test --test survival -- --ignored)"
)]
async fn two_thousand_documents_converge_through_five_api_server_restarts() {
    api_server_restarts(Restarts {
        documents: 2000,
        restarts: 5,
        down: Duration::from_secs(5),
    })
    .await;
}

/// The API server restarted `size.restarts` times while `size.documents` Documents converge,
/// each time once a further share of them is created and the controller is converging again, so
/// every restart falls mid-convergence (checked: fewer than all are settled when it begins).
async fn api_server_restarts(size: Restarts) {
    let case = format!("restarts ({} Documents)", size.documents);
    let env = Env::new().await;
    let sandbox = env
        .sandbox()
        .expect("a sandbox (the test is ignored on a real cluster)");
    let ns = env.namespace().await;
    let binary = controller(&env, &ns).await;
    let docs = Documents::watch(&env, &ns).await;
    let started = Instant::now();
    let created = tokio::sync::watch::Sender::new(0);
    let creating = documents::create_counting(
        &docs.api,
        ordinary("doc", size.documents),
        CREATES_IN_FLIGHT,
        &created,
    );
    let restarting = async {
        let mut outages = Vec::new();
        let mut settled_last = 0;
        for restart in 1..=size.restarts {
            // Once a further share of them is created (1/6 .. 5/6 for 5 restarts), while the
            // user goes on creating the rest: the controller outruns any watch of the test's
            // (which backs off and relists after a restart too), so waiting for a share settled
            // could let a restart fall after all are.
            let share = size.documents * restart / (size.restarts + 1);
            tokio::time::timeout(
                CONVERGED_WITHIN,
                created.subscribe().wait_for(|created| *created >= share),
            )
            .await
            .unwrap_or_else(|_| panic!("{share} Documents created before restart {restart}"))
            .expect("the creates go on");
            // And once the controller is converging again since the last restart (more settled
            // than then), so that the restart cuts reconciles, not a controller still backing off
            // from the last one.
            docs.wait_until(
                &format!("more than {settled_last} Documents settled before restart {restart}"),
                CONVERGED_WITHIN,
                |d| d.iter().filter(|d| documents::settled(d)).count() > settled_last,
                documents::unsettled,
            )
            .await;
            let before = Sample::of(&binary).await;
            // Read fresh, not from the test's watch: what the restart really interrupts.
            let created_before = *created.borrow();
            let settled_before = documents::settled_now(&docs.api).await;
            settled_last = settled_before;
            sandbox
                .restart(size.down)
                .await
                .expect("the sandbox restarts");
            let outage = Interval {
                before,
                after: Sample::of(&binary).await,
            };
            let back = Instant::now();
            binary.wait_ready().await;
            outages.push((created_before, settled_before, outage, back.elapsed()));
        }
        outages
    };
    let ((), outages) = tokio::join!(creating, restarting);
    let last_back = Instant::now();
    docs.all_settled(size.documents, CONVERGED_WITHIN).await;
    let recovered = last_back.elapsed();
    documents::assert_published_as_specified(&env, &ns, &docs.now()).await;

    for (i, (created_before, settled_before, outage, ready_again)) in outages.iter().enumerate() {
        let restart = i + 1;
        // A restart that fell after convergence would prove nothing.
        assert!(
            *settled_before < size.documents,
            "restart {restart} came after every Document had converged"
        );
        let requests = outage.requests();
        let bound = measure::failing_requests_bound(
            size.documents,
            // A refused connection is transient (`RetryClass::of`: no answer at all).
            RetryClass::Transient,
            outage.before.watches(),
            DIAGNOSIS.window,
            outage.duration(),
        );
        figure(
            &case,
            &format!("restart {restart}: before it"),
            format!(
                "{created_before} Documents created, {settled_before} settled, {} reconciles in \
                 flight",
                outage
                    .before
                    .get("doc_controller_reconciles_in_flight", &[])
            ),
        );
        figure(
            &case,
            &format!("restart {restart}: requests during the outage"),
            format!(
                "{requests} in {:.1} s ({:.0}/s; bound from the backoff {bound:.0}, {:.0}/s); reconciles {}; ready again {:.1} s after",
                outage.duration().as_secs_f64(),
                outage.per_second(requests),
                outage.per_second(bound),
                outage.reconciles(),
                ready_again.as_secs_f64(),
            ),
        );
        assert!(
            requests <= bound,
            "restart {restart}: {requests} requests during the outage, over the bound of {bound:.0} \
             that backing off allows"
        );
    }
    // Positive control: the restarted server's rebuilt watch windows were met (resumed watches
    // answered 410 Expired and relisted).
    let final_sample = Sample::of(&binary).await;
    let total_expired = final_sample.get("doc_controller_watch_errors_total", &[("reason", "410")]);
    assert!(
        total_expired >= 1.0,
        "no watch met a 410 after {} restarts",
        size.restarts
    );
    figure(
        &case,
        "watches resumed into 410 Expired (relisted)",
        total_expired,
    );
    figure(
        &case,
        "converged after the last restart",
        format!(
            "{:.1} s (all {:.1} s from the first create)",
            recovered.as_secs_f64(),
            started.elapsed().as_secs_f64()
        ),
    );
    figure(&case, "reconciles", final_sample.reconciles());
    stopped_cleanly(&case, binary).await;
}

// === SIGKILLs ===

/// How many times the controller is killed, among how many live Documents.
struct Kills {
    kills: usize,
    population: usize,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkills_mid_reconcile_and_mid_deletion_lose_no_cleanup_and_leave_nothing_stuck() {
    sigkills(Kills {
        kills: 5,
        population: 30,
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "full size: .ci/run runs it (cargo test --test survival -- --ignored)"]
async fn twenty_sigkills_mid_reconcile_and_mid_deletion_lose_no_cleanup_and_leave_nothing_stuck() {
    sigkills(Kills {
        kills: 20,
        population: 80,
    })
    .await;
}

/// The longest a new Pod may wait for a killed leader's Lease: the shipped lease duration, a
/// standby's longest look after it (2 s retry period with client-go's jitter), and room for a
/// loaded machine.
const LEADS_WITHIN: Duration = Duration::from_secs(15 + 3 + 10);

/// The controller as the Deployment's Pod number `n` runs it: its own identity in the Lease (the
/// Pod's name), the shipped election timings.
async fn pod(env: &Env, ns: &TestNamespace, n: usize) -> Binary {
    let installed = support::deployed::install(env, ns).await;
    let identity = format!("--identity=doc-controller-{n}");
    Binary::start_as(env, ns, installed, &[], &[identity], None).await
}

/// A user keeps creating, retitling, hiding, showing and deleting Documents while the
/// controller is SIGKILLed `size.kills` times, each after a random number of further reconciles
/// and a random delay, and started again at once.
async fn sigkills(size: Kills) {
    let case = format!("SIGKILL ×{}", size.kills);
    let mut rng = churn::Rng::seeded(&case);
    let env = Env::new().await;
    let ns = env.namespace().await;
    let docs = Documents::watch(&env, &ns).await;
    let deletions = churn::Deletions::watch(&env, &ns);
    let mut binary = pod(&env, &ns, 0).await;
    binary.wait_ready().await;
    let user = churn::Churn::start(docs.api.clone(), size.population, rng.fork());
    let mut kills = Vec::new();
    let mut handovers = Vec::new();
    for kill in 1..=size.kills {
        // Some work first: a random number of reconciles since the start.
        let reconciles = 10 + rng.below(70);
        let start = Sample::of(&binary).await.reconciles();
        support::eventually(
            &format!("{reconciles} reconciles before kill {kill}"),
            || async {
                (Sample::of(&binary).await.reconciles() >= start + reconciles as f64).then_some(())
            },
        )
        .await;
        // Then a random point of a deletion (every other kill: Documents just deleted, their
        // cleanups on their way) or of reconciles (once some are in flight).
        let mode = if kill % 2 == 0 {
            let deleted = user.delete_some(1 + rng.below(5) as usize).await;
            format!("{} deleted just before", deleted.len())
        } else {
            support::eventually("reconciles in flight", || async {
                let in_flight = Sample::of(&binary)
                    .await
                    .get("doc_controller_reconciles_in_flight", &[]);
                (in_flight > 0.0).then_some(())
            })
            .await;
            "reconciles in flight".to_string()
        };
        // The kill is the case: a random few milliseconds on.
        tokio::time::sleep(Duration::from_millis(rng.below(40))).await;
        let in_flight = Sample::of(&binary)
            .await
            .get("doc_controller_reconciles_in_flight", &[]);
        let terminating = docs
            .now()
            .iter()
            .filter(|d| d.metadata.deletion_timestamp.is_some())
            .count();
        let logs = binary.kill().await;
        keep_logs(&case, &logs);
        assert!(
            !logs.contains("panicked"),
            "kill {kill}: the controller panicked:\n{logs}"
        );
        kills.push(format!(
            "{mode}: {in_flight} in flight, {terminating} Terminating"
        ));
        // What a Deployment does when its Pod is gone: a new Pod, with a new name, so a new
        // identity that waits for the killed one's Lease to expire (nothing released it).
        let killed = Instant::now();
        binary = pod(&env, &ns, kill).await;
        let leads = support::eventually("the new Pod leading", || async {
            (binary.metric("doc_controller_leader", &[]).await == 1.0).then_some(())
        });
        tokio::time::timeout(LEADS_WITHIN, leads)
            .await
            .unwrap_or_else(|_| panic!("kill {kill}: the new Pod leads within {LEADS_WITHIN:?}"));
        handovers.push(killed.elapsed());
    }
    let done = user.stop().await;
    let live = done.created - done.deleted.len();
    let settled_in = docs.all_settled(live, CONVERGED_WITHIN).await;
    documents::assert_published_as_specified(&env, &ns, &docs.now()).await;

    // Every deletion was seen, and at none was the Document still listed.
    support::eventually("every deleted Document seen gone", || async {
        let seen = deletions.seen();
        done.deleted
            .iter()
            .all(|name| seen.contains(name))
            .then_some(())
    })
    .await;
    assert_eq!(
        deletions.violations(),
        Vec::<String>::new(),
        "Documents went away while the index still listed them (cleanup lost)"
    );
    figure(
        &case,
        "user's changes during the kills",
        format!(
            "{} created, {} retitled, {} hidden or shown, {} deleted",
            done.created,
            done.retitled,
            done.hidden_or_shown,
            done.deleted.len()
        ),
    );
    for (i, (kill, handover)) in kills.iter().zip(&handovers).enumerate() {
        figure(
            &case,
            &format!("kill {}", i + 1),
            format!(
                "{kill}; the new Pod led {:.1} s after",
                handover.as_secs_f64()
            ),
        );
    }
    figure(
        &case,
        "settled once the user stopped (after the last new Pod led)",
        format!("{:.1} s ({live} Documents)", settled_in.as_secs_f64()),
    );
    stopped_cleanly(&case, binary).await;
}

// === A storm of 429s ===

/// How long the storm lasts, over how many Documents.
struct Storm {
    duration: Duration,
    documents: usize,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_storm_is_ridden_out_with_backoff_and_the_controller_recovers_by_itself() {
    throttling_storm(Storm {
        duration: Duration::from_secs(15),
        documents: 20,
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "full size: .ci/run runs it (cargo test --test survival -- --ignored)"]
async fn a_minute_of_429s_is_ridden_out_with_backoff_and_the_controller_recovers_by_itself() {
    throttling_storm(Storm {
        duration: Duration::from_secs(60),
        documents: 100,
    })
    .await;
}

/// The sandbox's throttle: requests per second and burst the controller's user gets.
const STORM_QPS: f64 = 2.0;
const STORM_BURST: u32 = 4;

/// Throttling set for the controller's user: the sandbox's throttle fault, or on a real cluster
/// the API Priority and Fairness objects of `yaml/throttling.yaml` (a concurrency share
/// of 8 seats that rejects what does not fit).
enum Throttling {
    Sandbox(kube_apiserver_sandbox::FaultId),
    PriorityAndFairness,
}

impl Throttling {
    async fn start(env: &Env, ns: &TestNamespace) -> Throttling {
        match env.sandbox() {
            Some(sb) => Throttling::Sandbox(
                sb.faults().set(
                    kube_apiserver_sandbox::Fault::throttle(STORM_QPS, STORM_BURST)
                        .for_user(support::deployed::user_of(ns)),
                ),
            ),
            None => {
                support::deployed::install_files(env, ns, &["yaml/throttling.yaml"]).await;
                Throttling::PriorityAndFairness
            }
        }
    }

    async fn stop(self, env: &Env, ns: &TestNamespace) {
        match self {
            Throttling::Sandbox(id) => {
                if let Some(sb) = env.sandbox() {
                    sb.faults().remove(id);
                }
            }
            Throttling::PriorityAndFairness => {
                support::deployed::uninstall_files(env, ns, &["yaml/throttling.yaml"]).await;
            }
        }
    }

    /// The most requests the server accepts from the controller in `window` (none on a real
    /// cluster: a concurrency share bounds concurrency, not rate).
    fn accepted_bound(&self, window: Duration) -> Option<f64> {
        match self {
            Throttling::Sandbox(_) => {
                Some(STORM_QPS * window.as_secs_f64() + f64::from(STORM_BURST))
            }
            Throttling::PriorityAndFairness => None,
        }
    }
}

/// `size.documents` Documents converge; then, for `size.duration`, the controller's requests are
/// throttled while as many new Documents arrive and the first ones are retitled.
async fn throttling_storm(size: Storm) {
    let case = format!("429 storm ({} s)", size.duration.as_secs());
    let env = Env::new().await;
    let ns = env.namespace().await;
    let binary = controller(&env, &ns).await;
    let docs = Documents::watch(&env, &ns).await;
    create_all(
        &docs.api,
        ordinary("before", size.documents),
        CREATES_IN_FLIGHT,
    )
    .await;
    docs.all_settled(size.documents, CONVERGED_WITHIN).await;

    let throttling = Throttling::start(&env, &ns).await;
    let before = Sample::of(&binary).await;
    create_all(
        &docs.api,
        ordinary("during", size.documents),
        CREATES_IN_FLIGHT,
    )
    .await;
    for doc in ordinary("before", size.documents) {
        support::set_spec(
            &docs.api,
            &doc.name_any(),
            json!({"title": "Retitled in the storm"}),
        )
        .await;
    }
    // The storm is the case: it lasts its time, whatever the controller does.
    tokio::time::sleep(size.duration.saturating_sub(before.at.elapsed())).await;
    let storm = Interval {
        before,
        after: Sample::of(&binary).await,
    };
    let accepted_bound = throttling.accepted_bound(storm.duration());
    throttling.stop(&env, &ns).await;
    let lifted = Instant::now();
    let recovered = docs.all_settled(2 * size.documents, CONVERGED_WITHIN).await;
    documents::assert_published_as_specified(&env, &ns, &docs.now()).await;

    let rejected = storm.requests_with("429");
    assert!(rejected >= 1.0, "positive control: the storm answered 429s");
    let config = doc_controller::config::Config::default();
    let requesters =
        u32::from(config.concurrency) + storm.before.watches() + measure::BACKGROUND_REQUESTERS;
    let rejected_bound = measure::rejected_requests_bound(requesters, storm.duration());
    assert!(
        rejected <= rejected_bound,
        "{rejected} 429s during the storm, over the {rejected_bound:.0} that Retry-After allows"
    );
    let requests = storm.requests();
    if let Some(accepted) = accepted_bound {
        assert!(
            requests <= accepted + rejected_bound,
            "{requests} requests during the storm, over the {:.0} throttling and Retry-After allow",
            accepted + rejected_bound
        );
    }
    figure(
        &case,
        "requests during the storm",
        format!(
            "{requests} in {:.1} s ({:.1}/s), of which 429: {rejected} ({:.1}/s; bound {:.1}/s)",
            storm.duration().as_secs_f64(),
            storm.per_second(requests),
            storm.per_second(rejected),
            storm.per_second(rejected_bound),
        ),
    );
    figure(
        &case,
        "converged after the storm",
        format!(
            "{:.1} s (since lifted: {:.1} s)",
            recovered.as_secs_f64(),
            lifted.elapsed().as_secs_f64()
        ),
    );
    stopped_cleanly(&case, binary).await;
}

// === RBAC revoked, then restored ===

/// How long the controller's binding is gone, and how many Documents arrive meanwhile.
struct Revoked {
    duration: Duration,
    documents: usize,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoked_rbac_is_ridden_out_with_backoff_and_the_controller_recovers_once_restored() {
    rbac_revoked(Revoked {
        duration: Duration::from_secs(10),
        documents: 20,
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "full size: .ci/run runs it (cargo test --test survival -- --ignored)"]
async fn a_minute_of_revoked_rbac_is_ridden_out_with_backoff_and_the_controller_recovers() {
    rbac_revoked(Revoked {
        duration: Duration::from_secs(60),
        documents: 100,
    })
    .await;
}

/// The controller's ClusterRoleBinding is deleted while Documents arrive, and re-created after
/// `size.duration`.
async fn rbac_revoked(size: Revoked) {
    let case = format!("403 ({} s revoked)", size.duration.as_secs());
    let env = Env::new().await;
    let ns = env.namespace().await;
    let binary = controller(&env, &ns).await;
    let docs = Documents::watch(&env, &ns).await;

    support::deployed::revoke_bindings(&env, &ns).await;
    let before = Sample::of(&binary).await;
    create_all(
        &docs.api,
        ordinary("revoked", size.documents),
        CREATES_IN_FLIGHT,
    )
    .await;
    // The open watches were authorized when they started; a real API server keeps them until
    // their timeout. The sandbox can end them now, so that re-watching meets the 403 too.
    if let Some(sb) = env.sandbox() {
        sb.faults().close_watches();
    }
    // Positive control: the controller is being refused.
    support::eventually("the controller answered 403", || async {
        let forbidden = Sample::of(&binary)
            .await
            .get("doc_controller_api_requests_total", &[("code", "403")]);
        (forbidden >= 1.0).then_some(())
    })
    .await;
    // Revoked for its time, whatever the controller does.
    tokio::time::sleep(size.duration.saturating_sub(before.at.elapsed())).await;
    let revoked = Interval {
        before,
        after: Sample::of(&binary).await,
    };
    support::deployed::install(&env, &ns).await;
    let restored = Instant::now();
    let recovered = docs.all_settled(size.documents, CONVERGED_WITHIN).await;
    documents::assert_published_as_specified(&env, &ns, &docs.now()).await;

    let requests = revoked.requests();
    let bound = measure::failing_requests_bound(
        size.documents,
        RetryClass::Persistent,
        revoked.before.watches(),
        DIAGNOSIS.window,
        revoked.duration(),
    );
    assert!(
        requests <= bound,
        "{requests} requests while revoked, over the {bound:.0} that backing off allows"
    );
    figure(
        &case,
        "requests while revoked",
        format!(
            "{requests} in {:.1} s ({:.1}/s; bound {:.1}/s), of which 403: {}",
            revoked.duration().as_secs_f64(),
            revoked.per_second(requests),
            revoked.per_second(bound),
            revoked.requests_with("403"),
        ),
    );
    figure(
        &case,
        "converged after the binding was restored",
        format!(
            "{:.1} s (since restored: {:.1} s)",
            recovered.as_secs_f64(),
            restored.elapsed().as_secs_f64()
        ),
    );
    stopped_cleanly(&case, binary).await;
}

// === Invalid Documents at volume ===

/// How many Documents of each invalid kind, and how long the quiet window after them is.
struct Invalid {
    per_kind: usize,
    quiet: Duration,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_documents_each_get_ready_false_and_one_warning_without_a_hot_loop() {
    invalid_documents(Invalid {
        per_kind: 10,
        quiet: Duration::from_secs(5),
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "full size: .ci/run runs it (cargo test --test survival -- --ignored)"]
async fn hundreds_of_invalid_documents_each_get_ready_false_and_one_warning_without_a_hot_loop() {
    invalid_documents(Invalid {
        per_kind: 75,
        quiet: Duration::from_secs(20),
    })
    .await;
}

/// The longest name a Document can have (a DNS subdomain): its ConfigMap's name
/// `document-<name>` is over the limit.
const LONGEST_NAME: usize = 253;

/// Content the schema admits (at most 512 Ki characters) that is too large in bytes for a
/// ConfigMap (`validation::MAX_CONTENT_BYTES`): four-byte characters, just over the bound.
fn too_large_content() -> String {
    let bytes = doc_controller::document::validation::MAX_CONTENT_BYTES;
    "𝄞".repeat(bytes / 4 + 1)
}

/// The kinds of invalid Documents (every way `validation::validate` rejects what the schema
/// admits, and the states a Document can be in when it does), `per_kind` of each.
fn invalid_kinds(per_kind: usize) -> Vec<(&'static str, Vec<Document>)> {
    // From the longest name down to the shortest whose ConfigMap name is still too long: the
    // ConfigMap's prefix sets how many lengths there are (a shorter kind has fewer).
    let prefix_len = doc_controller::document::published::config_map_name("").len();
    let named = |i: usize| {
        let prefix = format!("long-{i}-");
        let length = LONGEST_NAME - (i % prefix_len);
        format!("{prefix}{}", "n".repeat(length - prefix.len()))
    };
    let big = too_large_content();
    let with = |name: String, content: &str, hide: bool| {
        let mut d = support::doc(&name, "Invalid on purpose", content);
        d.spec.hide = hide;
        d
    };
    vec![
        (
            "name too long",
            (0..per_kind)
                .map(|i| with(named(i), "words", false))
                .collect(),
        ),
        (
            "content too large",
            (0..per_kind)
                .map(|i| with(format!("large-{i}"), &big, false))
                .collect(),
        ),
        (
            "content too large, hidden",
            (0..per_kind)
                .map(|i| with(format!("large-hidden-{i}"), &big, true))
                .collect(),
        ),
        (
            "grown too large after it was published",
            (0..per_kind)
                .map(|i| with(format!("grown-{i}"), "words", false))
                .collect(),
        ),
    ]
}

/// Whether a Document is `Ready=False` for `InvalidSpec` at its current generation.
fn rejected(doc: &Document) -> bool {
    doc.status.as_ref().is_some_and(|s| {
        s.observed_generation == doc.metadata.generation
            && s.conditions.iter().any(|c| {
                c.type_ == READY && c.status == "False" && c.reason == reason::INVALID_SPEC
            })
    })
}

/// Invalid Documents of every kind arrive at once; each must end `Ready=False` with one Warning
/// Event, and once they have, the controller must not reconcile them again while nothing
/// changes.
async fn invalid_documents(size: Invalid) {
    let case = format!("invalid Documents ({} per kind)", size.per_kind);
    let env = Env::new().await;
    let ns = env.namespace().await;
    let binary = controller(&env, &ns).await;
    let docs = Documents::watch(&env, &ns).await;
    let kinds = invalid_kinds(size.per_kind);
    let total: usize = kinds.iter().map(|(_, d)| d.len()).sum();

    // The ones that grow too large are published first, as valid Documents.
    let growing: Vec<Document> = kinds
        .iter()
        .filter(|(kind, _)| kind.starts_with("grown"))
        .flat_map(|(_, d)| d.clone())
        .collect();
    create_all(&docs.api, growing.clone(), CREATES_IN_FLIGHT).await;
    docs.all_settled(growing.len(), CONVERGED_WITHIN).await;

    let before = Sample::of(&binary).await;
    let others: Vec<Document> = kinds
        .iter()
        .filter(|(kind, _)| !kind.starts_with("grown"))
        .flat_map(|(_, d)| d.clone())
        .collect();
    // A few at a time: each of the large ones is a megabyte.
    create_all(&docs.api, others, 4).await;
    let big = too_large_content();
    for doc in &growing {
        support::set_spec(&docs.api, &doc.name_any(), json!({ "content": big })).await;
    }
    docs.wait_until(
        &format!("{total} Documents Ready=False InvalidSpec"),
        CONVERGED_WITHIN,
        |d| d.len() == total && d.iter().all(|d| rejected(d)),
        |d| {
            format!(
                "{} of {} rejected",
                d.iter().filter(|d| rejected(d)).count(),
                d.len()
            )
        },
    )
    .await;
    let judging = Interval {
        before,
        after: Sample::of(&binary).await,
    };

    // Nothing changes now: the quiet window is the case. Invalid specs are not retried; the
    // most a retry of the slowest backoff would make is the bound.
    let quiet_start = Sample::of(&binary).await;
    tokio::time::sleep(size.quiet).await;
    let quiet = Interval {
        before: quiet_start,
        after: Sample::of(&binary).await,
    };
    let reconcile_bound = total as f64
        * f64::from(measure::reconcile_attempts(
            RetryClass::Persistent,
            quiet.duration(),
        ));
    assert!(
        quiet.reconciles() <= reconcile_bound,
        "{} reconciles of unchanged invalid Documents in {:?}, over the {reconcile_bound} of a backoff",
        quiet.reconciles(),
        quiet.duration()
    );
    assert_eq!(
        quiet.delta("doc_controller_status_patches_total", &[]),
        0.0,
        "status writes for unchanged invalid Documents"
    );

    // Exactly one Warning Event each, never repeated as a series.
    let events: Vec<Event> = Api::<Event>::namespaced(env.client.clone(), ns.name())
        .list(&ListParams::default())
        .await
        .expect("Events listed")
        .items;
    for (kind, documents) in &kinds {
        for doc in documents {
            let name = doc.name_any();
            let warnings: Vec<&Event> = events
                .iter()
                .filter(|e| {
                    e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(name.as_str())
                        && e.reason.as_deref() == Some(reason::INVALID_SPEC)
                })
                .collect();
            assert!(
                warnings.len() == 1
                    && warnings[0].type_.as_deref() == Some("Warning")
                    && warnings[0].series.is_none(),
                "{kind}: Document {name} has {} InvalidSpec Events (one Warning expected): {warnings:?}",
                warnings.len()
            );
        }
    }
    // What was published before stays until the spec is fixed.
    let config_maps: Api<ConfigMap> = Api::namespaced(env.client.clone(), ns.name());
    for doc in &growing {
        assert!(
            config_maps
                .get_opt(&doc.config_map_name())
                .await
                .expect("ConfigMaps readable")
                .is_some(),
            "the ConfigMap of {} went when its spec turned invalid",
            doc.name_any()
        );
    }

    figure(
        &case,
        "Documents rejected",
        format!(
            "{total} in {:.1} s from the first create: {} reconciles, {} status writes, {} Event requests",
            judging.duration().as_secs_f64(),
            judging.reconciles(),
            judging.delta("doc_controller_status_patches_total", &[]),
            judging.delta(
                "doc_controller_api_requests_total",
                &[("resource", "events")]
            ),
        ),
    );
    figure(
        &case,
        "reconciles while nothing changes",
        format!(
            "{} in {:.1} s ({:.2}/s; backoff bound {:.1}/s)",
            quiet.reconciles(),
            quiet.duration().as_secs_f64(),
            quiet.per_second(quiet.reconciles()),
            quiet.per_second(reconcile_bound),
        ),
    );
    stopped_cleanly(&case, binary).await;
}
