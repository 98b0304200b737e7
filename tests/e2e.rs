//! End-to-end: the controller against an API server, observed only as a user could.
//!
//! Runs on the embedded sandbox by default; set `DOC_CONTROLLER_E2E_KUBECONFIG` to run the same
//! tests against a real cluster (see tests/support/mod.rs).

mod support;

use doc_controller::Document;
use doc_controller::config::Config;
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::api::events::v1::Event;
use kube::ResourceExt;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::runtime::wait::conditions;
use serde_json::json;
use support::{Controller, Env, create, doc, eventually, ready_as, set_spec, wait_for};

async fn events_with_reason(client: &kube::Client, ns: &str, reason: &str) -> Vec<Event> {
    let api: Api<Event> = Api::namespaced(client.clone(), ns);
    api.list(&ListParams::default())
        .await
        .expect("events listed")
        .items
        .into_iter()
        .filter(|e| e.reason.as_deref() == Some(reason))
        .collect()
}

async fn index_entries(cms: &Api<ConfigMap>) -> std::collections::BTreeMap<String, String> {
    cms.get_opt("documents-index")
        .await
        .expect("index readable")
        .and_then(|cm| cm.data)
        .unwrap_or_default()
}

#[tokio::test]
async fn a_created_document_is_published_indexed_and_ready() {
    let env = Env::new().await;
    let ns = env.namespace().await;
    let controller = Controller::start(&env, &ns, Config::default()).await;
    let docs: Api<Document> = Api::namespaced(env.client.clone(), ns.name());
    let cms: Api<ConfigMap> = Api::namespaced(env.client.clone(), ns.name());

    create(&docs, &doc("samuel", "Samuel", "hello world")).await;
    let ready = wait_for(&docs, "samuel", ready_as("Published")).await;

    let status = ready.status.clone().expect("status");
    assert_eq!(status.config_map.as_deref(), Some("document-samuel"));
    assert_eq!(status.word_count, 2);
    assert_eq!(ready.finalizers(), ["documents.kube.rs"]);
    let cm = cms
        .get("document-samuel")
        .await
        .expect("published ConfigMap");
    let data = cm.data.clone().expect("data");
    assert_eq!(
        (data["title"].as_str(), data["content"].as_str()),
        ("Samuel", "hello world")
    );
    assert_eq!(
        cm.owner_references()[0].uid,
        ready.metadata.uid.expect("uid")
    );
    assert_eq!(
        index_entries(&cms).await.get("samuel").map(String::as_str),
        Some("Samuel")
    );
    eventually("a Published event", || async {
        (!events_with_reason(&env.client, ns.name(), "Published")
            .await
            .is_empty())
        .then_some(())
    })
    .await;
    assert_eq!(controller.readyz().await, 200);
    controller.expect_no_findings().await;
    controller.stop().await.expect("clean shutdown");
}

#[tokio::test]
async fn hiding_removes_the_config_map_and_unhiding_restores_it() {
    let env = Env::new().await;
    let ns = env.namespace().await;
    let controller = Controller::start(&env, &ns, Config::default()).await;
    let docs: Api<Document> = Api::namespaced(env.client.clone(), ns.name());
    let cms: Api<ConfigMap> = Api::namespaced(env.client.clone(), ns.name());

    create(&docs, &doc("memo", "Memo", "text")).await;
    wait_for(&docs, "memo", ready_as("Published")).await;

    set_spec(&docs, "memo", json!({ "hide": true })).await;
    let hidden = wait_for(&docs, "memo", ready_as("Hidden")).await;
    assert!(hidden.status.expect("status").hidden);
    assert!(cms.get_opt("document-memo").await.expect("get").is_none());
    assert!(!index_entries(&cms).await.contains_key("memo"));
    eventually("a Hidden event", || async {
        (!events_with_reason(&env.client, ns.name(), "Hidden")
            .await
            .is_empty())
        .then_some(())
    })
    .await;

    set_spec(&docs, "memo", json!({ "hide": false })).await;
    wait_for(&docs, "memo", ready_as("Published")).await;
    assert!(cms.get_opt("document-memo").await.expect("get").is_some());
    assert!(index_entries(&cms).await.contains_key("memo"));
    controller.expect_no_findings().await;
}

/// The content of `document-<name>`, if it exists.
async fn published_content(cms: &Api<ConfigMap>, name: &str) -> Option<String> {
    cms.get_opt(&format!("document-{name}"))
        .await
        .expect("get")
        .and_then(|cm| cm.data?.remove("content"))
}

#[tokio::test]
async fn a_config_map_edited_or_deleted_by_someone_else_is_repaired() {
    let env = Env::new().await;
    let ns = env.namespace().await;
    let controller = Controller::start(&env, &ns, Config::default()).await;
    let docs: Api<Document> = Api::namespaced(env.client.clone(), ns.name());
    let cms: Api<ConfigMap> = Api::namespaced(env.client.clone(), ns.name());
    create(&docs, &doc("memo", "Memo", "text")).await;
    wait_for(&docs, "memo", ready_as("Published")).await;

    let edit = json!({ "data": { "content": "vandalised" } });
    let params = PatchParams {
        field_manager: Some("someone-else".into()),
        ..PatchParams::default()
    };
    cms.patch("document-memo", &params, &Patch::Merge(&edit))
        .await
        .expect("edited");
    eventually("the edited content restored", || async {
        (published_content(&cms, "memo").await.as_deref() == Some("text")).then_some(())
    })
    .await;

    cms.delete("document-memo", &DeleteParams::default())
        .await
        .expect("deleted");
    eventually("the deleted ConfigMap recreated", || async {
        (published_content(&cms, "memo").await.as_deref() == Some("text")).then_some(())
    })
    .await;
    controller.expect_no_findings().await;
}

#[tokio::test]
async fn updating_the_spec_republishes_and_moves_observed_generation() {
    let env = Env::new().await;
    let ns = env.namespace().await;
    let controller = Controller::start(&env, &ns, Config::default()).await;
    let docs: Api<Document> = Api::namespaced(env.client.clone(), ns.name());
    let cms: Api<ConfigMap> = Api::namespaced(env.client.clone(), ns.name());

    create(&docs, &doc("notes", "Notes", "one")).await;
    let first = wait_for(&docs, "notes", ready_as("Published")).await;
    set_spec(
        &docs,
        "notes",
        json!({ "title": "Notes v2", "content": "one two three" }),
    )
    .await;
    let second = wait_for(&docs, "notes", |d: Option<&Document>| {
        ready_as("Published")(d) && d.is_some_and(|d| d.metadata.generation == Some(2))
    })
    .await;

    let (before, after) = (
        first.status.expect("status"),
        second.status.expect("status"),
    );
    assert_ne!(before.content_digest, after.content_digest);
    assert_eq!(after.word_count, 3);
    assert_eq!(after.observed_generation, Some(2));
    let data = cms
        .get("document-notes")
        .await
        .expect("cm")
        .data
        .expect("data");
    assert_eq!(data["content"], "one two three");
    assert_eq!(index_entries(&cms).await["notes"], "Notes v2");
    controller.expect_no_findings().await;
}

#[tokio::test]
async fn deletion_cleans_the_index_and_the_config_map_is_garbage_collected() {
    let env = Env::new().await;
    let ns = env.namespace().await;
    let controller = Controller::start(&env, &ns, Config::default()).await;
    let docs: Api<Document> = Api::namespaced(env.client.clone(), ns.name());
    let cms: Api<ConfigMap> = Api::namespaced(env.client.clone(), ns.name());

    create(&docs, &doc("keep", "Keep", "stays")).await;
    create(&docs, &doc("gone", "Gone", "goes")).await;
    wait_for(&docs, "keep", ready_as("Published")).await;
    let gone = wait_for(&docs, "gone", ready_as("Published")).await;
    let uid = gone.metadata.uid.clone().expect("uid");

    docs.delete("gone", &DeleteParams::default())
        .await
        .expect("delete accepted");
    tokio::time::timeout(
        support::TIMEOUT,
        kube::runtime::wait::await_condition(docs.clone(), "gone", conditions::is_deleted(&uid)),
    )
    .await
    .expect("finalizer released in time")
    .expect("watch works");

    let index = index_entries(&cms).await;
    assert!(!index.contains_key("gone"), "{index:?}");
    assert_eq!(
        index.get("keep").map(String::as_str),
        Some("Keep"),
        "other entries survive"
    );
    assert!(
        !events_with_reason(&env.client, ns.name(), "Deleted")
            .await
            .is_empty()
    );
    eventually("document-gone garbage collected", || async {
        cms.get_opt("document-gone")
            .await
            .expect("get")
            .is_none()
            .then_some(())
    })
    .await;
    controller.expect_no_findings().await;
}

/// A ConfigMap's values may hold 1 MiB (`ValidateConfigMap`), so a namespace's index can be
/// full. A Document it has no room for stays published, says `IndexFull` with one Warning, and
/// is listed once room is made; a deletion's cleanup does not wait for room.
#[tokio::test]
async fn a_document_the_full_index_has_no_room_for_says_so_and_is_listed_once_there_is() {
    const ONE_MIB: usize = 1024 * 1024;
    let env = Env::new().await;
    let ns = env.namespace().await;
    let _controller = Controller::start(&env, &ns, Config::default()).await;
    let docs: Api<Document> = Api::namespaced(env.client.clone(), ns.name());
    let cms: Api<ConfigMap> = Api::namespaced(env.client.clone(), ns.name());
    create(&docs, &doc("ada", "Ada", "listed first")).await;
    let ada = wait_for(&docs, "ada", ready_as("Published")).await;

    // Someone else's entry fills the index to 5 bytes below the limit.
    let filler = "f".repeat(ONE_MIB - "Ada".len() - 5);
    cms.patch(
        "documents-index",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"filler": filler}})),
    )
    .await
    .expect("the index takes the filler");
    create(&docs, &doc("bob", "A title too long", "no room")).await;
    let bob = wait_for(&docs, "bob", ready_as("IndexFull")).await;
    let ready = &bob.status.expect("status").conditions[0];
    assert_eq!(ready.status, "False");
    assert!(
        ready
            .message
            .contains("delete Documents or spread them over namespaces"),
        "{}",
        ready.message
    );
    cms.get("document-bob")
        .await
        .expect("published all the same");
    let warnings = eventually("an IndexFull warning", || async {
        let events = events_with_reason(&env.client, ns.name(), "IndexFull").await;
        (!events.is_empty()).then_some(events)
    })
    .await;
    assert_eq!(warnings[0].type_.as_deref(), Some("Warning"));

    // Deleting a listed Document needs no room.
    docs.delete("ada", &DeleteParams::default())
        .await
        .expect("delete accepted");
    let uid = ada.metadata.uid.expect("uid");
    tokio::time::timeout(
        support::TIMEOUT,
        kube::runtime::wait::await_condition(docs.clone(), "ada", conditions::is_deleted(&uid)),
    )
    .await
    .expect("finalizer released while the index is full")
    .expect("watch works");
    assert!(!index_entries(&cms).await.contains_key("ada"));

    // Room made: the Document's slow retry lists it.
    cms.patch(
        "documents-index",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"filler": null}})),
    )
    .await
    .expect("filler removed");
    wait_for(&docs, "bob", ready_as("Published")).await;
    assert_eq!(
        index_entries(&cms).await.get("bob").map(String::as_str),
        Some("A title too long")
    );
    assert_eq!(
        events_with_reason(&env.client, ns.name(), "IndexFull")
            .await
            .len(),
        1,
        "one Warning while it was not listed"
    );
}

#[tokio::test]
async fn an_invalid_document_gets_invalid_spec_and_one_warning() {
    let env = Env::new().await;
    let ns = env.namespace().await;
    let controller = Controller::start(&env, &ns, Config::default()).await;
    let docs: Api<Document> = Api::namespaced(env.client.clone(), ns.name());
    let cms: Api<ConfigMap> = Api::namespaced(env.client.clone(), ns.name());

    // 310,000 three-byte characters pass the schema's character bound (524,288) but take 930,000
    // bytes, more than a published ConfigMap can hold: only the controller can tell.
    let name = "heavy".to_string();
    create(&docs, &doc(&name, "Too heavy", &"€".repeat(310_000))).await;
    let invalid = wait_for(&docs, &name, ready_as("InvalidSpec")).await;
    let ready = &invalid.status.expect("status").conditions[0];
    assert_eq!(ready.status, "False");
    assert!(ready.message.contains("930009 bytes"), "{}", ready.message);

    let warnings = eventually("an InvalidSpec warning", || async {
        let events = events_with_reason(&env.client, ns.name(), "InvalidSpec").await;
        (!events.is_empty()).then_some(events)
    })
    .await;
    assert_eq!(warnings.len(), 1);
    assert_eq!(warnings[0].type_.as_deref(), Some("Warning"));
    assert!(
        cms.list(&ListParams::default())
            .await
            .expect("list")
            .items
            .iter()
            .all(|cm| cm.name_any() != format!("document-{name}"))
    );
    controller.expect_no_findings().await;
}

#[tokio::test]
async fn the_schema_rejects_a_blank_title_at_admission() {
    let env = Env::new().await;
    let ns = env.namespace().await;
    let docs: Api<Document> = Api::namespaced(env.client.clone(), ns.name());
    for title in ["", "   "] {
        let err = docs
            .create(&PostParams::default(), &doc("blank", title, ""))
            .await
            .expect_err("rejected at admission");
        match err {
            kube::Error::Api(status) => {
                assert_eq!(status.code, 422, "{status:?}");
                assert!(status.message.contains("spec.title"), "{}", status.message);
            }
            other => panic!("expected a 422, got {other}"),
        }
    }
}

#[tokio::test]
async fn a_settled_document_is_not_written_again() {
    let env = Env::new().await;
    let ns = env.namespace().await;
    let controller = Controller::start(&env, &ns, Config::default()).await;
    let docs: Api<Document> = Api::namespaced(env.client.clone(), ns.name());

    create(&docs, &doc("quiet", "Quiet", "nothing changes")).await;
    let settled = wait_for(&docs, "quiet", ready_as("Published")).await;
    let patches = controller
        .metric("doc_controller_status_patches_total", &[])
        .await;
    assert_eq!(
        patches, 1.0,
        "exactly one status write for one new Document"
    );

    // Touch the Document without changing its spec: labels do not bump the generation, so the
    // predicate filter drops the event and nothing is reconciled or written.
    let seen = controller.documents_seen().await;
    docs.patch(
        "quiet",
        &PatchParams::default(),
        &Patch::Merge(json!({ "metadata": { "labels": { "touched": "yes" } } })),
    )
    .await
    .expect("labelled");
    eventually("the controller to see the label change", || async {
        (controller.documents_seen().await > seen).then_some(())
    })
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let after = docs.get("quiet").await.expect("get");
    assert_eq!(after.status, settled.status);
    assert_eq!(
        controller
            .metric("doc_controller_status_patches_total", &[])
            .await,
        1.0
    );
    controller.expect_no_findings().await;
}

#[tokio::test]
#[cfg_attr(
    real_cluster,
    ignore = "needs an API server without the Document CRD; removing it from a cluster deletes every Document there"
)]
async fn the_controller_exits_with_the_install_command_when_the_crd_is_missing() {
    let env = Env::without_crd().await;
    let ns = env.namespace().await;
    let mut binary = support::Binary::start(&env, &ns, &[("RUST_LOG", "info")]).await;
    let code = binary.exited_within(support::TIMEOUT).await;
    let logs = binary.logs();
    assert_eq!(code, Some(Some(1)), "{logs}");
    assert!(
        logs.contains("cargo run --bin crdgen | kubectl apply -f -"),
        "{logs}"
    );
    assert!(logs.contains("404"), "{logs}");
}

#[tokio::test]
async fn kubectl_lists_documents_with_their_ready_column() {
    let env = Env::new().await;
    let ns = env.namespace().await;
    let controller = Controller::start(&env, &ns, Config::default()).await;
    let docs: Api<Document> = Api::namespaced(env.client.clone(), ns.name());
    create(&docs, &doc("samuel", "Samuel", "hello")).await;
    wait_for(&docs, "samuel", ready_as("Published")).await;

    let output = tokio::process::Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(env.kubeconfig())
        .args(["get", "documents", "-n", ns.name()])
        .output()
        .await
        .expect("kubectl runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let header = stdout.lines().next().unwrap_or_default();
    for column in ["NAME", "TITLE", "READY", "REASON"] {
        assert!(header.contains(column), "{stdout}");
    }
    let row = stdout.lines().nth(1).unwrap_or_default();
    assert!(
        row.contains("samuel") && row.contains("True") && row.contains("Published"),
        "{stdout}"
    );
    controller.expect_no_findings().await;
}

/// `(resource, verb)` pairs the controller sent, from its own API request metrics. Server-side
/// apply is authorized as `patch`.
fn used_permissions(metrics: &str) -> std::collections::BTreeSet<(String, String)> {
    metrics
        .lines()
        .filter(|l| l.starts_with("doc_controller_api_requests_total{"))
        .filter(|l| !l.ends_with(" 0"))
        .filter_map(|l| {
            let label = |name: &str| {
                let start = l.find(&format!("{name}=\""))? + name.len() + 2;
                let end = start + l[start..].find('"')?;
                Some(l[start..end].to_string())
            };
            let verb = match label("verb")?.as_str() {
                "apply" => "patch".to_string(),
                other => other.to_string(),
            };
            Some((label("resource")?, verb))
        })
        .collect()
}

/// `(resource, verb)` pairs the controller needs, as declared once in `doc_controller::rbac`
/// (whose unit test checks that `yaml/rbac.yaml` grants exactly these).
fn granted_permissions() -> std::collections::BTreeSet<(String, String)> {
    doc_controller::rbac::REQUIRED
        .iter()
        .map(|p| (p.resource.to_string(), p.verb.to_string()))
        .collect()
}

#[tokio::test]
async fn the_shipped_cluster_role_grants_exactly_the_verbs_the_controller_uses() {
    let env = Env::new().await;
    let ns = env.namespace().await;
    let controller = Controller::start(&env, &ns, Config::default()).await;
    let docs: Api<Document> = Api::namespaced(env.client.clone(), ns.name());

    // Every path through the reconciler: publish (with index creation), hide, delete.
    create(&docs, &doc("one", "One", "first")).await;
    create(&docs, &doc("two", "Two", "second")).await;
    wait_for(&docs, "one", ready_as("Published")).await;
    wait_for(&docs, "two", ready_as("Published")).await;
    // Hidden twice: the Recorder turns the repeated event into a series with a PATCH.
    for hide in [true, false, true] {
        set_spec(&docs, "two", json!({ "hide": hide })).await;
        let reason = if hide { "Hidden" } else { "Published" };
        wait_for(&docs, "two", ready_as(reason)).await;
    }
    let uid = docs
        .get("one")
        .await
        .expect("get")
        .metadata
        .uid
        .expect("uid");
    docs.delete("one", &DeleteParams::default())
        .await
        .expect("delete");
    tokio::time::timeout(
        support::TIMEOUT,
        kube::runtime::wait::await_condition(docs.clone(), "one", conditions::is_deleted(&uid)),
    )
    .await
    .expect("deleted in time")
    .expect("watch works");
    // And the leader election's: the Lease read and created at start, then renewed (an update)
    // every retry period.
    eventually("a renewal of the Lease", || async {
        let used = used_permissions(&controller.metrics().await);
        used.contains(&("leases".to_string(), "update".to_string()))
            .then_some(())
    })
    .await;

    let used = used_permissions(&controller.metrics().await);
    let granted = granted_permissions();
    let missing: Vec<_> = used.difference(&granted).collect();
    assert!(missing.is_empty(), "used but not granted: {missing:?}");
    // `list` on configmaps is granted but not used here: the watch uses a streaming list, and
    // the plain LIST it falls back to (older API servers, `unpaged-initial-list`) needs it.
    let unused: Vec<_> = granted
        .difference(&used)
        .filter(|(resource, verb)| !(resource == "configmaps" && verb == "list"))
        .collect();
    assert!(unused.is_empty(), "granted but never used: {unused:?}");
    controller.expect_no_findings().await;
}

#[tokio::test]
async fn many_documents_at_once_share_few_index_writes_and_lose_no_entry() {
    let env = Env::new().await;
    let ns = env.namespace().await;
    let docs: Api<Document> = Api::namespaced(env.client.clone(), ns.name());
    let cms: Api<ConfigMap> = Api::namespaced(env.client.clone(), ns.name());
    // All exist before the controller starts, so they are reconciled concurrently.
    for i in 0..30 {
        create(&docs, &doc(&format!("doc-{i}"), &format!("Doc {i}"), "")).await;
    }
    let controller = Controller::start(&env, &ns, Config::default()).await;
    for i in 0..30 {
        wait_for(&docs, &format!("doc-{i}"), ready_as("Published")).await;
    }

    let index = index_entries(&cms).await;
    assert_eq!(
        index.len(),
        30,
        "concurrent reconciles lost entries: {index:?}"
    );
    for i in 0..30 {
        assert_eq!(index[&format!("doc-{i}")], format!("Doc {i}"));
    }
    let writes = controller
        .metric("doc_controller_index_writes_total", &[])
        .await;
    assert!(
        writes <= 15.0,
        "{writes} index writes for 30 Documents: changes are not batched"
    );
    controller.expect_no_findings().await;
}
