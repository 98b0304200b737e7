//! An API server restart on demand: what a controller meets when kube-apiserver is upgraded,
//! rescheduled or crashes, with etcd (the store) untouched.
//!
//! [`Sandbox::restart`] does what the death and start of the process does, in order:
//!
//! 1. The listener is closed: new connections are refused, as while no process listens.
//! 2. Every open connection is cut, and with it every watch and every request in flight (the
//!    kernel closes a dead process's sockets). A write already committed stays committed; its
//!    client just never hears the answer.
//! 3. Nothing answers for the given time.
//! 4. The new process's watch caches list from etcd at its current revision and start empty
//!    there (`watchCache.Replace` in `apiserver/pkg/storage/cacher/watch_cache.go` sets
//!    `listResourceVersion`; `getAllEventsSinceLocked` then answers an older resourceVersion
//!    with `410 Expired`, `too old resource version: <rv> (<revision at the restart>)`). Clients
//!    resuming their watches must relist. etcd's history is not compacted by a restart, so
//!    exact lists and continue tokens from before (served by etcd, `shouldDelegateList` in
//!    `cacher/delegator.go`) still work: that is the difference from
//!    [`Sandbox::compact_history`], which compacts etcd too.
//! 5. The listener is bound again on the same port, so clients reconnect to the address they
//!    know.
//!
//! # Approximations
//! The sandbox listens again only once its caches are rebuilt (immediately); a real apiserver
//! may serve a moment earlier and answer watches `429 storage is (re)initializing` meanwhile
//! (`ResilientWatchCacheInitialization`). What runs inside the sandbox besides the API (the
//! garbage collector, API Priority and Fairness' configuration, the `sandbox_apiserver_*`
//! metrics and throttling state) lives through the restart, where on a cluster the controller
//! manager would wait for the API server and the metrics would start from zero.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinSet;

use super::{Error, Sandbox};
use crate::storage::Store;

/// How long rebinding the port is retried: the closed listener's port is normally free at
/// once (tokio binds with `SO_REUSEADDR`), so this only covers a slow kernel.
const REBIND_FOR: Duration = Duration::from_secs(5);

/// One restart asked for, and who waits for the server to serve again.
#[derive(Debug)]
pub(crate) struct Request {
    down: Duration,
    done: oneshot::Sender<std::io::Result<()>>,
}

/// The sandbox's side of the restart channel.
#[derive(Debug, Clone)]
pub(crate) struct Restarts(mpsc::Sender<Request>);

/// The server's side: the accept loop takes restarts from it.
pub(crate) type Requests = mpsc::Receiver<Request>;

/// A channel from [`Sandbox::restart`] to the accept loop (`super::listener::serve`).
pub(crate) fn channel() -> (Restarts, Requests) {
    let (tx, rx) = mpsc::channel(1);
    (Restarts(tx), rx)
}

impl Request {
    /// Carries out the restart (see the module docs) on the accept loop's listener and
    /// connections; returns the listener bound again, or `None` if the port could not be bound
    /// again (the server then stops, and the requester hears why).
    pub(crate) async fn perform(
        self,
        listener: TcpListener,
        connections: &mut JoinSet<()>,
        store: &Store,
    ) -> Option<TcpListener> {
        let addr = match listener.local_addr() {
            Ok(addr) => addr,
            Err(error) => {
                let _ = self.done.send(Err(error));
                return None;
            }
        };
        drop(listener);
        // Aborting a connection's task drops its socket: the client sees the connection end,
        // mid-response or mid-watch. The watch tasks feeding those responses end with them.
        connections.shutdown().await;
        tracing::info!(%addr, down = ?self.down, "sandbox restarting: listener closed, connections cut");
        tokio::time::sleep(self.down).await;
        store.relist_watch_windows();
        match bind_again(addr).await {
            Ok(listener) => {
                tracing::info!(%addr, "sandbox restarted: serving again");
                let _ = self.done.send(Ok(()));
                Some(listener)
            }
            Err(error) => {
                let _ = self.done.send(Err(error));
                None
            }
        }
    }
}

/// Binds `addr` again, retrying briefly while the port is still taken.
async fn bind_again(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let deadline = tokio::time::Instant::now() + REBIND_FOR;
    loop {
        match TcpListener::bind(addr).await {
            Ok(listener) => return Ok(listener),
            Err(error)
                if error.kind() == std::io::ErrorKind::AddrInUse
                    && tokio::time::Instant::now() < deadline =>
            {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(error) => return Err(error),
        }
    }
}

// === impl Sandbox ===

impl Sandbox {
    /// Restarts the API server: every connection and watch is cut, connections are refused
    /// for `down`, then it serves again on the same port with the same objects and watch
    /// caches rebuilt at the current revision (watches resuming from an older
    /// resourceVersion get 410 Expired, `too old resource version`, as from a restarted
    /// kube-apiserver's watch cache; etcd is not compacted, so exact lists and continue tokens
    /// from before still work, unlike after [`Sandbox::compact_history`]). Returns once it
    /// serves again.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use std::time::Duration;
    /// use futures::StreamExt;
    /// use k8s_openapi::api::core::v1::ConfigMap;
    /// use kube::api::{ListParams, VersionMatch, WatchEvent, WatchParams};
    /// let sandbox = kube_apiserver_sandbox::Sandbox::start().await?;
    /// let cms: kube::Api<ConfigMap> = kube::Api::default_namespaced(sandbox.client()?);
    /// let named = |name: &str| serde_json::from_value::<ConfigMap>(serde_json::json!({"metadata": {"name": name}}));
    /// cms.create(&Default::default(), &named("x")?).await?;
    /// let before = sandbox.revision().to_string();
    /// cms.create(&Default::default(), &named("y")?).await?; // the revision moves past `before`
    /// let now = sandbox.revision().to_string();
    /// let mut watch = cms.watch(&WatchParams::default(), &now).await?.boxed();
    /// sandbox.restart(Duration::from_millis(100)).await?;
    /// assert!(!matches!(watch.next().await, Some(Ok(_))), "the watch was cut");
    /// // Resuming from before the last write needs a relist: the watch cache starts at the
    /// // current revision (a watch from exactly that revision is still served) ...
    /// let resumed = cms.watch(&WatchParams::default(), &before).await?.boxed().next().await;
    /// // (the watch is accepted, its first event the 410, as from a real API server)
    /// assert!(matches!(resumed, Some(Ok(WatchEvent::Error(s))) if s.code == 410));
    /// // ... but etcd kept its history: an exact list from before still works.
    /// let exact = ListParams::default().at(&before).matching(VersionMatch::Exact);
    /// assert_eq!(cms.list(&exact).await?.items.len(), 1);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::Listen`] when the server has stopped, or its port could not be bound again.
    pub async fn restart(&self, down: Duration) -> Result<(), Error> {
        let port = self.port();
        let stopped = || Error::Listen {
            port,
            source: std::io::Error::new(
                std::io::ErrorKind::NotConnected,
                "the sandbox server has stopped",
            ),
        };
        let (done, served) = oneshot::channel();
        self.restarts
            .0
            .send(Request { down, done })
            .await
            .map_err(|_| stopped())?;
        served
            .await
            .map_err(|_| stopped())?
            .map_err(|source| Error::Listen { port, source })
    }

    /// The port the sandbox listens on.
    fn port(&self) -> u16 {
        self.url
            .rsplit_once(':')
            .and_then(|(_, port)| port.parse().ok())
            .unwrap_or_default()
    }
}
