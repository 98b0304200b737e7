//! Server-side field validation of custom resources, as kubectl and kube-rs request it.
//!
//! Runs on the sandbox, or on DOC_CONTROLLER_E2E_KUBECONFIG (see `common`).

#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use std::io::Write;
use std::process::{Command, Stdio};

use common::Target;
use kube::api::PostParams;
use serde_json::json;

/// Runs kubectl with the target's kubeconfig off the async runtime; returns (success, stderr).
async fn kubectl(target: &Target, args: &[&str], stdin: &str) -> (bool, String) {
    let path = target.kubeconfig_path().to_owned();
    let args: Vec<String> = args.iter().map(|s| (*s).to_owned()).collect();
    let stdin = stdin.to_owned();
    tokio::task::spawn_blocking(move || {
        let home = tempfile::tempdir().unwrap();
        let mut child = Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(&path)
            .args(&args)
            .env("HOME", home.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("kubectl is installed");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    })
    .await
    .unwrap()
}

const TYPO: &str = "apiVersion: kube.rs/v1
kind: Document
metadata:
  name: typo
spec:
  title: Hello
  content: world
  titel: oops
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strict_field_validation_rejects_unknown_fields_and_ignore_prunes_them() {
    let target = Target::new().await;
    target.install_crd().await;
    let ns = target.namespace().await;
    let (ok, err) = kubectl(&target, &["apply", "-n", &ns, "-f", "-"], TYPO).await;
    assert!(!ok);
    assert!(err.contains("unknown field \"spec.titel\""), "{err}");
    let (ok, err) = kubectl(
        &target,
        &["apply", "-n", &ns, "--validate=false", "-f", "-"],
        TYPO,
    )
    .await;
    assert!(ok, "{err}");
    let doc = common::documents(&target.client(), &ns)
        .get("typo")
        .await
        .unwrap();
    assert!(doc.data["spec"].get("titel").is_none());
}

#[tokio::test]
async fn the_default_warn_validation_prunes_unknown_fields_and_succeeds() {
    let target = Target::new().await;
    target.install_crd().await;
    let ns = target.namespace().await;
    let mut doc = common::document("x", "t");
    doc.data["spec"]["extra"] = json!(true);
    let created = common::documents(&target.client(), &ns)
        .create(&PostParams::default(), &doc)
        .await
        .unwrap();
    assert!(created.data["spec"].get("extra").is_none());
}
