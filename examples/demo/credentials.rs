//! Credentials that are never refreshed: static-credentials.

use crate::harness::{Demo, Logs, NS, Res, SERVICE_ACCOUNT};
use crate::loops::{off, on};
use crate::table::{DocState, Probe, Table, idle};
use crate::{intro, note, outro};
use doc_controller::fault::Fault;
use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
use k8s_openapi::api::core::v1::ServiceAccount;
use kube::api::{Api, PostParams};
use serde_json::json;
use std::path::PathBuf;
use std::time::Duration;

/// kube-client 5 keeps a token file's token at most 60 s and re-reads the file on the first
/// request 50 s or more after the last read (src/credentials.rs): after a rotation the demo waits
/// this long, the floor of its length.
const REREAD: Duration = Duration::from_secs(60);

/// A ServiceAccount token in a file, as the kubelet projects it into a Pod and rotates it.
struct TokenFile {
    _dir: tempfile::TempDir,
    path: PathBuf,
    token: String,
}

impl TokenFile {
    async fn new(demo: &Demo) -> Res<TokenFile> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("token");
        let token = request_token(demo).await?;
        std::fs::write(&path, &token)?;
        Ok(TokenFile {
            _dir: dir,
            path,
            token,
        })
    }

    /// A client configuration naming the file (`tokenFile`), as `Config::infer()` in a Pod.
    fn kube_config(&self, demo: &Demo) -> kube::Config {
        let mut config = demo.sandbox.kube_config();
        config.auth_info = kube::config::AuthInfo {
            token_file: Some(self.path.display().to_string()),
            ..kube::config::AuthInfo::default()
        };
        config
    }

    /// Writes a fresh token over the file (beside it, then renamed, as the kubelet's atomic
    /// writer does); returns the token it replaced.
    async fn rotate(&mut self, demo: &Demo) -> Res<String> {
        let fresh = request_token(demo).await?;
        let next = self.path.with_extension("next");
        std::fs::write(&next, &fresh)?;
        std::fs::rename(&next, &self.path)?;
        Ok(std::mem::replace(&mut self.token, fresh))
    }
}

/// A token of the ServiceAccount from the TokenRequest API (10 minutes, the shortest granted).
async fn request_token(demo: &Demo) -> Res<String> {
    let request = TokenRequest {
        spec: Some(TokenRequestSpec {
            expiration_seconds: Some(600),
            ..TokenRequestSpec::default()
        }),
        ..TokenRequest::default()
    };
    let answer = Api::<ServiceAccount>::namespaced(demo.client.clone(), NS)
        .create_token_request(SERVICE_ACCOUNT, &PostParams::default(), &request)
        .await?;
    Ok(answer
        .status
        .and_then(|s| s.token)
        .ok_or("TokenRequest without a token")?)
}

/// The demo of `static-credentials`.
pub async fn static_credentials(logs: &Logs) -> Res {
    let fault = Fault::StaticCredentials;
    intro(
        fault,
        &format!(
            "3 Documents. The controller runs as the {SERVICE_ACCOUNT} ServiceAccount (the RBAC of \
             yaml/rbac.yaml, bound cluster-wide) with a token FILE, as in a Pod: its client \
             configuration names the file (tokenFile), not the token. In each phase the demo \
             writes a fresh token (TokenRequest) into the file, as the kubelet does on rotation, \
             and waits {} s: kube re-reads a token file at most once a minute, which is why \
             this demo takes about 2½ minutes. Then it revokes the old token (in a cluster it \
             expires), closes the watches (in a cluster they end at their timeout, within about \
             5 minutes), creates a Document and edits another. Watch the 401s.",
            REREAD.as_secs()
        ),
    );
    let demo = Demo::start(logs, true).await?;
    demo.create_docs("signed", 3).await?;
    // Creates the ServiceAccount, the ClusterRole and its binding; each phase asks for its own
    // tokens.
    demo.service_account(true).await?;
    println!("sandbox   ClusterRoleBinding {SERVICE_ACCOUNT} → ClusterRole {SERVICE_ACCOUNT}");
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

/// One phase: a controller on a fresh token file; after 4 s the file is rotated; a minute later
/// the old token is revoked, the watches are closed, a Document is created and another edited.
async fn rotate_and_revoke(demo: &Demo, probes: &[Probe], faults: &[Fault], phase: &str) -> Res {
    let mut file = TokenFile::new(demo).await?;
    let c = demo
        .controller_as(Demo::config(faults), file.kube_config(demo))
        .await?;
    Table::new(probes, demo)
        .run(&c.target, Duration::from_secs(4), idle)
        .await?;
    let old = file.rotate(demo).await?;
    note(&format!(
        "rotated: the token file holds a new token. Waiting {} s, kube's re-read interval …",
        REREAD.as_secs()
    ));
    tokio::time::sleep(REREAD).await;
    demo.sandbox.revoke_service_account_token(&old);
    demo.sandbox.faults().close_watches();
    demo.create_docs(&format!("after-{phase}"), 1).await?;
    demo.set_spec(
        "signed-0",
        json!({ "title": format!("edited with the fault {phase}") }),
    )
    .await?;
    note(&format!(
        "old token revoked, watches closed; Document after-{phase}-0 created, signed-0 edited"
    ));
    Table::new(probes, demo)
        .run(&c.target, Duration::from_secs(12), idle)
        .await?;
    c.stop().await
}
