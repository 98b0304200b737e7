//! `kubectl` as a person runs it, against the test's API server (the sandbox's kubeconfig, or
//! `DOC_CONTROLLER_E2E_KUBECONFIG`).
//!
//! Each [`Kubectl`] has its own `HOME` and discovery cache, so parallel tests never share (or
//! race on) `~/.kube/cache`, and a person's own kubeconfig (`KUBECONFIG`) is never read. CI
//! installs kubectl (`.ci/run`, Debian's `kubernetes-client`); a test that needs it fails, with
//! that message, where it is missing, rather than passing without checking.

use super::Env;
use std::path::PathBuf;
use std::process::Stdio;

/// A kubectl for one test.
pub struct Kubectl {
    kubeconfig: Option<PathBuf>,
    home: tempfile::TempDir,
}

/// What one kubectl run printed, and whether it succeeded.
#[derive(Debug)]
pub struct Output {
    /// Exit status 0.
    pub success: bool,
    /// Standard output.
    pub stdout: String,
    /// Standard error (warnings, errors).
    pub stderr: String,
}

impl Kubectl {
    /// A kubectl for `env`'s API server, as its admin.
    pub fn new(env: &Env) -> Kubectl {
        Kubectl {
            kubeconfig: Some(env.kubeconfig().to_path_buf()),
            home: tempfile::tempdir().expect("a HOME for kubectl"),
        }
    }

    /// A kubectl for commands that talk to no API server (`kubectl kustomize`).
    pub fn offline() -> Kubectl {
        Kubectl {
            kubeconfig: None,
            home: tempfile::tempdir().expect("a HOME for kubectl"),
        }
    }

    /// Runs `kubectl <args>` with `stdin` as its standard input.
    pub async fn run(&self, args: &[&str], stdin: Option<&str>) -> Output {
        use tokio::io::AsyncWriteExt;
        let mut command = tokio::process::Command::new("kubectl");
        if let Some(kubeconfig) = &self.kubeconfig {
            command.arg("--kubeconfig").arg(kubeconfig);
        }
        let mut child = command
            .arg("--cache-dir")
            .arg(self.home.path().join("cache"))
            .args(args)
            .env("HOME", self.home.path())
            .env_remove("KUBECONFIG")
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("kubectl runs (CI installs Debian's kubernetes-client; install kubectl)");
        if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
            pipe.write_all(text.as_bytes())
                .await
                .expect("kubectl reads its input");
        }
        let out = tokio::time::timeout(super::TIMEOUT, child.wait_with_output())
            .await
            .unwrap_or_else(|_| panic!("kubectl {args:?} did not finish in time"))
            .expect("kubectl finishes");
        Output {
            success: out.status.success(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Runs `kubectl <args>` and returns its standard output; panics, with what kubectl said,
    /// when it fails.
    pub async fn ok(&self, args: &[&str], stdin: Option<&str>) -> String {
        let out = self.run(args, stdin).await;
        assert!(
            out.success,
            "kubectl {}: {}{}",
            args.join(" "),
            out.stderr,
            out.stdout
        );
        out.stdout
    }
}
