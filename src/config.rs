//! The controller's configuration: one struct, from flags, environment and an optional file.
//!
//! # Precedence
//! For each setting, the first of these that sets it wins:
//! 1. the command-line flag (`--concurrency 8`),
//! 2. the environment variable (`DOC_CONTROLLER_CONCURRENCY=8`),
//! 3. the config file given by `--config` / `DOC_CONTROLLER_CONFIG` (YAML, or TOML by extension),
//! 4. the built-in default.
//!
//! Lists (the failure toggles) are replaced, not merged: `--fault a` with `faults: [b]` in the file
//! switches on `a` only.
//!
//! # Errors
//! A bad flag, environment value or file is reported as one line and the process exits with code 2
//! (see `main.rs`); nothing starts half-configured.

use crate::fault::{Fault, FaultParser, Faults};
use crate::telemetry::LogFormat;
use clap::Parser;
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Default number of Documents reconciled at once.
pub const DEFAULT_CONCURRENCY: u16 = 16;

/// The effective configuration of a controller run.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// Namespace to watch; `None` watches Documents in all namespaces.
    pub namespace: Option<String>,
    /// How many Documents are reconciled at once (`controller::Config::concurrency`).
    pub concurrency: u16,
    /// Address of the admin server (`/metrics`, `/healthz`, `/readyz`).
    pub admin_addr: SocketAddr,
    /// Log output format.
    pub log_format: LogFormat,
    /// How often every Document is reconciled again (one timer for all, the first tick one period
    /// after start), to catch drift that no watch reports.
    pub resync_period: Duration,
    /// How long index changes are collected before one write of `documents-index`.
    pub index_batch_window: Duration,
    /// How long a request to the API server may wait for its response head before it fails
    /// (see [`crate::api_health`]).
    pub api_timeout: Duration,
    /// The failure toggles switched on.
    pub faults: Faults,
    /// The self-diagnosis: its window and the bound past which a Terminating Document is stuck
    /// (see [`crate::diagnosis`]).
    pub diagnosis: crate::diagnosis::Settings,
    /// Whether live toggles are followed from the `doc-controller-config` ConfigMap
    /// (see [`crate::controller::toggles`]). Off by default: whoever may write that ConfigMap
    /// could otherwise switch on `crash-on-error` in production.
    pub live_faults: bool,
    /// The leader election: the Lease, this process's identity and the durations, with
    /// client-go's defaults (see [`crate::leader`]).
    pub leader_election: crate::leader::Settings,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            namespace: None,
            concurrency: DEFAULT_CONCURRENCY,
            admin_addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
            log_format: LogFormat::Text,
            resync_period: Duration::from_secs(60 * 60),
            index_batch_window: Duration::from_millis(20),
            api_timeout: crate::api_health::DEFAULT_API_TIMEOUT,
            faults: Faults::default(),
            diagnosis: crate::diagnosis::Settings::default(),
            live_faults: false,
            leader_election: crate::leader::Settings::default(),
        }
    }
}

/// Command-line flags; each also reads an environment variable.
///
/// Every value is optional here so that an unset flag falls through to the file and the default
/// ([`Config::merge`]). `about` and `long_about` are set explicitly: clap would otherwise show
/// this comment as the `--help` text.
#[derive(Parser, Debug, Default)]
#[command(
    name = "doc-controller",
    version,
    about = "Publishes Document resources (documents.kube.rs) as ConfigMaps",
    long_about = "Publishes Document resources (documents.kube.rs) as ConfigMaps.\n\n\
        Every flag can also be set by its environment variable or in the --config file; \
        the flag wins over the environment, the environment over the file. \
        Failure toggles (--fault) switch on the classic mistakes of docs/faults.md on purpose."
)]
pub struct Cli {
    /// Config file, YAML (.yaml/.yml) or TOML (.toml).
    #[arg(long, env = "DOC_CONTROLLER_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Namespace to watch (default: all namespaces).
    #[arg(long, env = "DOC_CONTROLLER_NAMESPACE")]
    pub namespace: Option<String>,
    /// Documents reconciled at once [default: 16].
    #[arg(long, env = "DOC_CONTROLLER_CONCURRENCY", value_parser = clap::value_parser!(u16).range(1..))]
    pub concurrency: Option<u16>,
    /// Admin server address for /metrics, /healthz, /readyz [default: 127.0.0.1:8080].
    #[arg(long, env = "DOC_CONTROLLER_ADMIN_ADDR")]
    pub admin_addr: Option<SocketAddr>,
    /// Log format [default: text].
    #[arg(long, env = "DOC_CONTROLLER_LOG_FORMAT", value_enum)]
    pub log_format: Option<LogFormat>,
    /// How often every Document is reconciled again, e.g. 30m [default: 1h].
    #[arg(long, env = "DOC_CONTROLLER_RESYNC_PERIOD", value_parser = humantime::parse_duration)]
    pub resync_period: Option<Duration>,
    /// How long index changes are batched before one write, e.g. 20ms [default: 20ms].
    #[arg(long, env = "DOC_CONTROLLER_INDEX_BATCH_WINDOW", value_parser = humantime::parse_duration)]
    pub index_batch_window: Option<Duration>,
    /// How long an API request may wait for the response head, e.g. 10s [default: 30s].
    #[arg(long, env = "DOC_CONTROLLER_API_TIMEOUT", value_parser = humantime::parse_duration)]
    pub api_timeout: Option<Duration>,
    /// How often the self-diagnosis evaluates the controller's signals, e.g. 10s [default: 10s].
    #[arg(long, env = "DOC_CONTROLLER_DIAGNOSIS_WINDOW", value_parser = humantime::parse_duration)]
    pub diagnosis_window: Option<Duration>,
    /// How long a Document may be Terminating before the diagnosis calls it stuck [default: 1m].
    #[arg(long, env = "DOC_CONTROLLER_STUCK_AFTER", value_parser = humantime::parse_duration)]
    pub stuck_after: Option<Duration>,
    /// Switch on a failure toggle (repeatable, or comma-separated; see docs/faults.md).
    #[arg(
        long = "fault",
        value_name = "TOGGLE",
        env = "DOC_CONTROLLER_FAULTS",
        value_parser = FaultParser,
        value_delimiter = ','
    )]
    pub faults: Option<Vec<Fault>>,
    /// Follow live toggles from the doc-controller-config ConfigMap in the controller's
    /// namespace (for demos: whoever may write that ConfigMap can then break this controller).
    #[arg(
        long,
        env = "DOC_CONTROLLER_LIVE_FAULTS",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true",
        value_parser = clap::builder::BoolishValueParser::new()
    )]
    pub live_faults: Option<bool>,
    /// The leader election's Lease name [default: doc-controller].
    #[arg(long, env = "DOC_CONTROLLER_LEASE_NAME")]
    pub lease_name: Option<String>,
    /// The Lease's namespace [default: the Pod's namespace in a Pod, else --namespace, else
    /// default].
    #[arg(long, env = "DOC_CONTROLLER_LEASE_NAMESPACE")]
    pub lease_namespace: Option<String>,
    /// How long a standby waits, after it last saw the Lease change, before taking it over
    /// (whole seconds) [default: 15s].
    #[arg(long, env = "DOC_CONTROLLER_LEASE_DURATION", value_parser = humantime::parse_duration)]
    pub lease_duration: Option<Duration>,
    /// How long the leader keeps failing to renew before it stops writing [default: 10s].
    #[arg(long, env = "DOC_CONTROLLER_RENEW_DEADLINE", value_parser = humantime::parse_duration)]
    pub renew_deadline: Option<Duration>,
    /// How often the leader renews and a standby looks again (with jitter) [default: 2s].
    #[arg(long, env = "DOC_CONTROLLER_RETRY_PERIOD", value_parser = humantime::parse_duration)]
    pub retry_period: Option<Duration>,
    /// This process's holder identity in the Lease, unique per replica [default: the host
    /// name, which is the Pod's name in a Pod].
    #[arg(long, env = "DOC_CONTROLLER_IDENTITY")]
    pub identity: Option<String>,
    /// A subcommand instead of running the controller.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The subcommands; without one, the binary runs the controller.
#[derive(clap::Subcommand, Debug, Clone, PartialEq)]
pub enum Command {
    /// Say what is wrong and the fix: a running controller's diagnosis, or a cluster's blockers
    ///
    /// With --url, print a running controller's self-diagnosis (GET URL/diagnostics). Without
    /// it, check the cluster of the current kubeconfig with no controller running: the API
    /// server answers, the CRD is installed and Established, the ServiceAccount may do every verb
    /// the controller uses, no Document is stuck Terminating or waits for the controller's
    /// finalizer. Exit code 0 healthy, 1 findings or failed checks, 2 bad input.
    Doctor(crate::doctor::Args),
}

/// What the command line asks for.
#[derive(Debug)]
pub enum Invocation {
    /// Run the controller with these flags (both boxed: the two sets differ much in size).
    Run(Box<Cli>),
    /// Run `doctor`.
    Doctor(Box<crate::doctor::Args>),
}

impl Cli {
    /// Parses a command line (`args[0]` is the program).
    ///
    /// A subcommand in first place is parsed on its own, before and without the run flags: each
    /// run flag reads an environment variable, and a Pod's `DOC_CONTROLLER_*` (or a stale one in
    /// a shell) must neither be required to be valid for `doctor` nor be mistaken for its flags.
    /// A subcommand after run flags (`doc-controller --log-format json doctor`) goes through
    /// the whole parser and is accepted too; the run flags are then ignored.
    pub fn invocation_from<I, T>(args: I) -> Result<Invocation, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        use clap::{CommandFactory, FromArgMatches};
        let args: Vec<std::ffi::OsString> = args.into_iter().map(Into::into).collect();
        let top = Cli::command();
        let first = args.get(1).and_then(|a| a.to_str());
        if let Some(sub) = first
            .filter(|name| *name == "doctor")
            .and_then(|name| top.find_subcommand(name))
        {
            let matches = sub
                .clone()
                .bin_name(format!("{} doctor", top.get_name()))
                .try_get_matches_from(&args[1..])?;
            return Ok(Invocation::Doctor(Box::new(
                crate::doctor::Args::from_arg_matches(&matches)?,
            )));
        }
        let mut cli = Cli::try_parse_from(args)?;
        Ok(match cli.command.take() {
            Some(Command::Doctor(args)) => Invocation::Doctor(Box::new(args)),
            None => Invocation::Run(Box::new(cli)),
        })
    }
}

/// The config file: the same settings as the flags, kebab-case.
#[derive(Deserialize, Debug, Default, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct FileConfig {
    /// See [`Config::namespace`].
    pub namespace: Option<String>,
    /// See [`Config::concurrency`].
    pub concurrency: Option<u16>,
    /// See [`Config::admin_addr`].
    pub admin_addr: Option<SocketAddr>,
    /// See [`Config::log_format`].
    pub log_format: Option<LogFormat>,
    /// See [`Config::resync_period`].
    #[serde(default, with = "humantime_serde")]
    pub resync_period: Option<Duration>,
    /// See [`Config::index_batch_window`].
    #[serde(default, with = "humantime_serde")]
    pub index_batch_window: Option<Duration>,
    /// See [`Config::api_timeout`].
    #[serde(default, with = "humantime_serde")]
    pub api_timeout: Option<Duration>,
    /// See [`Config::diagnosis`].
    #[serde(default, with = "humantime_serde")]
    pub diagnosis_window: Option<Duration>,
    /// See [`Config::diagnosis`].
    #[serde(default, with = "humantime_serde")]
    pub stuck_after: Option<Duration>,
    /// See [`Config::faults`].
    pub faults: Option<Vec<Fault>>,
    /// See [`Config::live_faults`].
    pub live_faults: Option<bool>,
    /// See [`Config::leader_election`].
    pub lease_name: Option<String>,
    /// See [`Config::leader_election`].
    pub lease_namespace: Option<String>,
    /// See [`Config::leader_election`].
    #[serde(default, with = "humantime_serde")]
    pub lease_duration: Option<Duration>,
    /// See [`Config::leader_election`].
    #[serde(default, with = "humantime_serde")]
    pub renew_deadline: Option<Duration>,
    /// See [`Config::leader_election`].
    #[serde(default, with = "humantime_serde")]
    pub retry_period: Option<Duration>,
    /// See [`Config::leader_election`].
    pub identity: Option<String>,
}

/// Why the configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The config file could not be read.
    #[error("config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The YAML config file is malformed or has an unknown key.
    #[error("config file {path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's message, flattened to one line.
        message: String,
    },
    /// The file extension is neither YAML nor TOML.
    #[error("config file {0}: unknown format, use .yaml, .yml or .toml")]
    UnknownFormat(PathBuf),
    /// A setting has a value that is not allowed.
    #[error("{0}")]
    Invalid(String),
}

// === impl Config ===

impl Config {
    /// Builds the effective configuration from parsed flags/environment and the file they name.
    pub fn load(cli: Cli) -> Result<Self, ConfigError> {
        let file = match &cli.config {
            Some(path) => FileConfig::read(path)?,
            None => FileConfig::default(),
        };
        Self::merge(cli, file)
    }

    /// Applies the precedence: flag/env, then file, then default.
    pub fn merge(cli: Cli, file: FileConfig) -> Result<Self, ConfigError> {
        let defaults = Config::default();
        let config = Config {
            namespace: cli.namespace.or(file.namespace),
            concurrency: cli
                .concurrency
                .or(file.concurrency)
                .unwrap_or(defaults.concurrency),
            admin_addr: cli
                .admin_addr
                .or(file.admin_addr)
                .unwrap_or(defaults.admin_addr),
            log_format: cli
                .log_format
                .or(file.log_format)
                .unwrap_or(defaults.log_format),
            resync_period: cli
                .resync_period
                .or(file.resync_period)
                .unwrap_or(defaults.resync_period),
            index_batch_window: cli
                .index_batch_window
                .or(file.index_batch_window)
                .unwrap_or(defaults.index_batch_window),
            api_timeout: cli
                .api_timeout
                .or(file.api_timeout)
                .unwrap_or(defaults.api_timeout),
            faults: Faults::new(cli.faults.or(file.faults).unwrap_or_default()),
            diagnosis: crate::diagnosis::Settings {
                window: cli
                    .diagnosis_window
                    .or(file.diagnosis_window)
                    .unwrap_or(defaults.diagnosis.window),
                stuck_after: cli
                    .stuck_after
                    .or(file.stuck_after)
                    .unwrap_or(defaults.diagnosis.stuck_after),
            },
            live_faults: cli
                .live_faults
                .or(file.live_faults)
                .unwrap_or(defaults.live_faults),
            leader_election: crate::leader::Settings {
                lease_name: cli
                    .lease_name
                    .or(file.lease_name)
                    .unwrap_or(defaults.leader_election.lease_name),
                lease_namespace: cli.lease_namespace.or(file.lease_namespace),
                identity: cli.identity.or(file.identity),
                lease_duration: cli
                    .lease_duration
                    .or(file.lease_duration)
                    .unwrap_or(defaults.leader_election.lease_duration),
                renew_deadline: cli
                    .renew_deadline
                    .or(file.renew_deadline)
                    .unwrap_or(defaults.leader_election.renew_deadline),
                retry_period: cli
                    .retry_period
                    .or(file.retry_period)
                    .unwrap_or(defaults.leader_election.retry_period),
            },
        };
        config.check()?;
        Ok(config)
    }

    /// Rejects values that parse but cannot work. Flags are range-checked by clap already; the
    /// file is not, so the same rules are enforced here.
    fn check(&self) -> Result<(), ConfigError> {
        if self.concurrency == 0 {
            return Err(ConfigError::Invalid(
                "concurrency must be at least 1".into(),
            ));
        }
        if self.resync_period.is_zero() {
            return Err(ConfigError::Invalid(
                "resync-period must be longer than 0s".into(),
            ));
        }
        if self.api_timeout.is_zero() {
            return Err(ConfigError::Invalid(
                "api-timeout must be longer than 0s".into(),
            ));
        }
        if self.diagnosis.window < std::time::Duration::from_millis(100) {
            return Err(ConfigError::Invalid(
                "diagnosis-window must be at least 100ms".into(),
            ));
        }
        self.leader_election.check().map_err(ConfigError::Invalid)
    }
}

impl FileConfig {
    /// Reads a YAML or TOML config file, chosen by extension.
    pub fn read(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        let parse_error = |message: String| ConfigError::Parse {
            path: path.to_owned(),
            message: one_line(&message),
        };
        match path.extension().and_then(|e| e.to_str()) {
            Some("yaml" | "yml") => {
                // An empty file is an empty config, not an error.
                if text.trim().is_empty() {
                    return Ok(Self::default());
                }
                serde_saphyr::from_str(&text).map_err(|e| parse_error(e.to_string()))
            }
            Some("toml") => toml::from_str(&text).map_err(|e| parse_error(e.to_string())),
            _ => Err(ConfigError::UnknownFormat(path.to_owned())),
        }
    }
}

/// Messages often span lines (a parser's snippet with a caret, a nested error, a server's page);
/// the contract for bad input is one line.
pub fn one_line(message: &str) -> String {
    message
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn cli(args: &[&str]) -> Cli {
        let mut all = vec!["doc-controller"];
        all.extend_from_slice(args);
        Cli::try_parse_from(all).expect("flags parse")
    }

    /// A config file with this extension and body, removed when dropped.
    fn file(ext: &str, body: &str) -> tempfile::TempPath {
        let mut f = tempfile::Builder::new()
            .suffix(&format!(".{ext}"))
            .tempfile()
            .expect("create temp file");
        f.write_all(body.as_bytes()).expect("write temp file");
        f.into_temp_path()
    }

    fn path(p: &tempfile::TempPath) -> &str {
        p.to_str().expect("utf-8 temp path")
    }

    #[test]
    fn defaults_apply_when_nothing_is_set() {
        let config = Config::merge(cli(&[]), FileConfig::default()).expect("valid");
        assert_eq!(config, Config::default());
    }

    #[test]
    fn flags_win_over_the_file_and_the_file_over_defaults() {
        let f = file(
            "yaml",
            "concurrency: 4\nnamespace: from-file\nresync-period: 10m\nfaults: [no-predicate]\n",
        );
        let config = Config::load(cli(&[
            "--config",
            path(&f),
            "--namespace",
            "from-flag",
            "--fault",
            "status-timestamp",
        ]))
        .expect("valid");
        assert_eq!(config.namespace.as_deref(), Some("from-flag"));
        assert_eq!(config.concurrency, 4);
        assert_eq!(config.resync_period, Duration::from_secs(600));
        assert_eq!(config.faults, Faults::new([Fault::StatusTimestamp]));
    }

    #[test]
    fn toml_files_are_read_too() {
        let f = file(
            "toml",
            "concurrency = 2\nfaults = [\"cleanup-fails\", \"direct-reads\"]\n",
        );
        let config = Config::load(cli(&["--config", path(&f)])).expect("valid");
        assert_eq!(config.concurrency, 2);
        assert!(config.faults.is_on(Fault::CleanupFails));
        assert!(config.faults.is_on(Fault::DirectReads));
    }

    #[test]
    fn several_toggles_come_from_one_comma_separated_value() {
        let c = cli(&["--fault", "no-predicate,status-timestamp"]);
        let config = Config::merge(c, FileConfig::default()).expect("valid");
        assert_eq!(config.faults.to_string(), "status-timestamp,no-predicate");
    }

    #[test]
    fn an_unknown_key_in_the_file_is_one_line_naming_the_file() {
        let f = file("yaml", "concurency: 4\n");
        let err = Config::load(cli(&["--config", path(&f)])).expect_err("typo rejected");
        let msg = err.to_string();
        assert!(msg.contains("concurency"), "{msg}");
        assert!(msg.contains(path(&f)), "{msg}");
        assert_eq!(msg.lines().count(), 1, "{msg}");
    }

    #[test]
    fn an_unknown_toggle_in_the_file_is_rejected() {
        let f = file("yaml", "faults: [no-such-fault]\n");
        let err = Config::load(cli(&["--config", path(&f)])).expect_err("unknown toggle rejected");
        assert!(err.to_string().contains("no-such-fault"), "{err}");
    }

    #[test]
    fn zero_concurrency_in_the_file_is_rejected() {
        let f = file("yaml", "concurrency: 0\n");
        let err = Config::load(cli(&["--config", path(&f)])).expect_err("zero rejected");
        assert_eq!(err.to_string(), "concurrency must be at least 1");
    }

    #[test]
    fn the_api_timeout_comes_from_flag_or_file_and_zero_is_rejected() {
        let f = file("yaml", "api-timeout: 5s\n");
        let config = Config::load(cli(&["--config", path(&f)])).expect("valid");
        assert_eq!(config.api_timeout, Duration::from_secs(5));
        let config =
            Config::load(cli(&["--config", path(&f), "--api-timeout", "1500ms"])).expect("valid");
        assert_eq!(config.api_timeout, Duration::from_millis(1500));
        let err = Config::load(cli(&["--api-timeout", "0s"])).expect_err("zero rejected");
        assert_eq!(err.to_string(), "api-timeout must be longer than 0s");
    }

    #[test]
    fn doctor_is_a_subcommand_and_running_stays_the_default() {
        let run = Cli::invocation_from(["doc-controller", "--concurrency", "4"]).expect("valid");
        assert!(
            matches!(run, Invocation::Run(ref cli) if cli.concurrency == Some(4)),
            "{run:?}"
        );
        for args in [
            &["doc-controller", "doctor", "--url", "http://127.0.0.1:8080"][..],
            &[
                "doc-controller",
                "--log-format",
                "json",
                "doctor",
                "--url",
                "http://127.0.0.1:8080",
            ],
        ] {
            match Cli::invocation_from(args) {
                Ok(Invocation::Doctor(doctor)) => {
                    assert_eq!(
                        doctor.url.map(|u| u.to_string()).as_deref(),
                        Some("http://127.0.0.1:8080/")
                    );
                    assert_eq!(doctor.stuck_after, Duration::from_secs(60));
                }
                other => panic!("{args:?}: {other:?}"),
            }
        }
        let err = Cli::invocation_from(["doc-controller", "doctor", "--concurrency", "4"])
            .expect_err("a run flag is not doctor's");
        assert_eq!(err.exit_code(), 2);
    }

    #[test]
    fn the_leader_election_comes_from_flags_environment_names_and_file_and_is_checked() {
        let f = file(
            "yaml",
            "lease-name: docs\nlease-namespace: ops\nlease-duration: 20s\nrenew-deadline: 12s\nretry-period: 3s\nidentity: replica-a\n",
        );
        let config =
            Config::load(cli(&["--config", path(&f), "--retry-period", "4s"])).expect("valid");
        let election = &config.leader_election;
        assert_eq!(election.lease_name, "docs");
        assert_eq!(election.lease_namespace.as_deref(), Some("ops"));
        assert_eq!(election.lease_duration, Duration::from_secs(20));
        assert_eq!(election.renew_deadline, Duration::from_secs(12));
        assert_eq!(
            election.retry_period,
            Duration::from_secs(4),
            "the flag wins"
        );
        assert_eq!(election.identity.as_deref(), Some("replica-a"));

        let err = Config::load(cli(&["--lease-duration", "10s", "--renew-deadline", "10s"]))
            .expect_err("client-go's check");
        assert_eq!(
            err.to_string(),
            "lease-duration (10s) must be longer than renew-deadline (10s)"
        );
        assert_eq!(err.to_string().lines().count(), 1);
        let err = Config::load(cli(&["--retry-period", "9s"])).expect_err("client-go's check");
        assert_eq!(
            err.to_string(),
            "renew-deadline (10s) must be longer than retry-period (9s) × 1.2"
        );
        let err = Config::load(cli(&["--identity", "two words"])).expect_err("a header value");
        assert!(err.to_string().contains("identity"), "{err}");
    }

    #[test]
    fn a_bad_flag_is_a_usage_error() {
        let err = Cli::try_parse_from(["doc-controller", "--concurrency", "0"])
            .expect_err("zero rejected");
        assert_eq!(err.exit_code(), 2);
        let err = Cli::try_parse_from(["doc-controller", "--fault", "nope"])
            .expect_err("unknown toggle rejected");
        assert_eq!(err.exit_code(), 2);
    }
}
