//! An API server restart (`Sandbox::restart`), as kube-apiserver's own code has it: connections
//! cut and refused while it is down, the same objects afterwards, watch caches rebuilt at the
//! current revision (`watchCache.Replace`), etcd's history untouched.
//!
//! Restarting an API server on demand is a sandbox hook no real cluster offers, so, like the
//! fault tests, every test starts a sandbox of its own and ignores
//! `DOC_CONTROLLER_E2E_KUBECONFIG`.

#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use std::time::Duration;

use common::configmap;
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::Api;
use kube::api::{ListParams, PostParams, VersionMatch, WatchEvent, WatchParams};
use kube_apiserver_sandbox::Sandbox;
use serde_json::json;

/// How long the tests' API server stays down.
const DOWN: Duration = Duration::from_millis(800);

fn host_port(sb: &Sandbox) -> String {
    sb.url().trim_start_matches("https://").to_owned()
}

async fn create(cms: &Api<ConfigMap>, name: &str) -> String {
    cms.create(&PostParams::default(), &configmap(name, json!({})))
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap()
}

/// While the process is down nothing listens on its port (connection refused), every open
/// connection ends (a watch stream ends without an error event: the socket just closes), and
/// afterwards the same port serves again.
#[tokio::test]
async fn a_restart_cuts_every_watch_and_refuses_connections_until_it_serves_again() {
    let sb = Sandbox::start().await.unwrap();
    let cms: Api<ConfigMap> = Api::default_namespaced(sb.client().unwrap());
    let rv = create(&cms, "a").await;
    let mut watch = cms
        .watch(&WatchParams::default(), &rv)
        .await
        .unwrap()
        .boxed();
    let addr = host_port(&sb);
    // Positive control: the port accepts connections before the restart.
    tokio::net::TcpStream::connect(&addr).await.unwrap();

    let restart = sb.restart(DOWN);
    let observe = async {
        // The open watch ends: the next item is the end of the stream or a transport error,
        // never an event.
        let next = tokio::time::timeout(common::TIMEOUT, watch.next())
            .await
            .expect("the watch ends with the restart");
        assert!(
            matches!(next, None | Some(Err(_))),
            "expected the watch to end, got {next:?}"
        );
        let refused = tokio::net::TcpStream::connect(&addr).await;
        assert_eq!(
            refused.map(|_| ()).unwrap_err().kind(),
            std::io::ErrorKind::ConnectionRefused,
            "nothing listens while the API server is down"
        );
    };
    let (restarted, ()) = tokio::join!(restart, observe);
    restarted.unwrap();

    // The same port, the same objects.
    tokio::net::TcpStream::connect(&addr).await.unwrap();
    let a = cms.get("a").await.unwrap();
    assert_eq!(a.metadata.resource_version.unwrap(), rv);
}

/// The restarted server's watch caches start at the revision etcd had when it came back
/// (`watchCache.Replace` sets `listResourceVersion`): a watch from any older resourceVersion is
/// `410 Expired` with `getAllEventsSinceLocked`'s message, one from that revision on is served.
/// etcd itself was not compacted, so an exact list at an old resourceVersion (delegated to etcd:
/// `shouldDelegateList`) still answers, as does a continue token, which `compact_history`
/// (etcd compacted too) turns into 410s.
#[tokio::test]
async fn after_a_restart_only_watches_from_before_it_are_410_expired_and_exact_lists_still_work() {
    let sb = Sandbox::start().await.unwrap();
    let cms: Api<ConfigMap> = Api::default_namespaced(sb.client().unwrap());
    let before = create(&cms, "a").await;
    create(&cms, "b").await;
    let first_page = cms
        .list(&ListParams::default().limit(1))
        .await
        .unwrap()
        .metadata
        .continue_
        .unwrap();
    let at_restart = sb.revision();

    sb.restart(DOWN).await.unwrap();

    // Positive control: a watch from the revision of the restart is served.
    let stream = cms
        .watch(&WatchParams::default(), &at_restart.to_string())
        .await
        .unwrap();
    let after = create(&cms, "c").await;
    let events: Vec<_> = stream.take(1).try_collect().await.unwrap();
    assert!(
        matches!(&events[..], [WatchEvent::Added(cm)] if cm.metadata.resource_version.as_deref() == Some(after.as_str())),
        "{events:?}"
    );

    let events: Vec<_> = cms
        .watch(&WatchParams::default(), &before)
        .await
        .unwrap()
        .take(1)
        .try_collect()
        .await
        .unwrap();
    match &events[..] {
        [WatchEvent::Error(status)] => {
            assert_eq!((status.code, status.reason.as_str()), (410, "Expired"));
            assert_eq!(
                status.message,
                format!("too old resource version: {before} ({at_restart})")
            );
        }
        other => panic!("expected 410 Expired, got {other:?}"),
    }

    let exact = cms
        .list(&ListParams {
            resource_version: Some(before.clone()),
            version_match: Some(VersionMatch::Exact),
            ..ListParams::default()
        })
        .await
        .unwrap();
    assert_eq!(common::names(exact.items), ["a"]);
    let rest = cms
        .list(&ListParams::default().limit(1).continue_token(&first_page))
        .await
        .unwrap();
    assert_eq!(common::names(rest.items), ["b"]);

    // The difference to a compaction: there, etcd's history is gone too.
    sb.compact_history();
    let compacted = cms
        .list(&ListParams {
            resource_version: Some(before),
            version_match: Some(VersionMatch::Exact),
            ..ListParams::default()
        })
        .await;
    assert_eq!(common::api_error(compacted).code, 410);
}
