//! ServiceAccount tokens of the TokenRequest API bound to a Secret (`spec.boundObjectRef`):
//! they authenticate while the Secret exists and are answered 401 once it is deleted, while
//! unbound tokens of the same ServiceAccount keep working; binding to a missing or
//! unsupported object is refused as a real server refuses it.
//!
//! Runs on the sandbox, or on DOC_CONTROLLER_E2E_KUBECONFIG (see `common`). A real server
//! caches successful token authentications for 10 s, so the 401 is waited for, not expected
//! at once.

#![allow(clippy::unwrap_used, missing_docs)]

mod accounts;
mod common;

use common::{Target, api_error, eventually};
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::Api;
use kube::api::{DeleteParams, ListParams, PostParams};
use serde_json::json;

async fn secret(client: &kube::Client, ns: &str, name: &str) -> Secret {
    let secret: Secret = serde_json::from_value(json!({
        "metadata": {"name": name},
        "stringData": {"purpose": "holds a token binding"},
    }))
    .unwrap();
    Api::<Secret>::namespaced(client.clone(), ns)
        .create(&PostParams::default(), &secret)
        .await
        .unwrap()
}

async fn lists(client: &kube::Client, ns: &str) -> Result<(), kube::Error> {
    Api::<ConfigMap>::namespaced(client.clone(), ns)
        .list(&ListParams::default())
        .await
        .map(drop)
}

/// Mirrors the TokenRequest REST handler (`pkg/registry/core/serviceaccount/storage/token.go`,
/// the `Secret` case of `boundObjectRef`: the Secret must exist, its uid goes into the token)
/// and the token validator (`pkg/serviceaccount/claims.go`: the bound Secret is fetched on
/// every authentication; when it is gone the token "has been invalidated"), whose failure the
/// authentication filter answers with the plain 401 `Unauthorized` Status.
#[tokio::test]
async fn a_token_bound_to_a_secret_stops_authenticating_once_the_secret_is_deleted() {
    let target = Target::new().await;
    let ns = target.namespace().await;
    let client = target.client();
    accounts::service_account(&client, &ns, "bound").await;
    let holder = secret(&client, &ns, "token-holder").await;
    assert_eq!(holder.type_.as_deref(), Some("Opaque"));
    assert!(
        holder
            .data
            .as_ref()
            .is_some_and(|d| d.contains_key("purpose"))
    );

    let issued = accounts::request_token(&client, &ns, "bound", Some(accounts::bound_to(&holder)))
        .await
        .unwrap();
    let spec = issued.spec.clone().unwrap();
    let bound_ref = spec.bound_object_ref.clone().unwrap();
    assert_eq!(
        (bound_ref.kind.as_deref(), bound_ref.name.as_deref()),
        (Some("Secret"), Some("token-holder"))
    );
    assert_eq!(bound_ref.uid, holder.metadata.uid);
    assert_eq!(spec.expiration_seconds, Some(3600));
    let status = issued.status.unwrap();
    let expires_in = status.expiration_timestamp.clone().unwrap().0.as_second()
        - jiff::Timestamp::now().as_second();
    assert!((3500..=3700).contains(&expires_in), "{expires_in}");
    let bound = accounts::client_for_token(&target.kube_config(), &status.token.unwrap());
    let unbound = accounts::token(&client, &ns, "bound", None).await;
    let unbound = accounts::client_for_token(&target.kube_config(), &unbound);
    lists(&bound, &ns).await.unwrap();
    lists(&unbound, &ns).await.unwrap();

    Api::<Secret>::namespaced(client.clone(), &ns)
        .delete("token-holder", &DeleteParams::default())
        .await
        .unwrap();
    eventually("the bound token is answered 401", || async {
        matches!(lists(&bound, &ns).await, Err(kube::Error::Api(s)) if s.code == 401)
    })
    .await;
    let status = api_error(lists(&bound, &ns).await);
    assert_eq!(
        (status.code, status.reason.as_str(), status.message.as_str()),
        (401, "Unauthorized", "Unauthorized")
    );
    let raw = accounts::get(
        &bound,
        &format!("/api/v1/namespaces/{}/configmaps", ns.name()),
    )
    .await;
    assert_eq!(raw.status, 401);
    let body: serde_json::Value = serde_json::from_str(&raw.body).unwrap();
    assert_eq!(
        body,
        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": "Unauthorized", "reason": "Unauthorized", "code": 401})
    );
    lists(&unbound, &ns)
        .await
        .expect("an unbound token of the same ServiceAccount still works");
}

/// Mirrors the `boundObjectRef` checks of the TokenRequest REST handler
/// (`pkg/registry/core/serviceaccount/storage/token.go`): the bound Secret (or Pod) is read
/// first, so a missing one is its 404; a `uid` that is not the object's is a 409 Conflict; a
/// kind that cannot be bound is a 400.
#[tokio::test]
async fn tokens_bound_to_missing_or_other_objects_are_refused_as_on_a_real_server() {
    let target = Target::new().await;
    let ns = target.namespace().await;
    let client = target.client();
    accounts::service_account(&client, &ns, "bound").await;
    let holder = secret(&client, &ns, "token-holder").await;
    let refused = |bound: serde_json::Value| {
        let client = client.clone();
        let ns = ns.name().to_owned();
        async move { api_error(accounts::request_token(&client, &ns, "bound", Some(bound)).await) }
    };

    let missing = refused(json!({"kind": "Secret", "apiVersion": "v1", "name": "missing"})).await;
    assert_eq!(
        (
            missing.code,
            missing.reason.as_str(),
            missing.message.as_str()
        ),
        (404, "NotFound", "secrets \"missing\" not found")
    );
    let pod = refused(json!({"kind": "Pod", "apiVersion": "v1", "name": "missing"})).await;
    assert_eq!(
        (pod.code, pod.message.as_str()),
        (404, "pods \"missing\" not found")
    );
    let wrong_uid = refused(
        json!({"kind": "Secret", "apiVersion": "v1", "name": "token-holder",
        "uid": "00000000-0000-0000-0000-000000000000"}),
    )
    .await;
    assert_eq!(
        (wrong_uid.code, wrong_uid.reason.as_str()),
        (409, "Conflict")
    );
    assert_eq!(
        wrong_uid.message,
        "Operation cannot be fulfilled on Secret \"token-holder\": the UID in the bound object \
         reference (00000000-0000-0000-0000-000000000000) does not match the UID in record. \
         The object might have been deleted and then recreated"
    );
    let config_map =
        refused(json!({"kind": "ConfigMap", "apiVersion": "v1", "name": "token-holder"})).await;
    assert_eq!(
        (config_map.code, config_map.message.as_str()),
        (
            400,
            "cannot bind token to object of type /v1, Kind=ConfigMap"
        )
    );
    // The Secret itself was fine all along.
    accounts::request_token(&client, &ns, "bound", Some(accounts::bound_to(&holder)))
        .await
        .unwrap();
}
