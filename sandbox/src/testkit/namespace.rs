//! [`TestNamespace`]: a namespace owned by one test.

use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Namespace;
use kube::Api;
use kube::api::{DeleteParams, PostParams};

use super::{Teardown, TestkitError, Wait};

/// Work to do with a fresh client before the namespace is deleted.
type BeforeDelete =
    Box<dyn FnOnce(kube::Client, String) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send>;

/// A namespace owned by one test, on any cluster. With [`TestNamespace::delete_on_drop`],
/// dropping it deletes it (and with it everything in it), also when the test panics.
///
/// The deletion is a [`Teardown`]: it runs on a helper thread with its own runtime and its own
/// client, built from the `kube::Config` given.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use kube_apiserver_sandbox::testkit::TestNamespace;
/// let sandbox = kube_apiserver_sandbox::Sandbox::start().await?;
/// let ns = TestNamespace::create(&sandbox.client()?, "e2e").await?;
/// assert!(ns.name().starts_with("e2e-"));
/// assert!(!ns.uid().is_empty());
/// # Ok(()) }
/// ```
pub struct TestNamespace {
    name: String,
    uid: String,
    delete_with: Option<kube::Config>,
    before_delete: Option<BeforeDelete>,
}

impl std::fmt::Debug for TestNamespace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestNamespace")
            .field("name", &self.name)
            .field("uid", &self.uid)
            .field("deleted_on_drop", &self.delete_with.is_some())
            .finish_non_exhaustive()
    }
}

impl TestNamespace {
    /// Creates the namespace `<prefix>-<8 hex digits>` with `client`; it stays when dropped
    /// unless [`TestNamespace::delete_on_drop`] says how to delete it.
    ///
    /// # Errors
    ///
    /// When the namespace cannot be created.
    pub async fn create(client: &kube::Client, prefix: &str) -> Result<Self, TestkitError> {
        let name = unique_name(prefix);
        let ns: Namespace = serde_json::from_value(serde_json::json!({
            "apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}
        }))?;
        let created = Api::<Namespace>::all(client.clone())
            .create(&PostParams::default(), &ns)
            .await?;
        Ok(Self {
            uid: created.metadata.uid.unwrap_or_default(),
            name,
            delete_with: None,
            before_delete: None,
        })
    }

    /// Deletes the namespace when the guard drops, with a client built from `config`.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # use kube_apiserver_sandbox::Sandbox;
    /// # use kube_apiserver_sandbox::testkit::TestNamespace;
    /// use k8s_openapi::api::core::v1::Namespace;
    /// // The guard deletes from a thread of its own: the sandbox must not run on the test's runtime.
    /// let server = tokio::runtime::Runtime::new()?;
    /// let sandbox = server.spawn(Sandbox::start()).await??;
    /// let ns = TestNamespace::create(&sandbox.client()?, "e2e").await?.delete_on_drop(sandbox.kube_config());
    /// let name = ns.name().to_owned();
    /// drop(ns);
    /// let namespaces: kube::Api<Namespace> = kube::Api::all(sandbox.client()?);
    /// let phase = namespaces.get_opt(&name).await?.and_then(|n| n.status?.phase);
    /// assert_ne!(phase.as_deref(), Some("Active")); // Terminating, or gone
    /// drop(sandbox);
    /// server.shutdown_background();
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn delete_on_drop(mut self, config: kube::Config) -> Self {
        self.delete_with = Some(config);
        self
    }

    /// Runs `work` (with a fresh client and the namespace's name) when the guard drops,
    /// before the namespace is deleted, e.g. to release the finalizers a stopped controller
    /// would have removed.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # use kube_apiserver_sandbox::Sandbox;
    /// # use kube_apiserver_sandbox::testkit::TestNamespace;
    /// use std::sync::{Arc, Mutex};
    /// let server = tokio::runtime::Runtime::new()?;
    /// let sandbox = server.spawn(Sandbox::start()).await??;
    /// let released = Arc::new(Mutex::new(None));
    /// let seen = released.clone();
    /// let ns = TestNamespace::create(&sandbox.client()?, "e2e").await?
    ///     .delete_on_drop(sandbox.kube_config())
    ///     .before_delete(move |_client, name| async move { *seen.lock().unwrap() = Some(name) });
    /// let name = ns.name().to_owned();
    /// drop(ns);
    /// assert_eq!(released.lock().unwrap().as_deref(), Some(name.as_str()));
    /// drop(sandbox);
    /// server.shutdown_background();
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn before_delete<F, Fut>(mut self, work: F) -> Self
    where
        F: FnOnce(kube::Client, String) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.before_delete = Some(Box::new(move |client, name| Box::pin(work(client, name))));
        self
    }

    /// Deletes the namespace now with `client` (after the [`TestNamespace::before_delete`]
    /// work) and waits until it is gone, its objects' finalizers done, `timeout` at most;
    /// returns how long that took. The guard has nothing left to do then.
    ///
    /// # Errors
    ///
    /// When the delete is refused, or the namespace is still there after `timeout`.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # use kube_apiserver_sandbox::Sandbox;
    /// # use kube_apiserver_sandbox::testkit::TestNamespace;
    /// use std::time::Duration;
    /// let sandbox = Sandbox::start().await?;
    /// let client = sandbox.client()?;
    /// let ns = TestNamespace::create(&client, "e2e").await?;
    /// let name = ns.name().to_owned();
    /// let took = ns.delete(&client, Duration::from_secs(10)).await?;
    /// assert!(took < Duration::from_secs(10));
    /// let namespaces: kube::Api<k8s_openapi::api::core::v1::Namespace> = kube::Api::all(client);
    /// assert!(namespaces.get_opt(&name).await?.is_none());
    /// # Ok(()) }
    /// ```
    pub async fn delete(
        mut self,
        client: &kube::Client,
        timeout: Duration,
    ) -> Result<Duration, TestkitError> {
        self.delete_with = None;
        if let Some(before) = self.before_delete.take() {
            before(client.clone(), self.name.clone()).await;
        }
        let namespaces = Api::<Namespace>::all(client.clone());
        let started = Instant::now();
        match namespaces
            .delete(&self.name, &DeleteParams::background())
            .await
        {
            Ok(_) => {}
            Err(kube::Error::Api(status)) if status.code == 404 => {}
            Err(error) => return Err(error.into()),
        }
        Wait::new(format!("namespace {} to be deleted", self.name))
            .timeout(timeout)
            .interval(Duration::from_millis(200))
            .until(|| async { matches!(namespaces.get_opt(&self.name).await, Ok(None)) })
            .await?;
        Ok(started.elapsed())
    }

    /// The namespace's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The namespace's uid, for owner references of the cluster-scoped objects a test makes.
    pub fn uid(&self) -> &str {
        &self.uid
    }
}

impl std::ops::Deref for TestNamespace {
    type Target = str;

    fn deref(&self) -> &str {
        &self.name
    }
}

impl Drop for TestNamespace {
    fn drop(&mut self) {
        let Some(config) = self.delete_with.take() else {
            return;
        };
        let before = self.before_delete.take();
        let name = self.name.clone();
        drop(Teardown::new(config, move |client| async move {
            if let Some(before) = before {
                before(client.clone(), name.clone()).await;
            }
            let _ = Api::<Namespace>::all(client)
                .delete(&name, &DeleteParams::background())
                .await;
        }));
    }
}

/// `<prefix>-<8 random hex digits>`, for namespaces and cluster-scoped objects that tests
/// running at once on one cluster must not share.
///
/// ```
/// use kube_apiserver_sandbox::testkit::unique_name;
/// let (a, b) = (unique_name("e2e"), unique_name("e2e"));
/// assert!(a.starts_with("e2e-") && a.len() == "e2e-".len() + 8);
/// assert_ne!(a, b);
/// ```
pub fn unique_name(prefix: &str) -> String {
    let random = uuid::Uuid::new_v4().simple().to_string();
    format!("{prefix}-{}", &random[..8])
}
