//! The sandbox driven by the real `kubectl` binary through the kubeconfig it writes:
//! discovery, server-side printing (`get`, `get -w`), client-side and server-side `apply`,
//! `patch`, `describe`, `delete` and `explain`.
//!
//! Runs on the sandbox, or on DOC_CONTROLLER_E2E_KUBECONFIG (see `common`).
//!
//! Each test starts its own sandbox in-process (or uses the cluster) and runs
//! `kubectl --kubeconfig <target> --namespace <its own namespace>` off the async runtime, with
//! a private `HOME` and discovery cache directory. They need kubectl (CI installs it) and fail
//! with that message when it does not run; set `KUBECTL` to use another binary.
//!
//! They apply their own variant of the Document CRD (other printer columns); on a real cluster
//! it replaces the one the other test files apply, and is left installed.

#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use common::{Target, TestNamespace};
use k8s_openapi::api::core::v1::Event;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::Api;
use kube::api::PostParams;
use serde_json::json;

/// The Document CRD, with printer columns like the controller's (a plain field and a
/// condition filter), the status subresource and a schema with a validation.
const DOCUMENT_CRD: &str = r#"
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: documents.kube.rs
spec:
  group: kube.rs
  names:
    kind: Document
    listKind: DocumentList
    plural: documents
    singular: document
    shortNames: [doc]
  scope: Namespaced
  versions:
  - name: v1
    served: true
    storage: true
    subresources:
      status: {}
    additionalPrinterColumns:
    - name: Title
      type: string
      jsonPath: .spec.title
    - name: Ready
      type: string
      jsonPath: .status.conditions[?(@.type=="Ready")].status
    - name: Age
      type: date
      jsonPath: .metadata.creationTimestamp
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            required: [title]
            properties:
              title: {type: string, minLength: 1}
              content: {type: string}
          status:
            type: object
            properties:
              conditions:
                type: array
                items:
                  type: object
                  properties:
                    type: {type: string}
                    status: {type: string}
"#;

fn document_yaml(namespace: &str, name: &str, title: &str) -> String {
    format!(
        "apiVersion: kube.rs/v1\nkind: Document\nmetadata:\n  name: {name}\n  namespace: {namespace}\nspec:\n  title: {title}\n  content: hello\n"
    )
}

/// A target plus a kubectl pointed at it, in a namespace of the test's own.
struct Kubectl {
    bin: String,
    kubeconfig: PathBuf,
    dir: tempfile::TempDir,
    ns: TestNamespace,
    target: Target,
}

impl Kubectl {
    async fn start() -> Self {
        let bin = common::kubectl_binary();
        let target = Target::new().await;
        Self {
            bin,
            kubeconfig: target.kubeconfig_path().to_owned(),
            dir: tempfile::tempdir().expect("a scratch directory"),
            ns: target.namespace().await,
            target,
        }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(&self.bin);
        cmd.arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .arg("--namespace")
            .arg(&*self.ns)
            .arg("--cache-dir")
            .arg(self.dir.path().join("cache"))
            .args(args)
            // No user configuration or cache leaks in.
            .env("HOME", self.dir.path())
            .env_remove("KUBECONFIG");
        cmd
    }

    /// Runs kubectl to completion (feeding `stdin`) without blocking the runtime the
    /// sandbox serves on.
    async fn run_with(&self, args: &[&str], stdin: Option<&str>) -> Output {
        let mut cmd = self.command(args);
        let stdin = stdin.map(str::to_owned);
        tokio::task::spawn_blocking(move || {
            let mut child = cmd
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            let mut pipe = child.stdin.take().unwrap();
            if let Some(input) = stdin {
                pipe.write_all(input.as_bytes()).unwrap();
            }
            drop(pipe);
            child.wait_with_output().unwrap()
        })
        .await
        .unwrap()
    }

    async fn run(&self, args: &[&str]) -> Output {
        self.run_with(args, None).await
    }

    /// Runs kubectl, asserts it succeeded and returns its stdout.
    async fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args).await;
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(
            out.status.success(),
            "kubectl {args:?} failed ({}):\nstdout:\n{stdout}\nstderr:\n{stderr}",
            out.status
        );
        stdout
    }

    /// Writes a manifest into the scratch directory and returns its path.
    fn manifest(&self, name: &str, content: &str) -> String {
        let path = self.dir.path().join(name);
        std::fs::write(&path, content).unwrap();
        path.to_string_lossy().into_owned()
    }

    async fn install_crd(&self) {
        let crd = self.manifest("crd.yaml", DOCUMENT_CRD);
        let out = self.ok(&["apply", "-f", &crd]).await;
        let applied = |how: &str| {
            format!("customresourcedefinition.apiextensions.k8s.io/documents.kube.rs {how}")
        };
        if self.target.is_sandbox() {
            assert_eq!(out.trim(), applied("created"));
        } else {
            // A real cluster keeps the CRD from earlier runs and other test files.
            assert!(
                ["created", "configured", "unchanged"]
                    .iter()
                    .any(|how| out.trim() == applied(how)),
                "{out}"
            );
        }
        self.wait_until_served().await;
    }

    /// A real apiserver serves a new CRD's resource a moment after it was created.
    async fn wait_until_served(&self) {
        let crd: CustomResourceDefinition =
            serde_saphyr::from_str(DOCUMENT_CRD).expect("the CRD manifest parses");
        common::wait_until_served(&self.target.client(), &crd).await;
    }

    async fn apply_document(&self, name: &str, title: &str) -> String {
        let file = self.manifest(
            &format!("{name}.yaml"),
            &document_yaml(&self.ns, name, title),
        );
        self.ok(&["apply", "-f", &file]).await
    }
}

/// Splits kubectl's column output into words per line.
fn table(out: &str) -> Vec<Vec<String>> {
    out.lines()
        .map(|l| l.split_whitespace().map(str::to_owned).collect())
        .collect()
}

fn row(words: &[&str]) -> Vec<String> {
    words.iter().map(|w| (*w).to_owned()).collect()
}

/// `/version` (`pkg/version` `Info`) as `kubectl version` prints it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn version_reports_the_sandbox_server() {
    let k = Kubectl::start().await;
    let out = k.ok(&["version"]).await;
    assert!(out.contains("Server Version: v1."), "{out}");
    // The sandbox names itself; a cluster's version string is its own.
    if k.target.is_sandbox() {
        assert!(out.contains("Server Version: v1.32.0-sandbox"), "{out}");
    }
}

/// Discovery (`/api`, `/apis`, `/apis/<group>/<version>`: `endpoints/discovery`), with the
/// CRD's resource and short names added by the apiextensions discovery controller.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_resources_lists_builtins_and_the_crd_with_its_short_name() {
    let k = Kubectl::start().await;
    k.install_crd().await;
    let out = k.ok(&["api-resources"]).await;
    let rows = table(&out);
    assert_eq!(
        rows[0],
        ["NAME", "SHORTNAMES", "APIVERSION", "NAMESPACED", "KIND"]
    );
    for expected in [
        row(&["documents", "doc", "kube.rs/v1", "true", "Document"]),
        row(&["configmaps", "cm", "v1", "true", "ConfigMap"]),
        row(&["namespaces", "ns", "v1", "false", "Namespace"]),
    ] {
        assert!(rows.contains(&expected), "{expected:?} missing from\n{out}");
    }
}

/// The server-side Table of a custom resource (`apiextensions-apiserver/pkg/registry/customresource/tableconvertor`):
/// NAME, the CRD's `additionalPrinterColumns` evaluated as JSONPath, AGE.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_documents_shows_the_crd_printer_columns() {
    let k = Kubectl::start().await;
    k.install_crd().await;
    assert_eq!(
        k.apply_document("first", "Hello").await.trim(),
        "document.kube.rs/first created"
    );
    let out = k.ok(&["get", "documents"]).await;
    let rows = table(&out);
    assert_eq!(rows[0], ["NAME", "TITLE", "READY", "AGE"], "{out}");
    // A missing value is a null cell, which kubectl prints as a blank.
    assert_eq!(rows[1].len(), 3, "{out}");
    assert_eq!(rows[1][..2], ["first", "Hello"], "{out}");

    // The filter column follows the status subresource.
    let patch = r#"{"status":{"conditions":[{"type":"Ready","status":"True"}]}}"#;
    k.ok(&[
        "patch",
        "doc",
        "first",
        "--subresource=status",
        "--type=merge",
        "-p",
        patch,
    ])
    .await;
    let out = k.ok(&["get", "doc", "first"]).await;
    assert_eq!(table(&out)[1][..3], ["first", "Hello", "True"], "{out}");

    // All-namespaces and label columns are added by kubectl from the row objects.
    let out = k.ok(&["get", "documents", "-A", "--show-labels"]).await;
    assert_eq!(
        table(&out)[0],
        ["NAMESPACE", "NAME", "TITLE", "READY", "AGE", "LABELS"],
        "{out}"
    );
    let ns = &*k.ns;
    assert!(table(&out).iter().any(|r| r[..2] == [ns, "first"]), "{out}");
    if k.target.is_sandbox() {
        // The only Document there is.
        assert_eq!(table(&out)[1][..2], [ns, "first"], "{out}");
    }
}

/// Client-side `kubectl apply`: a create, then a patch with the last-applied annotation
/// (merge patch for custom resources, strategic merge for built-ins).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_creates_then_configures_a_document_and_a_configmap() {
    let k = Kubectl::start().await;
    k.install_crd().await;
    assert_eq!(
        k.apply_document("doc1", "One").await.trim(),
        "document.kube.rs/doc1 created"
    );
    assert_eq!(
        k.apply_document("doc1", "One").await.trim(),
        "document.kube.rs/doc1 unchanged"
    );
    assert_eq!(
        k.apply_document("doc1", "Two").await.trim(),
        "document.kube.rs/doc1 configured"
    );
    let title = k
        .ok(&["get", "doc", "doc1", "-o", "jsonpath={.spec.title}"])
        .await;
    assert_eq!(title, "Two");

    // Built-in kinds take the strategic-merge-patch path of client-side apply.
    let cm = |value: &str| {
        format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  key: {value}\n  other: x\n"
        )
    };
    let file = k.manifest("cm.yaml", &cm("a"));
    assert_eq!(
        k.ok(&["apply", "-f", &file]).await.trim(),
        "configmap/settings created"
    );
    let file = k.manifest("cm.yaml", &cm("b"));
    let out = k.run(&["apply", "-f", &file]).await;
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "configmap/settings configured"
    );
    // No "warning: error calculating patch from openapi" on stderr.
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
    let out = k.ok(&["get", "cm", "settings"]).await;
    let rows = table(&out);
    assert_eq!(rows[0], ["NAME", "DATA", "AGE"], "{out}");
    assert_eq!(rows[1][..2], ["settings", "2"], "{out}");
    let value = k
        .ok(&["get", "cm", "settings", "-o", "jsonpath={.data.key}"])
        .await;
    assert_eq!(value, "b");
}

/// A create that fails the CRD schema: the custom resource validator's 422, printed by kubectl.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_from_stdin_rejects_an_invalid_document_with_the_schema_message() {
    let k = Kubectl::start().await;
    k.install_crd().await;
    let bad = document_yaml(&k.ns, "bad", "\"\"");
    let out = k.run_with(&["apply", "-f", "-"], Some(&bad)).await;
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("spec.title in body should be at least 1 chars long"),
        "{stderr}"
    );
}

/// `kubectl apply --server-side`: apply patches (`patch.go` `applyPatcher`) of a CRD and a
/// custom resource, then deletes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_side_apply_of_the_crd_and_a_document_then_delete() {
    let k = Kubectl::start().await;
    // On a real cluster the CRD is there already, with fields owned by other managers.
    let force = if k.target.is_sandbox() {
        "--force-conflicts=false"
    } else {
        "--force-conflicts"
    };
    let out = k
        .run_with(
            &["apply", "--server-side", force, "-f", "-"],
            Some(DOCUMENT_CRD),
        )
        .await;
    assert!(out.status.success(), "{out:?}");
    k.wait_until_served().await;
    let file = k.manifest("ssa.yaml", &document_yaml(&k.ns, "ssa", "Server"));
    let out = k.ok(&["apply", "--server-side", "-f", &file]).await;
    assert_eq!(out.trim(), "document.kube.rs/ssa serverside-applied");
    let title = k
        .ok(&["get", "doc", "ssa", "-o", "jsonpath={.spec.title}"])
        .await;
    assert_eq!(title, "Server");
    let out = k.ok(&["delete", "doc", "ssa"]).await;
    assert_eq!(out.trim(), r#"document.kube.rs "ssa" deleted"#);
}

/// `kubectl patch` (merge), `describe` (a get plus an events list by field selector) and `delete`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn patch_describe_and_delete_a_document() {
    let k = Kubectl::start().await;
    k.install_crd().await;
    k.apply_document("d", "Before").await;
    let out = k
        .ok(&[
            "patch",
            "document",
            "d",
            "--type=merge",
            "-p",
            r#"{"spec":{"title":"After"}}"#,
        ])
        .await;
    assert_eq!(out.trim(), "document.kube.rs/d patched");
    let out = k
        .ok(&[
            "patch",
            "document",
            "d",
            "--type=json",
            "-p",
            r#"[{"op":"replace","path":"/spec/content","value":"json"}]"#,
        ])
        .await;
    assert_eq!(out.trim(), "document.kube.rs/d patched");

    let out = k.ok(&["describe", "document", "d"]).await;
    for expected in [
        "Name:         d",
        &format!("Namespace:    {}", &*k.ns),
        "Kind:         Document",
        "Title:    After",
        "Content:  json",
        "Events:",
    ] {
        assert!(out.contains(expected), "{expected:?} missing from\n{out}");
    }

    let out = k.ok(&["delete", "document", "d"]).await;
    assert_eq!(out.trim(), r#"document.kube.rs "d" deleted"#);
    let out = k.run(&["get", "document", "d"]).await;
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(r#"documents.kube.rs "d" not found"#),
        "{stderr}"
    );
    let out = k.run(&["get", "documents"]).await;
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout), "");
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains(&format!("No resources found in {} namespace.", &*k.ns)),
        "{out:?}"
    );
}

/// `kubectl get -w`: a Table list, then a watch of Table rows (`endpoints/handlers/watch.go`
/// transforming each event with the table convertor; headers only on the first).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_watch_prints_the_list_then_changes_as_rows() {
    let k = Kubectl::start().await;
    k.install_crd().await;
    k.apply_document("w1", "First").await;

    let mut child = k
        .command(&["get", "documents", "-w"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let next_line = || {
        tokio::task::block_in_place(|| {
            rx.recv_timeout(Duration::from_secs(20))
                .unwrap_or_else(|_| String::from("<timeout>"))
        })
    };
    let header = next_line();
    let first = next_line();
    k.apply_document("w2", "Second").await;
    let added = next_line();
    k.apply_document("w1", "Changed").await;
    let modified = next_line();
    k.ok(&["delete", "doc", "w2", "--wait=false"]).await;
    let deleted = next_line();

    child.kill().unwrap();
    let _ = child.wait();

    let split = |l: &str| l.split_whitespace().map(str::to_owned).collect::<Vec<_>>();
    assert_eq!(
        split(&header),
        ["NAME", "TITLE", "READY", "AGE"],
        "{header}"
    );
    assert_eq!(split(&first)[..2], ["w1", "First"], "{first}");
    // Later events print rows only: the columns did not change.
    assert_eq!(split(&added)[..2], ["w2", "Second"], "{added}");
    assert_eq!(split(&modified)[..2], ["w1", "Changed"], "{modified}");
    assert_eq!(split(&deleted)[..2], ["w2", "Second"], "{deleted}");
}

/// The internal printers' columns (`pkg/printers/internalversion`) for Events, Namespaces and
/// CRDs (`apiextensions-apiserver/pkg/registry/customresourcedefinition` default table).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_events_namespaces_and_crds_use_the_builtin_columns() {
    let k = Kubectl::start().await;
    k.install_crd().await;
    let ns = &*k.ns;
    let events: Api<Event> = Api::namespaced(k.target.client(), ns);
    let now = k8s_openapi::jiff::Timestamp::now();
    let event: Event = serde_json::from_value(json!({
        "metadata": {"name": "first.1", "namespace": ns},
        "involvedObject": {"kind": "Document", "name": "first", "namespace": ns,
            "apiVersion": "kube.rs/v1"},
        "reason": "Reconciled",
        "message": "document reconciled",
        "type": "Normal",
        "firstTimestamp": now.to_string(),
        "lastTimestamp": now.to_string(),
        "count": 1,
        "source": {"component": "doc-controller"},
    }))
    .unwrap();
    events.create(&PostParams::default(), &event).await.unwrap();

    let out = k.ok(&["get", "events"]).await;
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        table(lines[0]).concat(),
        ["LAST", "SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"],
        "{out}"
    );
    assert!(
        lines[1].contains("Normal   Reconciled   document/first   document reconciled"),
        "{out}"
    );
    let out = k.ok(&["get", "events", "-o", "wide"]).await;
    assert!(out.contains("SUBOBJECT"), "{out}");
    assert!(out.contains("doc-controller"), "{out}");

    let out = k.ok(&["get", "ns"]).await;
    let rows = table(&out);
    assert_eq!(rows[0], ["NAME", "STATUS", "AGE"], "{out}");
    for ns in ["default", "kube-system"] {
        assert!(rows.iter().any(|r| r[..2] == [ns, "Active"]), "{out}");
    }

    let out = k.ok(&["get", "crd"]).await;
    let rows = table(&out);
    assert_eq!(rows[0], ["NAME", "CREATED", "AT"], "{out}");
    assert!(rows.iter().any(|r| r[0] == "documents.kube.rs"), "{out}");
    if k.target.is_sandbox() {
        // The only CRD there is.
        assert_eq!(rows[1][0], "documents.kube.rs", "{out}");
    }
}

/// `kubectl explain` reads `/openapi/v3/apis/<group>/<version>`, published from the CRD schema
/// by the apiextensions OpenAPI v3 controller.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explain_reads_the_crd_schema_from_openapi_v3() {
    let k = Kubectl::start().await;
    k.install_crd().await;
    let out = k.ok(&["explain", "documents.spec"]).await;
    assert!(out.contains("KIND:       Document"), "{out}");
    assert!(out.contains("title\t<string> -required-"), "{out}");
}

/// `kubectl delete --dry-run=server`: `Store.Delete` with `dryRun: [All]` answers without deleting.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_with_server_dry_run_keeps_the_object() {
    let k = Kubectl::start().await;
    k.install_crd().await;
    k.apply_document("keep", "Kept").await;
    // kubectl sends `{"propagationPolicy":"Background","dryRun":["All"]}` as the body, not
    // `?dryRun=All`.
    let out = k.ok(&["delete", "doc", "keep", "--dry-run=server"]).await;
    assert_eq!(
        out.trim(),
        r#"document.kube.rs "keep" deleted (server dry run)"#
    );
    let out = k.ok(&["get", "doc", "keep", "-o", "name"]).await;
    assert_eq!(out.trim(), "document.kube.rs/keep");
}

/// `kubectl create configmap/namespace` send protobuf bodies, decoded by the protobuf serializer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_configmap_and_namespace_with_the_typed_kubectl_commands() {
    let k = Kubectl::start().await;
    // `kubectl create <kind>` uses client-go's typed clients, which send protobuf.
    let team = common::unique_name("conf-team");
    let _cleanup = k.target.teardown({
        let team = team.clone();
        move |client| async move {
            let namespaces: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(client);
            let _ = namespaces
                .delete(&team, &kube::api::DeleteParams::background())
                .await;
        }
    });
    let out = k.ok(&["create", "namespace", &team]).await;
    assert_eq!(out.trim(), format!("namespace/{team} created"));
    let out = k
        .ok(&[
            "create",
            "configmap",
            "lit",
            "--from-literal=a=b",
            "-n",
            &team,
        ])
        .await;
    assert_eq!(out.trim(), "configmap/lit created");
    let out = k
        .ok(&["get", "cm", "lit", "-n", &team, "-o", "jsonpath={.data.a}"])
        .await;
    assert_eq!(out, "b");
}
