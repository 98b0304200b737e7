//! core/v1 `events` and `events.k8s.io/v1` `events` are two versions of one resource: what
//! kube's `Recorder` publishes through events.k8s.io/v1 is listed, selected, watched and
//! printed through core/v1 (`kubectl get events`, `kubectl describe`), with the same name,
//! uid and resourceVersion, like on a real kube-apiserver.
//!
//! Runs against a real cluster too (see `common`); the kubectl checks need kubectl.

#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use std::process::{Command, Stdio};

use common::{TIMEOUT, Target, configmap};
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{ConfigMap, Event as CoreEvent, ObjectReference};
use k8s_openapi::api::events::v1::Event as V1Event;
use kube::api::{ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams};
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::{Api, Resource, ResourceExt};
use serde_json::json;

const CONTROLLER: &str = "doc-controller";

/// A ConfigMap `name` in `ns` and a reference to it, as a controller passes to the Recorder.
async fn regarding(target: &Target, ns: &str, name: &str) -> ObjectReference {
    let cms: Api<ConfigMap> = Api::namespaced(target.client(), ns);
    let cm = cms
        .create(&PostParams::default(), &configmap(name, json!({})))
        .await
        .unwrap();
    cm.object_ref(&())
}

fn recorder(target: &Target) -> Recorder {
    Recorder::new(
        target.client(),
        Reporter {
            controller: CONTROLLER.into(),
            instance: Some("doc-controller-0".into()),
        },
    )
}

fn reconciled(note: &str) -> Event {
    Event {
        type_: EventType::Normal,
        reason: "Reconciled".into(),
        note: Some(note.into()),
        action: "Reconcile".into(),
        secondary: None,
    }
}

/// The core/v1 events about `name` in `ns`, as `kubectl describe` selects them.
async fn core_events_about(target: &Target, ns: &str, name: &str) -> Vec<CoreEvent> {
    let api: Api<CoreEvent> = Api::namespaced(target.client(), ns);
    let selector = format!("involvedObject.name={name}");
    api.list(&ListParams::default().fields(&selector))
        .await
        .unwrap()
        .items
}

/// Both Event versions are one store of the internal `core.Event` (`pkg/registry/events/rest`
/// reuses `pkg/registry/core/event/storage`), so a Recorder event is the same object through
/// core/v1, field selectors use `ToSelectableFields` (`pkg/registry/core/event/strategy.go`) in
/// each version's field names.
#[tokio::test]
async fn recorder_events_are_core_events_with_the_same_identity() {
    let target = Target::new().await;
    let ns = target.namespace().await;
    let reference = regarding(&target, &ns, "x").await;
    recorder(&target)
        .publish(&reconciled("rendered 3 pages"), &reference)
        .await
        .unwrap();

    let core: Api<CoreEvent> = Api::namespaced(target.client(), &ns);
    let listed = core.list(&ListParams::default()).await.unwrap().items;
    let ours: Vec<&CoreEvent> = listed
        .iter()
        .filter(|e| e.reason.as_deref() == Some("Reconciled"))
        .collect();
    assert_eq!(ours.len(), 1, "{listed:#?}");
    let event = ours[0];
    assert_eq!(event.message.as_deref(), Some("rendered 3 pages"));
    assert_eq!(event.type_.as_deref(), Some("Normal"));
    assert_eq!(event.action.as_deref(), Some("Reconcile"));
    assert_eq!(event.involved_object.name.as_deref(), Some("x"));
    assert_eq!(event.involved_object.kind.as_deref(), Some("ConfigMap"));
    assert_eq!(event.involved_object.uid, reference.uid);
    assert_eq!(event.reporting_component.as_deref(), Some(CONTROLLER));
    assert_eq!(
        event.reporting_instance.as_deref(),
        Some("doc-controller-0")
    );
    assert!(event.event_time.is_some());
    assert!(event.series.is_none());

    // The same object through both versions.
    let v1: Api<V1Event> = Api::namespaced(target.client(), &ns);
    let same = v1.get(&event.name_any()).await.unwrap();
    assert_eq!(same.metadata.uid, event.metadata.uid);
    assert_eq!(
        same.metadata.resource_version,
        event.metadata.resource_version
    );
    assert_eq!(same.note.as_deref(), Some("rendered 3 pages"));
    let by_core_get = core.get(&event.name_any()).await.unwrap();
    assert_eq!(by_core_get.metadata.uid, event.metadata.uid);

    // `kubectl describe`'s selection, and the events.k8s.io names of the same fields.
    let selected = core_events_about(&target, &ns, "x").await;
    assert_eq!(names(&selected), [event.name_any()]);
    assert!(core_events_about(&target, &ns, "y").await.is_empty());
    let by_kind = core
        .list(&ListParams::default().fields(&format!(
            "involvedObject.kind=ConfigMap,involvedObject.uid={},reportingComponent={CONTROLLER}",
            reference.uid.clone().unwrap_or_default()
        )))
        .await
        .unwrap();
    assert_eq!(by_kind.items.len(), 1);
    let v1_selected = v1
        .list(&ListParams::default().fields(&format!(
            "regarding.name=x,regarding.kind=ConfigMap,reportingController={CONTROLLER}"
        )))
        .await
        .unwrap();
    assert_eq!(v1_selected.items.len(), 1);
    let none = v1
        .list(&ListParams::default().fields("regarding.name=y"))
        .await
        .unwrap();
    assert!(none.items.is_empty());
}

/// The Recorder's second event is a merge PATCH of `series` through events.k8s.io/v1; the
/// conversion (`pkg/apis/events/v1/conversion.go`) shows it as core/v1 `series`, not `count`.
#[tokio::test]
async fn a_repeated_event_becomes_a_series_seen_through_core_v1() {
    let target = Target::new().await;
    let ns = target.namespace().await;
    let reference = regarding(&target, &ns, "x").await;
    let recorder = recorder(&target);
    let event = reconciled("no change");
    recorder.publish(&event, &reference).await.unwrap();
    // The second identical event is a merge PATCH through events.k8s.io/v1 with `series`.
    recorder.publish(&event, &reference).await.unwrap();

    let listed = core_events_about(&target, &ns, "x").await;
    assert_eq!(listed.len(), 1, "{listed:#?}");
    let series = listed[0].series.as_ref().expect("a series");
    assert_eq!(series.count, Some(2));
    assert!(series.last_observed_time.is_some());
    assert_eq!(listed[0].message.as_deref(), Some("no change"));

    // A third one counts on, and both versions agree on the object.
    recorder.publish(&event, &reference).await.unwrap();
    let v1: Api<V1Event> = Api::namespaced(target.client(), &ns);
    let through_v1 = v1.get(&listed[0].name_any()).await.unwrap();
    assert_eq!(through_v1.series.as_ref().map(|s| s.count), Some(3));
    let through_core: Api<CoreEvent> = Api::namespaced(target.client(), &ns);
    let core = through_core.get(&listed[0].name_any()).await.unwrap();
    assert_eq!(core.series.as_ref().and_then(|s| s.count), Some(3));
    assert_eq!(
        core.metadata.resource_version,
        through_v1.metadata.resource_version
    );
}

/// Mirrors `pkg/registry/core/event/strategy.go` (`Validate`/`ValidateUpdate` with the
/// request's group version) and `pkg/apis/core/validation/events.go` (`ValidateEventCreate`,
/// `ValidateEventUpdate`, `legacyValidateEvent`): strict through events.k8s.io/v1, legacy-only
/// through core/v1. The errors come from `rest.BeforeCreate`/`BeforeUpdate`'s
/// `errors.NewInvalid` with the *internal* kind (`Event`, group ""), since both versions are
/// one store of `core.Event`, and their field paths are the internal names (`message`).
#[tokio::test]
async fn events_k8s_io_writes_are_strict_and_core_writes_are_not() {
    let target = Target::new().await;
    let ns = target.namespace().await;
    let reference = regarding(&target, &ns, "x").await;
    recorder(&target)
        .publish(&reconciled("first"), &reference)
        .await
        .unwrap();
    let name = core_events_about(&target, &ns, "x").await[0].name_any();
    let v1: Api<V1Event> = Api::namespaced(target.client(), &ns);
    let core: Api<CoreEvent> = Api::namespaced(target.client(), &ns);

    // Through events.k8s.io/v1 only the series may change (`ValidateEventUpdate`); the JSON
    // patch is applied in v1 field names, the error names the internal field.
    let note = json!([{"op": "replace", "path": "/note", "value": "second"}]);
    let status = common::api_error(
        v1.patch(
            &name,
            &PatchParams::default(),
            &Patch::Json::<()>(serde_json::from_value(note).unwrap()),
        )
        .await,
    );
    assert_eq!(status.code, 422, "{status:?}");
    assert_eq!(
        status.message,
        format!(
            "Event \"{name}\" is invalid: message: Invalid value: \"second\": field is immutable"
        )
    );
    let series = json!([{"op": "add", "path": "/series",
        "value": {"count": 5, "lastObservedTime": "2025-06-01T12:00:00.000000Z"}}]);
    let patched = v1
        .patch(
            &name,
            &PatchParams::default(),
            &Patch::Json::<()>(serde_json::from_value(series).unwrap()),
        )
        .await
        .unwrap();
    assert_eq!(patched.series.as_ref().map(|s| s.count), Some(5));
    let seen = core.get(&name).await.unwrap();
    assert_eq!(seen.series.and_then(|s| s.count), Some(5));
    assert_eq!(
        seen.metadata.resource_version,
        patched.metadata.resource_version
    );

    // Server-side apply in v1 field names; core/v1 shows the series and the manager's entry
    // keeps the version it applied at.
    let applied = v1
        .patch(
            &name,
            // Forced: the JSON patch above made its manager own the series.
            &PatchParams::apply("events-test").force(),
            &Patch::Apply(json!({
                "apiVersion": "events.k8s.io/v1", "kind": "Event",
                "metadata": {"name": &name},
                "series": {"count": 6, "lastObservedTime": "2025-06-01T12:01:00.000000Z"},
            })),
        )
        .await
        .unwrap();
    assert_eq!(applied.series.as_ref().map(|s| s.count), Some(6));
    let seen = core.get(&name).await.unwrap();
    assert_eq!(seen.series.and_then(|s| s.count), Some(6));
    let entry = seen
        .metadata
        .managed_fields
        .unwrap_or_default()
        .into_iter()
        .find(|m| m.manager.as_deref() == Some("events-test"))
        .expect("the applier's managedFields entry");
    assert_eq!(entry.api_version.as_deref(), Some("events.k8s.io/v1"));
    assert_eq!(entry.operation.as_deref(), Some("Apply"));

    // core/v1 has only the legacy rules: the message may change, and shows through v1.
    core.patch(
        &name,
        &PatchParams::default(),
        &Patch::Merge(json!({"message": "third"})),
    )
    .await
    .unwrap();
    assert_eq!(v1.get(&name).await.unwrap().note.as_deref(), Some("third"));

    // Creates through events.k8s.io/v1 need an eventTime and no deprecated fields.
    let status = common::api_error(
        v1.create(
            &PostParams::default(),
            &serde_json::from_value(json!({
                "metadata": {"name": "strict"},
                "regarding": {"kind": "ConfigMap", "name": "x", "namespace": &*ns},
                "reason": "R", "action": "A", "type": "Normal", "note": "n",
                "reportingController": CONTROLLER, "reportingInstance": "i",
                "deprecatedCount": 1,
            }))
            .unwrap(),
        )
        .await,
    );
    assert_eq!(status.code, 422, "{status:?}");
    assert_eq!(
        status.message,
        "Event \"strict\" is invalid: [eventTime: Required value, count: Invalid value: \"\": needs to be unset]"
    );
    assert_eq!(status.details.as_ref().map(|d| d.group.as_str()), Some(""));
    assert_eq!(
        status.details.as_ref().map(|d| d.kind.as_str()),
        Some("Event")
    );

    // A core/v1 create of a new-style event (it has an eventTime) gets the legacy checks, which
    // name the reporting controller by its core/v1 field.
    let status = common::api_error(
        core.create(
            &PostParams::default(),
            &serde_json::from_value(json!({
                "metadata": {"name": "legacy-strict"},
                "involvedObject": {"kind": "ConfigMap", "name": "x", "namespace": &*ns},
                "reason": "R", "action": "A", "type": "Normal", "message": "m",
                "eventTime": "2025-06-01T12:00:00.000000Z", "reportingInstance": "i",
            }))
            .unwrap(),
        )
        .await,
    );
    assert_eq!(status.code, 422, "{status:?}");
    assert!(
        status
            .message
            .starts_with("Event \"legacy-strict\" is invalid: [reportingComponent: Required value, reportingComponent: Invalid value: \"\": name part must be non-empty"),
        "{}",
        status.message
    );
}

/// One watch cache for the one storage: a watch on either version sees writes through the
/// other, converted to its version, with the same resourceVersion.
#[tokio::test]
async fn watches_on_either_version_see_writes_through_the_other() {
    let target = Target::new().await;
    let ns = target.namespace().await;
    let reference = regarding(&target, &ns, "x").await;
    let core: Api<CoreEvent> = Api::namespaced(target.client(), &ns);
    let v1: Api<V1Event> = Api::namespaced(target.client(), &ns);
    let rv = core
        .list(&ListParams::default())
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    let params = WatchParams::default().timeout(20);
    let mut core_watch = core.watch(&params, &rv).await.unwrap().boxed();
    let mut v1_watch = v1.watch(&params, &rv).await.unwrap().boxed();

    recorder(&target)
        .publish(&reconciled("watched"), &reference)
        .await
        .unwrap();
    let added = next_added(&mut core_watch).await;
    assert_eq!(added.message.as_deref(), Some("watched"));
    assert_eq!(added.involved_object.name.as_deref(), Some("x"));
    let added_v1 = next_added(&mut v1_watch).await;
    assert_eq!(added_v1.note.as_deref(), Some("watched"));
    assert_eq!(added_v1.metadata.uid, added.metadata.uid);
    assert_eq!(
        added_v1.metadata.resource_version,
        added.metadata.resource_version
    );

    // A core/v1 event shows on the events.k8s.io/v1 watch.
    let created = core
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({
                "metadata": {"name": "legacy"},
                "involvedObject": {"kind": "ConfigMap", "name": "x", "namespace": &*ns},
                "reason": "Legacy", "message": "old style", "type": "Warning",
                "source": {"component": "kubelet"},
                "firstTimestamp": "2025-06-01T11:00:00Z", "lastTimestamp": "2025-06-01T11:00:00Z",
                "count": 1,
            }))
            .unwrap(),
        )
        .await
        .unwrap();
    let legacy = next_added(&mut v1_watch).await;
    assert_eq!(legacy.name_any(), "legacy");
    assert_eq!(legacy.note.as_deref(), Some("old style"));
    assert_eq!(legacy.regarding.and_then(|r| r.name).as_deref(), Some("x"));
    assert_eq!(legacy.deprecated_count, Some(1));
    assert_eq!(
        legacy
            .deprecated_source
            .and_then(|s| s.component)
            .as_deref(),
        Some("kubelet")
    );
    assert_eq!(
        legacy.metadata.resource_version,
        created.metadata.resource_version
    );
}

/// The next ADDED object of a watch, skipping bookmarks and other changes.
async fn next_added<K>(
    stream: &mut (impl futures::Stream<Item = Result<WatchEvent<K>, kube::Error>> + Unpin),
) -> K
where
    K: std::fmt::Debug,
{
    let wait = async {
        loop {
            match stream.try_next().await.unwrap() {
                Some(WatchEvent::Added(obj)) => return obj,
                Some(WatchEvent::Error(e)) => panic!("watch error: {e:?}"),
                Some(_) => {}
                None => panic!("the watch ended"),
            }
        }
    };
    tokio::time::timeout(TIMEOUT, wait)
        .await
        .expect("an ADDED event in time")
}

/// `kubectl get events` reads the server-side Table of the internal printers
/// (`pkg/printers/internalversion` `printEvent`: LAST SEEN, TYPE, REASON, OBJECT, MESSAGE), the
/// same for events.k8s.io/v1; `kubectl describe` selects core/v1 events by `involvedObject` and
/// prints a series as `(x2 over ...)`.
#[tokio::test]
async fn kubectl_get_events_and_describe_show_recorder_events() {
    let target = Target::new().await;
    let kubectl = common::kubectl_binary();
    let ns = target.namespace().await;
    let reference = regarding(&target, &ns, "x").await;
    let recorder = recorder(&target);
    let warning = Event {
        type_: EventType::Warning,
        reason: "RenderFailed".into(),
        note: Some("template missing".into()),
        action: "Render".into(),
        secondary: None,
    };
    recorder.publish(&warning, &reference).await.unwrap();
    recorder.publish(&warning, &reference).await.unwrap();

    let home = tempfile::tempdir().unwrap();
    let run = |args: Vec<String>| {
        let mut cmd = Command::new(&kubectl);
        cmd.arg("--kubeconfig")
            .arg(target.kubeconfig_path())
            .arg("--cache-dir")
            .arg(home.path().join("cache"))
            .args(args)
            .env("HOME", home.path())
            .env_remove("KUBECONFIG")
            .stdin(Stdio::null());
        async move {
            // Off the runtime: the sandbox serves on it.
            let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
                .await
                .unwrap();
            let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
            assert!(
                out.status.success(),
                "kubectl failed: {stdout}{}",
                String::from_utf8_lossy(&out.stderr)
            );
            stdout
        }
    };

    let get = run(vec![
        "get".into(),
        "events".into(),
        "-n".into(),
        ns.to_string(),
    ])
    .await;
    let lines: Vec<&str> = get.lines().collect();
    let header: Vec<&str> = lines[0].split_whitespace().collect();
    assert_eq!(
        header,
        ["LAST", "SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"],
        "{get}"
    );
    let row = lines
        .iter()
        .find(|l| l.contains("RenderFailed"))
        .unwrap_or_else(|| panic!("no RenderFailed row in:\n{get}"));
    let cells: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(
        cells[1..],
        [
            "Warning",
            "RenderFailed",
            "configmap/x",
            "template",
            "missing"
        ],
        "{get}"
    );
    assert!(cells[0].ends_with('s'), "LAST SEEN is recent: {row}");

    // The same table through events.k8s.io/v1 (printed from the same internal object).
    let v1_get = run(vec![
        "get".into(),
        "events.v1.events.k8s.io".into(),
        "-n".into(),
        ns.to_string(),
    ])
    .await;
    let v1_row = v1_get
        .lines()
        .find(|l| l.contains("RenderFailed"))
        .unwrap_or_else(|| panic!("no RenderFailed row in:\n{v1_get}"));
    assert_eq!(
        v1_row.split_whitespace().skip(1).collect::<Vec<_>>(),
        cells[1..],
        "{v1_get}"
    );

    let describe = run(vec![
        "describe".into(),
        "configmap".into(),
        "x".into(),
        "-n".into(),
        ns.to_string(),
    ])
    .await;
    let events = describe
        .split_once("Events:")
        .unwrap_or_else(|| panic!("no Events section in:\n{describe}"))
        .1;
    let row = events
        .lines()
        .find(|l| l.contains("RenderFailed"))
        .unwrap_or_else(|| panic!("the event is not described:\n{describe}"));
    assert!(row.contains("Warning"), "{row}");
    assert!(row.contains(CONTROLLER), "{row}");
    assert!(row.contains("template missing"), "{row}");
    // The series: `<last> (x2 over <first>)`.
    assert!(row.contains("(x2 over"), "{row}");
}

fn names(events: &[CoreEvent]) -> Vec<String> {
    events.iter().map(ResourceExt::name_any).collect()
}
