//! Credentials that are never refreshed: static-credentials.

use crate::harness::{BoundTo, Demo, Logs, NS, Res, SERVICE_ACCOUNT, TokenFile};
use crate::loops::{off, on};
use crate::table::{DocState, Probe, Table, idle};
use crate::{intro, note, outro};
use doc_controller::fault::Fault;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use serde_json::json;
use std::time::Duration;

/// kube-client 5 keeps a token file's token at most 60 s and re-reads the file on the first
/// request 50 s or more after the last read (src/credentials.rs): after a rotation the demo waits
/// this long, the floor of its length. Not a guess at a machine's speed but a bound of kube's
/// code, and nothing outside the process shows when the re-read happened.
const REREAD: Duration = Duration::from_secs(60);

/// A Secret for a token to be bound to: deleting it revokes the token, as deleting a Pod revokes
/// the tokens the kubelet requested for it.
async fn token_holder(demo: &Demo, name: &str) -> Res<BoundTo> {
    let secrets: Api<Secret> = Api::namespaced(demo.client.clone(), NS);
    let secret: Secret = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Secret", "metadata": { "name": name }
    }))?;
    let created = secrets.create(&PostParams::default(), &secret).await?;
    Ok(BoundTo {
        secret: name.to_string(),
        uid: created
            .metadata
            .uid
            .ok_or("a created Secret without a uid")?,
    })
}

/// Waits until the API server rejects `token` with 401 (its Secret is gone).
async fn rejected(demo: &Demo, token: &str) -> Res {
    let mut config = demo.sandbox.kube_config();
    config.auth_info = kube::config::AuthInfo {
        token: Some(token.to_string().into()),
        ..kube::config::AuthInfo::default()
    };
    let cms: Api<ConfigMap> = Api::namespaced(kube::Client::try_from(config)?, NS);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        match cms.list(&ListParams::default().limit(1)).await {
            Err(kube::Error::Api(status)) if status.code == 401 => return Ok(()),
            _ if std::time::Instant::now() > deadline => {
                return Err("the old token still authenticates 10 s after its Secret went".into());
            }
            _ => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

/// The demo of `static-credentials`.
pub async fn static_credentials(logs: &Logs) -> Res {
    let fault = Fault::StaticCredentials;
    intro(
        fault,
        &format!(
            "3 Documents. The controller runs as the {SERVICE_ACCOUNT} ServiceAccount with a \
             token FILE, as in a Pod: its client configuration names the file (tokenFile), not \
             the token. Each token is bound to a Secret (TokenRequest boundObjectRef), as the \
             kubelet binds a Pod's tokens to the Pod. In each phase the demo writes a fresh \
             token into the file, as the kubelet does on rotation, and waits {} s: kube re-reads \
             a token file at most once a minute, which is why this demo takes about 2½ minutes. \
             Then it deletes the old token's Secret (the API server rejects that token from then \
             on; in a cluster it also expires), closes the watches (in a cluster they end at \
             their timeout, within about 5 minutes), creates a Document and edits another. Watch \
             the 401s.",
            REREAD.as_secs()
        ),
    );
    let demo = Demo::start(logs, fault, true).await?;
    demo.create_docs("signed", 3).await?;
    let probes = [
        Probe::Count(
            "401 answers",
            "doc_controller_api_requests_total",
            &["code=\"401\""],
        ),
        Probe::Count(
            "401 watch errors",
            "doc_controller_watch_errors_total",
            &["reason=\"401\""],
        ),
        Probe::Docs("documents", DocState::All),
        Probe::Docs("ready", DocState::Current),
        Probe::Logs("401 log lines", "401"),
    ];

    on(&[fault], "The token is read from the file once, at start.");
    rotate_and_revoke(&demo, &probes, &[fault], "on").await?;
    if let Some(line) = logs.last_short("401", 300) {
        note(&format!("a log line: {line}"));
    }
    note(
        "the controller still sends the token it copied at start: every request is 401, the \
         watches cannot reconnect (retried with backoff forever), the new Document is never \
         Ready and the edit is never reconciled. Only a restart would read the file again.",
    );

    off("A new token file for this controller; kube keeps the path and re-reads the file.");
    rotate_and_revoke(&demo, &probes, &[], "off").await?;
    note(
        "kube read the rotated token from the file within a minute: no 401, the watches \
         reconnect, every Document Ready.",
    );
    outro(fault);
    Ok(())
}

/// One phase: a controller on a fresh token file (bound to one Secret); after 4 s the file is
/// rotated (to a token bound to another); a minute later the first Secret is deleted, the
/// watches are closed, a Document is created and another edited.
async fn rotate_and_revoke(demo: &Demo, probes: &[Probe], faults: &[Fault], phase: &str) -> Res {
    let first = token_holder(demo, &format!("token-holder-{phase}-1")).await?;
    let second = token_holder(demo, &format!("token-holder-{phase}-2")).await?;
    let mut file = TokenFile::bound(demo, Some(&first)).await?;
    let c = demo
        .controller_as(Demo::config(faults), file.kube_config(&demo.sandbox))
        .await?;
    Table::new(probes, demo)
        .run(&c.target, Duration::from_secs(4), idle)
        .await?;
    let old = file.rotate(demo, Some(&second)).await?;
    note(&format!(
        "rotated: the token file holds a new token (bound to Secret {}). Waiting {} s, kube's \
         re-read interval …",
        second.secret,
        REREAD.as_secs()
    ));
    tokio::time::sleep(REREAD).await;
    Api::<Secret>::namespaced(demo.client.clone(), NS)
        .delete(&first.secret, &DeleteParams::default())
        .await?;
    rejected(demo, &old).await?;
    demo.sandbox.faults().close_watches();
    demo.create_docs(&format!("after-{phase}"), 1).await?;
    demo.set_spec(
        "signed-0",
        json!({ "title": format!("edited with the fault {phase}") }),
    )
    .await?;
    note(&format!(
        "kubectl delete secret {}: the old token is rejected (401); watches closed; Document \
         after-{phase}-0 created, signed-0 edited",
        first.secret
    ));
    Table::new(probes, demo)
        .run(&c.target, Duration::from_secs(12), idle)
        .await?;
    c.stop().await
}
