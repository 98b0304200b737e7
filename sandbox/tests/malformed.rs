//! Malformed requests get the status codes and messages the apiserver's decoding and
//! validation give them (mostly 4xx, but not all: see the cases), and never take the server
//! down.
//!
//! Runs on the sandbox, or on DOC_CONTROLLER_E2E_KUBECONFIG (see `common`).

#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::Api;
use kube::api::{ListParams, PostParams};
use serde_json::json;

/// What a case's answer must say.
enum Says {
    /// Any message (the wording is not the sandbox's to mirror, or not determined).
    Anything,
    /// Exactly this message.
    Exactly(String),
    /// A message starting with this.
    StartsWith(String),
}

/// One request: method, path, content type, body, the expected code and message.
type Case<'a> = (&'a str, String, &'a str, &'a [u8], u16, Says);

/// The status code and message of a raw request (200 and an empty message on success).
async fn send(
    client: &kube::Client,
    method: &str,
    path: &str,
    content_type: &str,
    body: &[u8],
) -> (u16, String) {
    let request = http::Request::builder()
        .method(method)
        .uri(path)
        .header("Content-Type", content_type)
        .body(body.to_vec())
        .unwrap();
    match client.request_text(request).await {
        Ok(_) => (200, String::new()),
        Err(kube::Error::Api(status)) => (status.code, status.message),
        Err(other) => panic!("{method} {path}: {other:?}"),
    }
}

/// Each case names the apiserver code path that answers it:
///
/// - POST bodies: the create handler's `decoder.Decode` and `transformDecodeError`
///   (`endpoints/handlers/create.go`, `rest.go`); a body that is no object fails in the JSON
///   serializer's `SimpleMetaFactory.Interpret` and is summarized in hex by `summarizeData`.
///   A body of another kind decodes as that kind and fails converting to the resource's
///   internal type. The protobuf and `{not json` wordings are the Go decoders' own and are not
///   asserted.
/// - PATCH: `patch.go` `jsonPatcher.applyJSPatch` (merge and JSON patches; with the default
///   `fieldValidation=Warn` the body is strictly decoded first: `error decoding patch: ...`),
///   `strategicPatchObject`, `applyPatcher` (`error decoding YAML: ...`), `validatePatchOptions`
///   (`fieldManager` required for apply) and the go-restful content-type check (415). A JSON
///   patch `replace` of the root with a number is a no-op in evanphx/json-patch v4
///   (`errors.Wrapf(nil, ...)` is nil), so the PATCH succeeds. A patch whose result no longer
///   decodes is `errors.NewInvalid(schema.GroupKind{}, "", patch: ...)`, 422.
/// - PUT: `checkName` (`rest.go`).
/// - GET: label selectors (`labels.Parse`), field selectors (the resource's selectable
///   fields), the query codec's `strconv.ParseInt` for `limit`, `storage.DecodeContinue`
///   (`invalid continue token: ...`) and `APIObjectVersioner.ParseResourceVersion`, whose
///   error no layer interprets: a watch (or list) with an unparsable `resourceVersion` is a
///   500 (kubernetes/kubernetes#101350, unchanged in 1.32).
/// - An unknown group falls through to `notfoundhandler`: a plain-text `404 page not found`.
/// - POST on an object path: go-restful has no such route, 405.
/// - Deleting `default`: the NamespaceLifecycle admission plugin's 403 (admission runs on dry
///   runs too, so the case is safe on a cluster).
#[tokio::test]
async fn malformed_requests_get_the_apiservers_answers_and_the_server_keeps_serving() {
    let target = common::Target::new().await;
    target.install_crd().await;
    let ns = target.namespace().await;
    let client = target.client();
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
    let before = cms
        .create(&PostParams::default(), &common::configmap("x", json!({})))
        .await
        .unwrap();
    let cm = &format!("/api/v1/namespaces/{}/configmaps", &*ns);
    let doc = &format!("/apis/kube.rs/v1/namespaces/{}/documents", &*ns);
    let exactly = |m: &str| Says::Exactly(m.to_owned());
    let starts = |m: &str| Says::StartsWith(m.to_owned());
    let not_a_map = |t: &str| {
        format!("json: cannot unmarshal {t} into Go value of type map[string]interface {{}}")
    };
    let cases: Vec<Case> = vec![
        ("POST", cm.clone(), "application/json", b"[1, 2]", 400, exactly(
            r#"the object provided is unrecognized (must be of type ConfigMap): couldn't get version/kind; json parse error: json: cannot unmarshal array into Go value of type struct { APIVersion string "json:\"apiVersion,omitempty\""; Kind string "json:\"kind,omitempty\"" } (5b312c20325d)"#)),
        ("POST", cm.clone(), "application/json", b"{not json", 400, Says::Anything),
        ("POST", cm.clone(), "application/json", b"{\"kind\": \"Secret\", \"metadata\": {\"name\": \"s\"}}", 400,
            exactly(r#"Secret in version "v1" cannot be handled as a ConfigMap: converting (v1.Secret) to (core.ConfigMap): unknown conversion"#)),
        ("POST", cm.clone(), "application/json", b"{\"metadata\": 5}", 400,
            exactly(r#"ConfigMap in version "v1" cannot be handled as a ConfigMap: json: cannot unmarshal number into Go struct field ConfigMap.metadata of type v1.ObjectMeta"#)),
        ("POST", cm.clone(), "application/vnd.kubernetes.protobuf", b"k8s\x00\xff\xff", 400, Says::Anything),
        ("POST", doc.clone(), "application/json", b"{\"apiVersion\": \"kube.rs/v1\", \"kind\": \"Document\", \"metadata\": {\"name\": \"d\"}, \"spec\": 7}", 422,
            starts(r#"Document.kube.rs "d" is invalid: "#)),
        ("PATCH", format!("{cm}/x"), "application/merge-patch+json", b"[1]", 400,
            Says::Exactly(format!("error decoding patch: {}", not_a_map("array")))),
        ("PATCH", format!("{cm}/x"), "application/merge-patch+json", b"{\"metadata\": []}", 422,
            starts(r#" "" is invalid: patch: Invalid value: "{"#)),
        ("PATCH", format!("{cm}/x"), "application/json-patch+json", b"[{\"op\": \"replace\", \"path\": \"\", \"value\": 3}]", 200, Says::Anything),
        ("PATCH", format!("{cm}/x"), "application/json-patch+json", b"{\"op\": \"nope\"}", 400,
            exactly("error decoding patch: json: cannot unmarshal object into Go value of type []handlers.jsonPatchOp")),
        ("PATCH", format!("{cm}/x"), "application/strategic-merge-patch+json", b"\"str\"", 400,
            Says::Exactly(not_a_map("string"))),
        ("PATCH", format!("{cm}/x?fieldManager=m"), "application/apply-patch+yaml", b"- a\n- b\n", 400,
            Says::Exactly(format!("error decoding YAML: error unmarshaling JSON: while decoding JSON: {}", not_a_map("array")))),
        ("PATCH", format!("{cm}/x"), "application/apply-patch+yaml", b"{}", 422,
            exactly(r#"PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required for apply patch"#)),
        ("PATCH", format!("{cm}/x"), "text/plain", b"{}", 415,
            starts("the body of the request was in an unknown format - accepted media types include: ")),
        ("PUT", format!("{cm}/y"), "application/json", b"{\"metadata\": {\"name\": \"x\"}}", 400,
            exactly("the name of the object (x) does not match the name on the URL (y)")),
        ("GET", format!("{cm}?labelSelector=a%20in%20("), "application/json", b"", 400, starts("unable to parse requirement: ")),
        ("GET", format!("{cm}?fieldSelector=spec.nope%3D1"), "application/json", b"", 400, Says::Anything),
        ("GET", format!("{cm}?limit=abc"), "application/json", b"", 400,
            exactly(r#"strconv.ParseInt: parsing "abc": invalid syntax"#)),
        ("GET", format!("{cm}?continue=garbage"), "application/json", b"", 400,
            starts("invalid continue token: continue key is not valid: ")),
        ("GET", format!("{cm}?watch=1&resourceVersion=abc"), "application/json", b"", 500,
            exactly(r#"resourceVersion: Invalid value: "abc": strconv.ParseUint: parsing "abc": invalid syntax"#)),
        ("GET", format!("{cm}?resourceVersion=abc"), "application/json", b"", 500,
            exactly(r#"resourceVersion: Invalid value: "abc": strconv.ParseUint: parsing "abc": invalid syntax"#)),
        ("GET", "/apis/nope.example/v1/things".to_owned(), "application/json", b"", 404, Says::Anything),
        ("POST", format!("{cm}/x"), "application/json", b"{}", 405,
            exactly("the server does not allow this method on the requested resource")),
        ("DELETE", "/api/v1/namespaces/default?dryRun=All".to_owned(), "application/json", b"", 403,
            exactly(r#"namespaces "default" is forbidden: this namespace may not be deleted"#)),
    ];
    for (method, path, content_type, body, code, says) in cases {
        let (got, message) = send(&client, method, &path, content_type, body).await;
        let what = format!("{method} {path} {}", String::from_utf8_lossy(body));
        assert_eq!(got, code, "{what}: {message}");
        match says {
            Says::Anything => {}
            Says::Exactly(want) => assert_eq!(message, want, "{what}"),
            Says::StartsWith(want) => assert!(message.starts_with(&want), "{what}: {message}"),
        }
    }
    let after = cms.get("x").await.unwrap();
    assert_eq!(
        after.metadata.resource_version, before.metadata.resource_version,
        "the no-op patch changed nothing"
    );
    assert_eq!(
        common::ours(cms.list(&ListParams::default()).await.unwrap().items).len(),
        1
    );
}

/// A JSON patch `replace` of the root with an object replaces the whole document
/// (evanphx/json-patch v4 `Patch.replace`); the patch handler's `checkName` then rejects the
/// result, which has lost the object's name: 400, and the object is unchanged.
#[tokio::test]
async fn a_json_patch_replacing_the_root_with_an_object_replaces_the_document() {
    let target = common::Target::new().await;
    let ns = target.namespace().await;
    let client = target.client();
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
    cms.create(&PostParams::default(), &common::configmap("x", json!({})))
        .await
        .unwrap();
    let path = format!("/api/v1/namespaces/{}/configmaps/x", &*ns);
    let nameless = br#"[{"op": "replace", "path": "", "value": {"data": {"a": "b"}}}]"#;
    let (code, message) = send(
        &client,
        "PATCH",
        &path,
        "application/json-patch+json",
        nameless,
    )
    .await;
    assert_eq!(code, 400, "{message}");
    assert_eq!(
        message,
        "the name of the object () does not match the name on the URL (x)"
    );
    let whole = json!([{"op": "replace", "path": "", "value": {
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "x", "namespace": &*ns}, "data": {"only": "this"}}}]);
    let (code, message) = send(
        &client,
        "PATCH",
        &path,
        "application/json-patch+json",
        whole.to_string().as_bytes(),
    )
    .await;
    assert_eq!(code, 200, "{message}");
    let data = cms.get("x").await.unwrap().data.unwrap_or_default();
    assert_eq!(
        data.into_iter().collect::<Vec<_>>(),
        [("only".to_owned(), "this".to_owned())]
    );
}
