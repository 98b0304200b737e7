//! Waiting on conditions, with a timeout and a message that says what did not happen.

use std::future::Future;
use std::time::Duration;

use kube::Api;
use kube::runtime::wait::{Condition, await_condition};

/// How long [`eventually`] waits: long enough for a real cluster's controllers.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// How often [`Wait`] checks by default.
const DEFAULT_INTERVAL: Duration = Duration::from_millis(50);

/// What a check returns: `true`, or `Some(value)`, once its condition holds.
pub trait Outcome {
    /// What the wait returns once the condition holds.
    type Output;

    /// The value, once the condition holds.
    fn holds(self) -> Option<Self::Output>;
}

impl Outcome for bool {
    type Output = ();

    fn holds(self) -> Option<()> {
        self.then_some(())
    }
}

impl<T> Outcome for Option<T> {
    type Output = T;

    fn holds(self) -> Option<T> {
        self
    }
}

/// A condition that did not hold in time.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("timed out after {after:?} waiting for {what}")]
pub struct TimedOut {
    /// What was waited for.
    pub what: String,
    /// How long.
    pub after: Duration,
}

/// Why [`wait_for`] did not return the object.
#[derive(Debug, thiserror::Error)]
pub enum WaitError {
    /// The condition did not hold in time.
    #[error(transparent)]
    TimedOut(#[from] TimedOut),
    /// The watch failed.
    #[error("watching {name}: {source}")]
    Watch {
        /// The object.
        name: String,
        /// Why.
        source: kube::runtime::wait::Error,
    },
    /// The object was deleted while the condition was waited for.
    #[error("{name} is gone")]
    Gone {
        /// The object.
        name: String,
    },
}

/// A wait for a condition, checked every 50 ms for 30 s unless told otherwise.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use std::time::Duration;
/// use kube_apiserver_sandbox::testkit::Wait;
/// let start = tokio::time::Instant::now();
/// let after = Wait::new("a moment to pass")
///     .timeout(Duration::from_secs(5))
///     .until(|| async { (start.elapsed() > Duration::from_millis(100)).then(|| start.elapsed()) })
///     .await
///     .expect("within the timeout");
/// assert!(after > Duration::from_millis(100));
/// let never = Wait::new("never").timeout(Duration::from_millis(100)).until(|| async { false }).await;
/// assert_eq!(never.unwrap_err().to_string(), "timed out after 100ms waiting for never");
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct Wait {
    what: String,
    timeout: Duration,
    interval: Duration,
}

impl Wait {
    /// A wait for `what` (said in the timeout's message).
    pub fn new(what: impl Into<String>) -> Self {
        Self {
            what: what.into(),
            timeout: DEFAULT_TIMEOUT,
            interval: DEFAULT_INTERVAL,
        }
    }

    /// How long to wait at most.
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// How often to check.
    #[must_use]
    pub fn interval(mut self, interval: Duration) -> Self {
        self.interval = interval;
        self
    }

    /// Checks until `check` holds ([`Outcome`]) and returns its value, or [`TimedOut`].
    ///
    /// # Errors
    ///
    /// [`TimedOut`] when the condition did not hold within the timeout.
    pub async fn until<F, Fut, O>(&self, mut check: F) -> Result<O::Output, TimedOut>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = O>,
        O: Outcome,
    {
        let deadline = tokio::time::Instant::now() + self.timeout;
        loop {
            if let Some(value) = check().await.holds() {
                return Ok(value);
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(TimedOut {
                    what: self.what.clone(),
                    after: self.timeout,
                });
            }
            tokio::time::sleep(self.interval).await;
        }
    }
}

/// Checks until `check` holds and returns its value; fails the test (panics with
/// `timed out after 30s waiting for <what>`) when it does not within [`DEFAULT_TIMEOUT`].
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use k8s_openapi::api::core::v1::Namespace;
/// use kube_apiserver_sandbox::{Sandbox, testkit::eventually};
/// let sandbox = Sandbox::start().await?;
/// let namespaces: kube::Api<Namespace> = kube::Api::all(sandbox.client()?);
/// let ns = serde_json::from_value(serde_json::json!({"metadata": {"name": "team"}}))?;
/// namespaces.create(&Default::default(), &ns).await?;
/// namespaces.delete("team", &Default::default()).await?;
/// // `true` once it holds; `Some(value)` to return what was seen.
/// eventually("the namespace to be gone", || async {
///     matches!(namespaces.get_opt("team").await, Ok(None))
/// })
/// .await;
/// # Ok(()) }
/// ```
pub async fn eventually<F, Fut, O>(what: &str, check: F) -> O::Output
where
    F: FnMut() -> Fut,
    Fut: Future<Output = O>,
    O: Outcome,
{
    match Wait::new(what).until(check).await {
        Ok(value) => value,
        Err(timed_out) => panic!("{timed_out}"),
    }
}

/// Watches the object `name` until `condition` holds for it and returns it (kube's
/// `await_condition`, with a timeout).
///
/// # Errors
///
/// [`WaitError`] when the condition does not hold in time, the watch fails or the object is
/// deleted.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use std::time::Duration;
/// use k8s_openapi::api::core::v1::ConfigMap;
/// use kube_apiserver_sandbox::{Sandbox, testkit::wait_for};
/// let sandbox = Sandbox::start().await?;
/// let cms: kube::Api<ConfigMap> = kube::Api::default_namespaced(sandbox.client()?);
/// let cm = serde_json::from_value(serde_json::json!({"metadata": {"name": "x"}, "data": {"k": "v"}}))?;
/// cms.create(&Default::default(), &cm).await?;
/// let has_k = |cm: Option<&ConfigMap>| cm.and_then(|c| c.data.as_ref()).is_some_and(|d| d.contains_key("k"));
/// let seen = wait_for(&cms, "x", has_k, Duration::from_secs(10)).await?;
/// assert_eq!(seen.data.unwrap_or_default()["k"], "v");
/// let never = |cm: Option<&ConfigMap>| cm.is_none();
/// let timed_out = wait_for(&cms, "x", never, Duration::from_millis(200)).await.unwrap_err();
/// assert_eq!(timed_out.to_string(), "timed out after 200ms waiting for x to meet its condition");
/// # Ok(()) }
/// ```
pub async fn wait_for<K>(
    api: &Api<K>,
    name: &str,
    condition: impl Condition<K>,
    timeout: Duration,
) -> Result<K, WaitError>
where
    K: kube::Resource + Clone + std::fmt::Debug + serde::de::DeserializeOwned + Send + 'static,
{
    let waited = tokio::time::timeout(timeout, await_condition(api.clone(), name, condition))
        .await
        .map_err(|_| TimedOut {
            what: format!("{name} to meet its condition"),
            after: timeout,
        })?;
    waited
        .map_err(|source| WaitError::Watch {
            name: name.to_owned(),
            source,
        })?
        .ok_or_else(|| WaitError::Gone {
            name: name.to_owned(),
        })
}
