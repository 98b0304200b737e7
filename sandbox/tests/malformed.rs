//! Malformed requests get 4xx Status answers, like the apiserver's decoding and validation
//! errors, and never take the server down.
//!
//! Runs on the sandbox, or on DOC_CONTROLLER_E2E_KUBECONFIG (see `common`).

#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::Api;
use kube::api::{ListParams, PostParams};
use serde_json::json;

async fn send(
    client: &kube::Client,
    method: &str,
    path: &str,
    content_type: &str,
    body: &[u8],
) -> u16 {
    let request = http::Request::builder()
        .method(method)
        .uri(path)
        .header("Content-Type", content_type)
        .body(body.to_vec())
        .unwrap();
    match client.request_text(request).await {
        Ok(_) => 200,
        Err(kube::Error::Api(status)) => status.code,
        Err(other) => panic!("{method} {path}: {other:?}"),
    }
}

#[tokio::test]
async fn malformed_bodies_and_paths_are_client_errors_and_the_server_keeps_serving() {
    let target = common::Target::new().await;
    target.install_crd().await;
    let ns = target.namespace().await;
    let client = target.client();
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
    cms.create(&PostParams::default(), &common::configmap("x", json!({})))
        .await
        .unwrap();
    let cm = &format!("/api/v1/namespaces/{}/configmaps", &*ns);
    let doc = &format!("/apis/kube.rs/v1/namespaces/{}/documents", &*ns);
    let cases: &[(&str, String, &str, &[u8])] = &[
        ("POST", cm.to_owned(), "application/json", b"[1, 2]"),
        ("POST", cm.to_owned(), "application/json", b"{not json"),
        ("POST", cm.to_owned(), "application/json", b"{\"kind\": \"Secret\", \"metadata\": {\"name\": \"s\"}}"),
        ("POST", cm.to_owned(), "application/json", b"{\"metadata\": 5}"),
        ("POST", cm.to_owned(), "application/vnd.kubernetes.protobuf", b"k8s\x00\xff\xff"),
        ("POST", doc.to_owned(), "application/json", b"{\"apiVersion\": \"kube.rs/v1\", \"kind\": \"Document\", \"metadata\": {\"name\": \"d\"}, \"spec\": 7}"),
        ("PATCH", format!("{cm}/x"), "application/merge-patch+json", b"[1]"),
        ("PATCH", format!("{cm}/x"), "application/merge-patch+json", b"{\"metadata\": []}"),
        ("PATCH", format!("{cm}/x"), "application/json-patch+json", b"[{\"op\": \"replace\", \"path\": \"\", \"value\": 3}]"),
        ("PATCH", format!("{cm}/x"), "application/json-patch+json", b"{\"op\": \"nope\"}"),
        ("PATCH", format!("{cm}/x"), "application/strategic-merge-patch+json", b"\"str\""),
        ("PATCH", format!("{cm}/x?fieldManager=m"), "application/apply-patch+yaml", b"- a\n- b\n"),
        ("PATCH", format!("{cm}/x"), "application/apply-patch+yaml", b"{}"),
        ("PATCH", format!("{cm}/x"), "text/plain", b"{}"),
        ("PUT", format!("{cm}/y"), "application/json", b"{\"metadata\": {\"name\": \"x\"}}"),
        ("GET", format!("{cm}?labelSelector=a%20in%20("), "application/json", b""),
        ("GET", format!("{cm}?fieldSelector=spec.nope%3D1"), "application/json", b""),
        ("GET", format!("{cm}?limit=abc"), "application/json", b""),
        ("GET", format!("{cm}?continue=garbage"), "application/json", b""),
        ("GET", format!("{cm}?watch=1&resourceVersion=abc"), "application/json", b""),
        ("GET", "/apis/nope.example/v1/things".to_owned(), "application/json", b""),
        ("POST", format!("{cm}/x"), "application/json", b"{}"),
        // An immortal namespace: 403 on a real apiserver too; a dry run, to be safe there.
        ("DELETE", "/api/v1/namespaces/default?dryRun=All".to_owned(), "application/json", b""),
    ];
    for (method, path, content_type, body) in cases {
        let code = send(&client, method, path, content_type, body).await;
        assert!(
            (400..500).contains(&code),
            "{method} {path} {}: got {code}",
            String::from_utf8_lossy(body)
        );
    }
    assert_eq!(
        common::ours(cms.list(&ListParams::default()).await.unwrap().items).len(),
        1
    );
}
