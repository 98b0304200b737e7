//! `doc-controller doctor`: what is wrong, and what to do about it, from outside the controller.
//!
//! Two modes, chosen by `--url`:
//! - with `--url`, [`remote`] reads a running controller's `GET /diagnostics` (its
//!   self-diagnosis, [`crate::diagnosis`]) and prints the findings raised, with evidence, cause
//!   and fix;
//! - without, [`cluster`] checks, with the current kubeconfig and no controller running, the
//!   blockers the troubleshooting guide lists up front, in its order: the API server answers, the
//!   CRD is installed and Established, the controller's ServiceAccount may do every verb of
//!   [`crate::rbac::REQUIRED`] (the Lease's in its namespace), no Document is stuck Terminating,
//!   and no Document being deleted
//!   waits for a finalizer that no controller releases.
//!
//! # Exit codes
//! [`Verdict::code`]: 0 healthy, 1 findings raised or checks failed; 2 for bad input (a bad flag,
//! an unreadable kubeconfig, a `--url` that does not answer with a report), as one line on stderr
//! (`main.rs`), like the controller's own bad input.

pub mod cluster;
pub mod remote;

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// The flags of `doctor`. Unlike the run flags they read no environment variable: the Pod's
/// `DOC_CONTROLLER_*` configure the controller, and `doctor` run with `kubectl exec` in that Pod
/// should not take them for its own.
#[derive(clap::Args, Clone, Debug, PartialEq)]
pub struct Args {
    /// A running controller's admin address: print its self-diagnosis (GET URL/diagnostics).
    /// Without it, the cluster of the current kubeconfig is checked with no controller running.
    #[arg(long, value_name = "URL", value_parser = parse_url)]
    pub url: Option<http::Uri>,
    /// Without --url: the namespace whose Documents and permissions are checked [default: all].
    #[arg(long, conflicts_with = "url")]
    pub namespace: Option<String>,
    /// Without --url: the controller's ServiceAccount, NAMESPACE/NAME, whose permissions are
    /// checked by impersonating it.
    #[arg(
        long,
        value_name = "NAMESPACE/NAME",
        default_value = "default/doc-controller",
        conflicts_with = "url"
    )]
    pub service_account: ServiceAccount,
    /// Without --url: the namespace of the leader election's Lease, whose permissions are
    /// checked there [default: the ServiceAccount's namespace, where a Pod's Lease is].
    #[arg(long, conflicts_with = "url")]
    pub lease_namespace: Option<String>,
    /// Without --url: the Lease's name.
    #[arg(
        long,
        default_value = crate::leader::settings::DEFAULT_LEASE_NAME,
        conflicts_with = "url"
    )]
    pub lease_name: String,
    /// Without --url: how long a Document may be Terminating before it counts as stuck.
    #[arg(
        long,
        value_name = "DURATION",
        default_value = "1m",
        value_parser = positive_duration,
        conflicts_with = "url"
    )]
    pub stuck_after: Duration,
    /// How long the API server (or, with --url, the controller) may take to answer.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = positive_duration)]
    pub api_timeout: Duration,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Output::Text)]
    pub output: Output,
}

/// How the report is printed.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Output {
    /// For a person: each finding or check with what was seen and the fix.
    Text,
    /// For a program: the JSON of /diagnostics with --url, else every check's result.
    Json,
}

/// A ServiceAccount, `namespace/name`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceAccount {
    /// Its namespace.
    pub namespace: String,
    /// Its name.
    pub name: String,
}

impl ServiceAccount {
    /// The user name it authenticates as: `system:serviceaccount:<namespace>:<name>`.
    pub fn user(&self) -> String {
        format!("system:serviceaccount:{}:{}", self.namespace, self.name)
    }

    /// The groups the API server gives it: impersonating the user alone would leave out what is
    /// granted to `system:serviceaccounts` and to all authenticated users.
    pub fn groups(&self) -> Vec<String> {
        vec![
            "system:serviceaccounts".into(),
            format!("system:serviceaccounts:{}", self.namespace),
            "system:authenticated".into(),
        ]
    }
}

impl FromStr for ServiceAccount {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.split_once('/') {
            Some((namespace, name))
                if !namespace.is_empty() && !name.is_empty() && !name.contains('/') =>
            {
                Ok(Self {
                    namespace: namespace.into(),
                    name: name.into(),
                })
            }
            _ => Err(format!("expected NAMESPACE/NAME, got {s:?}")),
        }
    }
}

impl fmt::Display for ServiceAccount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// `http://host:port` (a path prefix is kept): an admin server's address.
fn parse_url(s: &str) -> Result<http::Uri, String> {
    let uri: http::Uri = s
        .parse()
        .map_err(|e| format!("expected http://HOST:PORT: {e}"))?;
    match (uri.scheme_str(), uri.authority()) {
        (Some("http" | "https"), Some(_)) => Ok(uri),
        _ => Err(format!("expected http://HOST:PORT, got {s:?}")),
    }
}

fn positive_duration(s: &str) -> Result<Duration, String> {
    let duration = humantime::parse_duration(s).map_err(|e| e.to_string())?;
    if duration.is_zero() {
        return Err("must be longer than 0s".into());
    }
    Ok(duration)
}

/// What the doctor concluded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Nothing raised, every check passed.
    Healthy,
    /// A finding is raised, or a check failed.
    Findings,
}

impl Verdict {
    /// The process's exit code.
    pub fn code(self) -> u8 {
        match self {
            Verdict::Healthy => 0,
            Verdict::Findings => 1,
        }
    }
}

/// A report and its verdict: `main.rs` prints the one and exits with the other.
#[derive(Clone, Debug, PartialEq)]
pub struct Outcome {
    /// What goes to stdout, text or JSON as `--output` asked.
    pub report: String,
    /// The exit code's meaning.
    pub verdict: Verdict,
}

/// Why the doctor could not say anything (exit code 2).
#[derive(Debug, thiserror::Error)]
pub enum DoctorError {
    /// No kubeconfig (nor in-cluster configuration) could be loaded.
    #[error("kubeconfig: {0}")]
    Kubeconfig(#[source] kube::config::InferConfigError),
    /// A client could not be built from the configuration (a bad certificate, say).
    #[error("client for {target}: {source}")]
    Client {
        /// The API server or admin server.
        target: String,
        /// Why.
        source: kube::Error,
    },
    /// The controller's admin server did not answer.
    #[error(
        "no answer from {url}{}; is the controller running there? For a Pod: \
         kubectl port-forward deploy/doc-controller 8080, then --url http://127.0.0.1:8080",
        no_answer_detail(.source, .after)
    )]
    NoAnswer {
        /// The URL asked.
        url: String,
        /// The deadline.
        after: Duration,
        /// The error, `None` when the deadline passed.
        source: Option<kube::Error>,
    },
    /// The admin server answered with an error status: not a doc-controller, or one without a
    /// diagnosis.
    #[error(
        "{url} answered {code}{}; is it a doc-controller admin server?",
        if .message.is_empty() { String::new() } else { format!(": {}", .message) }
    )]
    NotAReport {
        /// The URL asked.
        url: String,
        /// The HTTP status code.
        code: u16,
        /// The answer's message.
        message: String,
    },
    /// The answer is not a diagnosis report.
    #[error("{url} did not answer with a diagnosis report: {source}")]
    Unparsable {
        /// The URL asked.
        url: String,
        /// The parser's error.
        source: serde_json::Error,
    },
}

fn no_answer_detail(source: &Option<kube::Error>, after: &Duration) -> String {
    match source {
        Some(error) => format!(": {}", with_causes(error)),
        None => format!(" within {}", humantime::format_duration(*after)),
    }
}

/// Runs the mode `args` choose.
pub async fn run(args: &Args) -> Result<Outcome, DoctorError> {
    match &args.url {
        Some(url) => remote::run(url, args.api_timeout, args.output).await,
        None => cluster::run(args).await,
    }
}

/// `error` and what caused it, each cause once: kube's transport errors say only
/// `client error (Connect)`, their sources say `Connection refused`.
pub fn with_causes(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(error) = cause {
        let more = error.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        cause = error.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_service_account_is_namespace_slash_name() {
        let sa: ServiceAccount = "ops/doc-controller".parse().expect("valid");
        assert_eq!(sa.user(), "system:serviceaccount:ops:doc-controller");
        assert!(
            sa.groups()
                .contains(&"system:serviceaccounts:ops".to_string())
        );
        assert_eq!(sa.to_string(), "ops/doc-controller");
        for bad in ["doc-controller", "/x", "x/", "a/b/c"] {
            assert!(bad.parse::<ServiceAccount>().is_err(), "{bad}");
        }
    }

    #[test]
    fn a_url_needs_a_scheme_and_a_host() {
        assert!(parse_url("http://127.0.0.1:8080").is_ok());
        assert!(parse_url("127.0.0.1:8080").is_err());
        assert!(parse_url("/diagnostics").is_err());
        assert!(parse_url("ftp://host").is_err());
    }

    #[test]
    fn durations_must_be_positive() {
        assert_eq!(positive_duration("1m"), Ok(Duration::from_secs(60)));
        assert!(positive_duration("0s").is_err());
        assert!(positive_duration("soon").is_err());
    }
}
