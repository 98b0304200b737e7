//! The optional latency model ([`LatencyModel`]): the time a real kube-apiserver with etcd
//! takes where the in-memory store answers in microseconds, applied where a verb reaches
//! storage (`crate::http` calls [`LatencyModel::storage`]) and where a watch event is
//! delivered (`crate::verbs` calls [`LatencyModel::delivery`]).

use std::time::Duration;

use tokio::time::Instant;

/// What a request does at storage, for the delay it takes there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    /// A GET or a LIST.
    Read,
    /// A create, update, patch or delete.
    Write,
    /// Nothing that reaches etcd: a dry run, a watch request, anything else.
    None,
}

/// An optional latency model: the time a real kube-apiserver with etcd takes where the
/// in-memory store answers in microseconds.
///
/// Without it, a controller that makes more round trips than another looks as fast on the
/// sandbox as on nothing at all, and a benchmark ranks changes differently from a real server.
/// The model adds three delays, each at the point where a real server spends it:
///
/// * **write**: before a create, update, patch or delete is committed. A real write is an etcd
///   transaction (a raft proposal, then the commit): the resourceVersion precondition is checked
///   and the revision assigned at commit time, after the delay, so a concurrent write can still
///   make a conditional update fail with 409 meanwhile, as on a cluster. Writes do not queue
///   behind each other: etcd pipelines proposals, so concurrent writes each take the delay.
/// * **read**: before a GET or a LIST is answered (a quorum read from etcd, or the consistent
///   read from the watch cache, which first asks etcd for its current revision).
/// * **watch**: between a write's commit and the watch event reaching any watcher (etcd's watch
///   to the apiserver's watch cache, then its dispatch to each watcher). Events keep their order:
///   each is delivered at its commit time plus the delay, never before the one before it.
///   Replayed history and the initial events of a streaming list come from the watch cache
///   and are not delayed.
///
/// Dry runs never reach etcd and are not delayed; a watch request itself is not delayed.
///
/// # Calibration ([`LatencyModel::KUBE_APISERVER_ETCD`])
/// Against the figures of `bench convergence` on a real kube-apiserver v1.32 with etcd
/// (loopback, 2 shared cores, etcd without fsync; README, "Benchmarks"), 2,000 Documents,
/// 16 in flight: the write floor (3 writes per Document and the batched index) took 10.5 s
/// there and 5.2 s on the sandbox without a model; the controller (a GET, an update, the watch
/// echo, 4 writes) 1.46× the floor there, 1.05× on the sandbox. With the model, on the same kind
/// of machine and the same code: floor 10.2 s (11.0 s in another run), controller 1.29× and
/// 1.39× (two rounds).
///
/// * `write` = 8 ms makes the floor's time match. It is what the real server's write takes
///   beyond the sandbox's, under that load: the CPU of the handler chain, admission and
///   server-side apply in Go, and etcd's commit.
/// * `read` = 8 ms: a GET takes the same handler chain and an etcd round trip; the real run's
///   totals cannot tell it apart from a write.
/// * `watch` = 15 ms: the rest of the controller's gap, which waits for the echo of its own
///   write. The real run's controller phase also overlapped the deletion of the floor's
///   namespace (the bench did not wait for it then), so 1.46× overstates that gap; the model
///   stays a little under it.
///
/// These three numbers are a model of one machine's load, not of etcd: they make a benchmark
/// count round trips as a real server does, so that it ranks changes the same way.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use kube_apiserver_sandbox::{LatencyModel, Sandbox};
/// let sandbox = Sandbox::builder().latency(LatencyModel::KUBE_APISERVER_ETCD).start().await?;
/// let started = std::time::Instant::now();
/// sandbox.client()?.list_core_api_versions().await?; // discovery: not a storage read
/// let cms: kube::Api<k8s_openapi::api::core::v1::ConfigMap> =
///     kube::Api::namespaced(sandbox.client()?, "default");
/// cms.list(&Default::default()).await?; // a read: 8 ms more
/// assert!(started.elapsed() >= LatencyModel::KUBE_APISERVER_ETCD.read);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LatencyModel {
    /// Added before each write is committed.
    pub write: Duration,
    /// Added before each GET or LIST is answered.
    pub read: Duration,
    /// Between a commit and its watch event reaching a watcher.
    pub watch: Duration,
}

impl LatencyModel {
    /// No delays: the sandbox answers as fast as it can (the default).
    pub const NONE: Self = Self {
        write: Duration::ZERO,
        read: Duration::ZERO,
        watch: Duration::ZERO,
    };

    /// A kube-apiserver v1.32 with etcd on 2 shared cores, as calibrated above
    /// ([`LatencyModel`]).
    pub const KUBE_APISERVER_ETCD: Self = Self {
        write: Duration::from_millis(8),
        read: Duration::from_millis(8),
        watch: Duration::from_millis(15),
    };

    /// Whether every delay is zero.
    pub fn is_none(&self) -> bool {
        *self == Self::NONE
    }

    /// Waits what the storage layer takes for a request that does `access` there (the hook
    /// where a verb reaches etcd).
    pub(crate) async fn storage(&self, access: Access) {
        let delay = match access {
            Access::Read => self.read,
            Access::Write => self.write,
            Access::None => Duration::ZERO,
        };
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
    }

    /// Waits until an event committed at `committed` reaches a watcher (the hook where a watch
    /// event is delivered).
    pub(crate) async fn delivery(&self, committed: std::time::Instant) {
        if !self.watch.is_zero() {
            tokio::time::sleep_until(Instant::from_std(committed + self.watch)).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn writes_wait_the_write_delay_reads_the_read_delay_and_the_rest_nothing() {
        let model = LatencyModel {
            write: Duration::from_millis(8),
            read: Duration::from_millis(2),
            watch: Duration::from_millis(5),
        };
        let took = |access: Access| async move {
            let start = Instant::now();
            model.storage(access).await;
            start.elapsed()
        };
        assert_eq!(took(Access::Write).await, Duration::from_millis(8));
        assert_eq!(took(Access::Read).await, Duration::from_millis(2));
        assert_eq!(took(Access::None).await, Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn a_watch_event_is_due_its_delay_after_the_commit_not_after_it_was_read() {
        let model = LatencyModel {
            watch: Duration::from_millis(5),
            ..LatencyModel::NONE
        };
        // The commit time on the paused clock, as the store would have taken it then.
        let start = Instant::now();
        let committed = start.into_std();
        tokio::time::advance(Duration::from_millis(3)).await;
        model.delivery(committed).await;
        // Due at commit + 5 ms: 2 ms more after the 3 ms already gone, not 5 ms more.
        assert_eq!(start.elapsed(), Duration::from_millis(5));
    }
}
