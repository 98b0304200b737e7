//! `doc-controller doctor`, run as the binary a person runs: against a running controller's
//! `/diagnostics` (`--url`), and against a cluster with no controller running (the current
//! kubeconfig), with exit codes 0 healthy, 1 findings, 2 bad input.
//!
//! Runs on the sandbox, or on `DOC_CONTROLLER_E2E_KUBECONFIG`. The cluster checks are scoped to
//! the test's namespace and its copy of the ServiceAccount (`--namespace`, `--service-account`),
//! so tests running at once on one cluster do not see each other's Documents.

mod support;

use doc_controller::Document;
use doc_controller::config::Config;
use doc_controller::doctor::ServiceAccount;
use doc_controller::document::FINALIZER;
use doc_controller::preflight::INSTALL_HINT;
use doc_controller::rbac::REQUIRED;
use kube::api::{Api, DeleteParams};
use std::path::Path;
// region: fault-catalogue
use doc_controller::diagnosis::report::Diagnostics;
use doc_controller::diagnosis::{Finding, Settings};
use doc_controller::fault::{Fault, Faults};
use std::time::Duration;
// endregion: fault-catalogue
use support::{
    Controller, Env, TestNamespace, create, deployed, doc, eventually, ready_as, wait_for,
};

/// How a `doctor` run ended.
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

/// Runs `doc-controller doctor <args>` with `KUBECONFIG=kubeconfig` (or none at all).
async fn doctor(kubeconfig: Option<&Path>, args: &[&str]) -> Run {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_doc-controller"));
    command
        .arg("doctor")
        .args(args)
        // Neither an in-cluster configuration nor the run flags' environment may leak in.
        .env_remove("KUBERNETES_SERVICE_HOST")
        .env_remove("DOC_CONTROLLER_NAMESPACE")
        .env_remove("RUST_LOG")
        .kill_on_drop(true);
    match kubeconfig {
        Some(path) => command.env("KUBECONFIG", path),
        None => command.env_remove("KUBECONFIG"),
    };
    let out = tokio::time::timeout(support::TIMEOUT, command.output())
        .await
        .expect("doctor ends within the timeout")
        .expect("doctor runs");
    Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).to_string(),
        stderr: String::from_utf8_lossy(&out.stderr).to_string(),
    }
}

/// `doctor` on the cluster, scoped to `ns` and its copy of the ServiceAccount.
async fn doctor_cluster(env: &Env, ns: &TestNamespace, extra: &[&str]) -> Run {
    let service_account = format!("{}/{}", ns.name(), deployed::SERVICE_ACCOUNT);
    let mut args = vec![
        "--namespace",
        ns.name(),
        "--service-account",
        &service_account,
    ];
    args.extend_from_slice(extra);
    doctor(Some(env.kubeconfig()), &args).await
}

/// `doctor --url` for `controller`'s admin server.
async fn doctor_url(controller: &Controller, extra: &[&str]) -> Run {
    let url = format!("http://{}", controller.admin_addr());
    let mut args = vec!["--url", &url];
    args.extend_from_slice(extra);
    doctor(None, &args).await
}

/// Waits until the API server's authorizer grants `ns`'s ServiceAccount what it needs: a real
/// cluster's sees a new binding a moment later.
async fn until_granted(env: &Env, ns: &TestNamespace) {
    let sa = ServiceAccount {
        namespace: ns.name().to_owned(),
        name: deployed::SERVICE_ACCOUNT.into(),
    };
    let config = env.kube_config();
    eventually("the shipped RBAC in effect", || async {
        let target = doc_controller::rbac::Target {
            namespace: Some(ns.name()),
            lease_namespace: ns.name(),
            lease_name: doc_controller::leader::settings::DEFAULT_LEASE_NAME,
        };
        let denied =
            doc_controller::doctor::cluster::denied(&config, &sa, &target, support::TIMEOUT)
                .await
                .expect("an impersonating client");
        matches!(denied, Ok(ref d) if d.is_empty()).then_some(())
    })
    .await;
}

// === a running controller ===

// region: fault-catalogue
#[tokio::test]
async fn a_running_controllers_finding_is_printed_with_its_fix_and_exit_1() {
    let env = Env::new().await;
    let ns = env.namespace().await;
    let config = Config {
        faults: Faults::new([Fault::StatusTimestamp]),
        resync_period: Duration::from_secs(1),
        diagnosis: Settings {
            window: Duration::from_secs(1),
            ..support::DIAGNOSIS
        },
        ..Config::default()
    };
    let controller = Controller::start(&env, &ns, config).await;
    let docs: Api<Document> = Api::namespaced(env.client.clone(), ns.name());
    create(&docs, &doc("samuel", "Samuel", "hello")).await;
    let churn = Finding::StatusChurn;
    eventually("status-churn raised", || async {
        let report = support::diagnostics(controller.admin_addr()).await;
        report
            .active()
            .any(|f| f.finding == churn.name())
            .then_some(())
    })
    .await;

    let run = doctor_url(&controller, &[]).await;
    assert_eq!(run.code, Some(1), "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout
            .contains(&format!("{}: {}", churn.name(), churn.symptom())),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains(churn.fix()), "{}", run.stdout);

    let run = doctor_url(&controller, &["--output", "json"]).await;
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    let report: Diagnostics = serde_json::from_str(&run.stdout).expect("the report as JSON");
    assert!(report.active().any(|f| f.finding == churn.name()));
}
// endregion: fault-catalogue

#[tokio::test]
async fn a_healthy_running_controller_is_exit_0() {
    let env = Env::new().await;
    let ns = env.namespace().await;
    let controller = Controller::start(&env, &ns, Config::default()).await;
    let docs: Api<Document> = Api::namespaced(env.client.clone(), ns.name());
    create(&docs, &doc("samuel", "Samuel", "hello")).await;
    wait_for(&docs, "samuel", ready_as("Published")).await;
    controller.expect_no_findings().await;

    let run = doctor_url(&controller, &[]).await;
    assert_eq!(run.code, Some(0), "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout.starts_with("0 findings raised"),
        "{}",
        run.stdout
    );
}

// === a cluster without a running controller ===

#[tokio::test]
async fn a_healthy_install_passes_every_check() {
    let env = Env::new().await;
    let ns = env.namespace().await;
    let _installed = deployed::install(&env, &ns).await;
    until_granted(&env, &ns).await;

    let run = doctor_cluster(&env, &ns, &[]).await;
    assert_eq!(run.code, Some(0), "{}{}", run.stdout, run.stderr);
    let checks: Vec<&str> = run.stdout.lines().take_while(|l| !l.is_empty()).collect();
    assert_eq!(checks.len(), 5, "{}", run.stdout);
    assert!(
        checks.iter().all(|l| l.starts_with("ok ")),
        "{}",
        run.stdout
    );

    let run = doctor_cluster(&env, &ns, &["--output", "json"]).await;
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let report: serde_json::Value = serde_json::from_str(&run.stdout).expect("JSON");
    assert_eq!(report["healthy"], true, "{report}");
}

#[tokio::test]
async fn revoked_rbac_names_every_missing_verb() {
    let env = Env::new().await;
    let ns = env.namespace().await;
    let _installed = deployed::install_revoked(&env, &ns).await;

    let run = doctor_cluster(&env, &ns, &[]).await;
    assert_eq!(run.code, Some(1), "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains(&format!(
            "FAIL  ServiceAccount {}/{}",
            ns.name(),
            deployed::SERVICE_ACCOUNT
        )),
        "{}",
        run.stdout
    );
    for permission in REQUIRED {
        assert!(
            run.stdout.contains(&format!("denied: {permission} ")),
            "{permission} not named: {}",
            run.stdout
        );
    }
    assert!(run.stdout.contains("kubectl apply -f yaml/rbac.yaml"));
}

#[tokio::test]
#[cfg_attr(
    real_cluster,
    ignore = "needs an API server without the Document CRD; removing it from a cluster deletes every Document there"
)]
async fn a_missing_crd_fails_with_the_install_command() {
    let env = Env::without_crd().await;
    let ns = env.namespace().await;
    let _installed = deployed::install(&env, &ns).await;

    let run = doctor_cluster(&env, &ns, &[]).await;
    assert_eq!(run.code, Some(1), "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout
            .contains("FAIL  CRD documents.kube.rs installed and Established: not installed"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains(INSTALL_HINT), "{}", run.stdout);
    assert!(
        run.stdout.contains("skip  no Document stuck Terminating"),
        "{}",
        run.stdout
    );
}

#[tokio::test]
async fn a_stuck_terminating_document_gets_the_emergency_release_command() {
    let env = Env::new().await;
    let ns = env.namespace().await;
    let _installed = deployed::install(&env, &ns).await;
    until_granted(&env, &ns).await;
    let docs: Api<Document> = Api::namespaced(env.client.clone(), ns.name());
    let mut stuck = doc("stuck", "Stuck", "no controller runs");
    stuck.metadata.finalizers = Some(vec![FINALIZER.into()]);
    create(&docs, &stuck).await;
    docs.delete("stuck", &DeleteParams::default())
        .await
        .expect("delete accepted");

    let release = format!(
        "kubectl patch document stuck -n {} --type=merge -p '{{\"metadata\":{{\"finalizers\":null}}}}'",
        ns.name()
    );
    // Stuck once Terminating for a whole second, as the API server's timestamps count.
    let run = eventually("the Document reported stuck", || async {
        let run = doctor_cluster(&env, &ns, &["--stuck-after", "1s"]).await;
        run.stdout
            .contains("FAIL  no Document stuck Terminating")
            .then_some(run)
    })
    .await;
    assert_eq!(run.code, Some(1), "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains(&release), "{}", run.stdout);
    assert!(
        run.stdout.contains(&format!(
            "FAIL  no Document waiting for a finalizer without a controller: 1 Document in namespace {} being deleted",
            ns.name()
        )),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("run the controller"), "{}", run.stdout);
}

// === bad input ===

/// Answers one HTTP request with 200 and a body that is not a report.
async fn not_a_report() -> std::net::SocketAddr {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a loopback port");
    let addr = listener.local_addr().expect("its address");
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let mut head = Vec::new();
            let mut buf = [0u8; 1024];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => head.extend_from_slice(&buf[..n]),
                }
            }
            let body = "<html>a login page</html>";
            let answer = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(answer.as_bytes()).await;
        }
    });
    addr
}

#[tokio::test]
async fn bad_input_is_one_line_and_exit_2() {
    let unparsable = format!("http://{}", not_a_report().await);
    let missing = Path::new("/nonexistent/kubeconfig");
    let cases: &[(Option<&Path>, &[&str], &str)] = &[
        (None, &["--output", "yaml"], "yaml"),
        (None, &["--stuck-after", "soon"], "soon"),
        (None, &["--url", "localhost:8080"], "localhost:8080"),
        (
            None,
            &["--service-account", "doc-controller"],
            "NAMESPACE/NAME",
        ),
        (
            None,
            &["--url", "http://127.0.0.1:1", "--namespace", "x"],
            "--namespace",
        ),
        (None, &["--no-such-flag"], "--no-such-flag"),
        (Some(missing), &[], "/nonexistent/kubeconfig"),
        (
            None,
            &["--url", &unparsable],
            "did not answer with a diagnosis report",
        ),
    ];
    for (kubeconfig, args, names) in cases {
        let run = doctor(*kubeconfig, args).await;
        let stderr = run.stderr.trim_end();
        assert_eq!(run.code, Some(2), "{args:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
        assert!(stderr.starts_with("doc-controller"), "{stderr}");
        assert!(stderr.contains(names), "{args:?}: {stderr}");
        assert!(run.stdout.is_empty(), "{args:?}: {}", run.stdout);
    }
}
