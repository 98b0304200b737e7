//! Server-side field validation of custom resources, as kubectl and kube-rs request it.
//!
//! Runs on the sandbox, or on DOC_CONTROLLER_E2E_KUBECONFIG (see `common`).

#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use std::io::Write;
use std::process::{Command, Stdio};

use common::Target;
use kube::api::{Patch, PatchParams, PostParams, ValidationDirective};
use serde_json::json;

/// Runs kubectl with the target's kubeconfig off the async runtime; returns (success, stderr).
async fn kubectl(target: &Target, args: &[&str], stdin: &str) -> (bool, String) {
    let path = target.kubeconfig_path().to_owned();
    let args: Vec<String> = args.iter().map(|s| (*s).to_owned()).collect();
    let stdin = stdin.to_owned();
    tokio::task::spawn_blocking(move || {
        let home = tempfile::tempdir().unwrap();
        let mut child = Command::new(common::kubectl_binary())
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

/// `kubectl apply` (client-side) creates with `fieldValidation=Strict`: the create handler's
/// decoder reports the unknown field as a strict decoding error and `transformDecodeError`
/// makes it a 400 (`create.go`); `--validate=false` sends `Ignore` and the CRD's pruning drops
/// the field silently.
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

/// Without `fieldValidation` a create defaults to `Warn` (`rest.go` `fieldValidation`): the
/// unknown field is pruned and reported in a `Warning` header, and the create succeeds.
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

/// A merge patch whose result has an unknown field, with `fieldValidation=Strict`: the patched
/// object fails the strict decoding (`patch.go` `jsonPatcher.applyPatchToCurrentObject`), so
/// the answer is the 422 `errors.NewInvalid(schema.GroupKind{}, "", patch: ...)`, not the
/// create handler's 400.
#[tokio::test]
async fn a_strict_patch_adding_an_unknown_field_is_422_invalid() {
    let target = Target::new().await;
    target.install_crd().await;
    let ns = target.namespace().await;
    let docs = common::documents(&target.client(), &ns);
    docs.create(&PostParams::default(), &common::document("x", "t"))
        .await
        .unwrap();
    let params = PatchParams {
        field_validation: Some(ValidationDirective::Strict),
        ..Default::default()
    };
    let status = common::api_error(
        docs.patch("x", &params, &Patch::Merge(json!({"spec": {"extra": 1}})))
            .await,
    );
    assert_eq!(status.code, 422, "{status:?}");
    assert_eq!(status.reason, "Invalid");
    assert!(
        status
            .message
            .starts_with(r#" "" is invalid: patch: Invalid value: "{"#),
        "{}",
        status.message
    );
    assert!(
        status
            .message
            .ends_with(r#": strict decoding error: unknown field "spec.extra""#),
        "{}",
        status.message
    );
}

/// Server-side apply of a field the CRD's schema does not declare fails in the field
/// manager's type converter, whatever `fieldValidation` says
/// (`managedfields/internal/structuredmerge.go` `Apply`, `failed to create typed patch
/// object`); the error is no API status, so the client gets a 500 without a reason.
#[tokio::test]
async fn server_side_apply_of_an_undeclared_field_fails_in_the_type_converter() {
    let target = Target::new().await;
    target.install_crd().await;
    let ns = target.namespace().await;
    let docs = common::documents(&target.client(), &ns);
    let applied = json!({"apiVersion": "kube.rs/v1", "kind": "Document", "metadata": {"name": "x"},
        "spec": {"title": "t", "content": "c", "extra": 1}});
    let status = common::api_error(
        docs.patch(
            "x",
            &PatchParams::apply("conformance"),
            &Patch::Apply(&applied),
        )
        .await,
    );
    assert_eq!(status.code, 500, "{status:?}");
    assert_eq!(status.reason, "");
    assert_eq!(
        status.message,
        "failed to create typed patch object (/x; kube.rs/v1, Kind=Document): .spec.extra: field not declared in schema"
    );
    assert!(docs.get_opt("x").await.unwrap().is_none());
}
