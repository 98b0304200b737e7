//! [`Teardown`]: cleanup on drop, even when the test panics.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

/// How long a teardown may take.
const TEARDOWN_TIMEOUT: Duration = Duration::from_secs(30);

/// The work of a teardown, with its fresh client.
type Job = Box<dyn FnOnce(kube::Client) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send>;

/// Work to do when the guard drops (deleting what a test made on a real cluster), even when
/// the test panics. It runs on a helper thread with its own runtime and its own client, built
/// from the `kube::Config` given, and the drop waits for it (30 s at most): the test's client
/// lives on the test's runtime, which is blocked while the guard drops.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use std::sync::atomic::{AtomicBool, Ordering};
/// use std::sync::Arc;
/// use kube_apiserver_sandbox::testkit::Teardown;
/// let config = kube::Config::new("https://127.0.0.1:1".parse()?); // nothing listens there
/// let ran = Arc::new(AtomicBool::new(false));
/// let flag = ran.clone();
/// drop(Teardown::new(config, move |_client| async move { flag.store(true, Ordering::SeqCst) }));
/// assert!(ran.load(Ordering::SeqCst));
/// # Ok(()) }
/// ```
#[must_use = "the work runs when the guard drops"]
pub struct Teardown {
    work: Option<(kube::Config, Job)>,
}

impl std::fmt::Debug for Teardown {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Teardown")
            .field("pending", &self.work.is_some())
            .finish()
    }
}

impl Teardown {
    /// `work` to run with a client of `config` when the guard drops.
    pub fn new<F, Fut>(config: kube::Config, work: F) -> Self
    where
        F: FnOnce(kube::Client) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        Self {
            work: Some((config, Box::new(move |client| Box::pin(work(client))))),
        }
    }

    /// Nothing to do (on a sandbox, discarded with everything in it).
    pub fn none() -> Self {
        Self { work: None }
    }
}

impl Drop for Teardown {
    fn drop(&mut self) {
        let Some((config, job)) = self.work.take() else {
            return;
        };
        let _ = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            runtime.block_on(async move {
                // A client needs a runtime to be built on: this one, not the test's.
                if let Ok(client) = kube::Client::try_from(config) {
                    let _ = tokio::time::timeout(TEARDOWN_TIMEOUT, job(client)).await;
                }
            });
        })
        .join();
    }
}
