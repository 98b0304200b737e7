//! A user who never stops: Documents created, retitled, hidden, shown and deleted in a loop (a
//! random walk, seeded and printed so a run can be repeated), and a watch on every deletion that
//! checks the deleted Document's index entry was gone before the Document was.

use crate::documents::index;
use crate::support::{Env, TestNamespace, doc};
use doc_controller::Document;
use futures::StreamExt;
use kube::ResourceExt;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube::runtime::{WatchStreamExt, watcher};
use serde_json::json;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, watch};

/// A small, seeded pseudo-random generator (xorshift64*): the suite needs repeatable choices,
/// not cryptographic ones.
pub struct Rng(u64);

impl Rng {
    /// Seeded from `DOC_CONTROLLER_SURVIVAL_SEED` when set (to repeat a run), else from the
    /// clock; the seed is printed.
    pub fn seeded(case: &str) -> Rng {
        let seed = std::env::var("DOC_CONTROLLER_SURVIVAL_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_nanos() as u64)
                    .unwrap_or(1)
            });
        println!("{case}: DOC_CONTROLLER_SURVIVAL_SEED={seed}");
        Rng(seed.max(1))
    }

    /// A number in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n.max(1)
    }

    /// A seed for another generator.
    pub fn fork(&mut self) -> Rng {
        Rng(self.below(u64::MAX).max(1))
    }
}

/// What the user did, for the checks at the end and the figures.
#[derive(Debug, Default, Clone)]
pub struct Done {
    /// Documents created.
    pub created: usize,
    /// Title changes (a new generation each).
    pub retitled: usize,
    /// `hide` switched, either way.
    pub hidden_or_shown: usize,
    /// Documents deleted (each name only once: names are never reused).
    pub deleted: Vec<String>,
}

/// The user, running until told to stop.
pub struct Churn {
    stop: watch::Sender<bool>,
    bursts: mpsc::Sender<(usize, oneshot::Sender<Vec<String>>)>,
    task: tokio::task::JoinHandle<Done>,
}

impl Churn {
    /// Starts changing the Documents of `api`, keeping about `population` of them alive.
    pub fn start(api: Api<Document>, population: usize, rng: Rng) -> Churn {
        let (stop, stopped) = watch::channel(false);
        let (bursts, requested) = mpsc::channel(1);
        let task = tokio::spawn(churn(api, population, rng, stopped, requested));
        Churn { stop, bursts, task }
    }

    /// Deletes `n` live Documents at once (between two of the user's own changes); returns
    /// their names once the deletions are accepted.
    pub async fn delete_some(&self, n: usize) -> Vec<String> {
        let (done, deleted) = oneshot::channel();
        self.bursts
            .send((n, done))
            .await
            .expect("the churn is running");
        deleted.await.expect("the churn answers")
    }

    /// Stops after the change in progress; returns what was done.
    pub async fn stop(self) -> Done {
        let _ = self.stop.send(true);
        self.task.await.expect("the churn did not panic")
    }
}

async fn churn(
    api: Api<Document>,
    population: usize,
    mut rng: Rng,
    stopped: watch::Receiver<bool>,
    mut bursts: mpsc::Receiver<(usize, oneshot::Sender<Vec<String>>)>,
) -> Done {
    let mut done = Done::default();
    // The live Documents (never deleted by us) and whether each is hidden.
    let mut live: Vec<(String, bool)> = Vec::new();
    let patch = |spec: serde_json::Value| Patch::Merge(json!({ "spec": spec }));
    let pick = |rng: &mut Rng, live: &Vec<(String, bool)>| {
        usize::try_from(rng.below(live.len() as u64)).expect("an index")
    };
    while !*stopped.borrow() {
        if let Ok((n, reply)) = bursts.try_recv() {
            let mut burst = Vec::new();
            while burst.len() < n && !live.is_empty() {
                let (name, _) = live.swap_remove(pick(&mut rng, &live));
                api.delete(&name, &DeleteParams::default())
                    .await
                    .unwrap_or_else(|e| panic!("deleting {name}: {e}"));
                burst.push(name);
            }
            done.deleted.extend(burst.iter().cloned());
            let _ = reply.send(burst);
            continue;
        }
        let roll = rng.below(100);
        if live.len() < population / 2 || (roll < 30 && live.len() < population) {
            let name = format!("churn-{}", done.created);
            let mut document = doc(&name, &format!("Title {}", done.created), "words");
            document.spec.hide = rng.below(5) == 0;
            api.create(&PostParams::default(), &document)
                .await
                .unwrap_or_else(|e| panic!("creating {name}: {e}"));
            done.created += 1;
            // Now and then a second thought right after: deleted again while (or before) it is
            // being published.
            if rng.below(5) == 0 {
                tokio::time::sleep(Duration::from_millis(rng.below(50))).await;
                api.delete(&name, &DeleteParams::default())
                    .await
                    .unwrap_or_else(|e| panic!("deleting {name}: {e}"));
                done.deleted.push(name);
            } else {
                live.push((name, document.spec.hide));
            }
        } else if roll < 55 {
            let (name, _) = &live[pick(&mut rng, &live)];
            let title = format!("Retitled {}", rng.below(1_000_000));
            api.patch(
                name,
                &PatchParams::default(),
                &patch(json!({ "title": title })),
            )
            .await
            .unwrap_or_else(|e| panic!("retitling {name}: {e}"));
            done.retitled += 1;
        } else if roll < 75 {
            let at = pick(&mut rng, &live);
            // Now and then switched back right after, while the first switch is reconciled.
            let switches = if rng.below(4) == 0 { 2 } else { 1 };
            for switch in 0..switches {
                if switch > 0 {
                    tokio::time::sleep(Duration::from_millis(rng.below(30))).await;
                }
                let (name, hidden) = &mut live[at];
                *hidden = !*hidden;
                api.patch(
                    name,
                    &PatchParams::default(),
                    &patch(json!({ "hide": *hidden })),
                )
                .await
                .unwrap_or_else(|e| panic!("hiding or showing {name}: {e}"));
                done.hidden_or_shown += 1;
            }
        } else {
            let (name, _) = live.swap_remove(pick(&mut rng, &live));
            api.delete(&name, &DeleteParams::default())
                .await
                .unwrap_or_else(|e| panic!("deleting {name}: {e}"));
            done.deleted.push(name);
        }
        // A user's pace: a change every few to few dozen milliseconds.
        tokio::time::sleep(Duration::from_millis(5 + rng.below(30))).await;
    }
    done
}

/// Watches deletions: for every Document that goes away, reads the index right after and
/// records it if the index still lists it (a Document gone without its cleanup). Names are
/// never reused, so an entry seen after the deletion cannot be a newer Document's.
pub struct Deletions {
    seen: Arc<Mutex<Vec<String>>>,
    violations: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Deletions {
    /// Starts watching `ns`'s Documents.
    pub fn watch(env: &Env, ns: &TestNamespace) -> Deletions {
        let api: Api<Document> = Api::namespaced(env.client.clone(), ns.name());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let violations = Arc::new(Mutex::new(Vec::new()));
        let (client, ns_name) = (env.client.clone(), ns.name().to_owned());
        let (seen_by_task, violations_by_task) = (seen.clone(), violations.clone());
        let task = tokio::spawn(async move {
            let reader = IndexReader {
                client,
                namespace: ns_name,
            };
            let mut events = watcher(api, watcher::Config::default())
                .default_backoff()
                .boxed();
            while let Some(event) = events.next().await {
                let Ok(watcher::Event::Delete(gone)) = event else {
                    continue;
                };
                let name = gone.name_any();
                if reader.lists(&name).await {
                    violations_by_task
                        .lock()
                        .expect("not poisoned")
                        .push(name.clone());
                }
                seen_by_task.lock().expect("not poisoned").push(name);
            }
        });
        Deletions {
            seen,
            violations,
            task,
        }
    }

    /// Documents seen deleted so far.
    pub fn seen(&self) -> Vec<String> {
        self.seen.lock().expect("not poisoned").clone()
    }

    /// Documents that were gone while the index still listed them.
    pub fn violations(&self) -> Vec<String> {
        self.violations.lock().expect("not poisoned").clone()
    }
}

impl Drop for Deletions {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Reads one namespace's index (the watch task cannot borrow the test's `Env`).
struct IndexReader {
    client: kube::Client,
    namespace: String,
}

impl IndexReader {
    async fn lists(&self, name: &str) -> bool {
        index(&self.client, &self.namespace)
            .await
            .contains_key(name)
    }
}
