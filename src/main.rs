//! The doc-controller binary: parse the configuration, set up telemetry, run until SIGTERM/SIGINT;
//! or, as `doc-controller doctor`, say what is wrong ([`doc_controller::doctor`]).
//!
//! Exit codes: 0 after a clean shutdown, 1 when the controller cannot run (e.g. the CRD is not
//! installed), 2 for a bad flag, environment value or config file. `doctor`: 0 healthy, 1 findings
//! or failed checks, 2 bad input.

use doc_controller::config::{Cli, Config, Invocation};
use doc_controller::{App, doctor, telemetry};
use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    let config = match Cli::invocation_from(std::env::args_os()) {
        Ok(Invocation::Run(cli)) => Config::load(*cli),
        Ok(Invocation::Doctor(args)) => return run_doctor(&args).await,
        Err(e) if e.use_stderr() => {
            // clap's report spans several lines (usage, tips); the contract is one line.
            let rendered = e.render().to_string();
            let first = rendered.lines().next().unwrap_or("invalid arguments");
            eprintln!("doc-controller: {}", first.trim_start_matches("error: "));
            return ExitCode::from(2);
        }
        Err(e) => {
            // --help and --version
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
    };
    let config = match config {
        Ok(config) => config,
        Err(e) => {
            eprintln!("doc-controller: {e}");
            return ExitCode::from(2);
        }
    };
    let _telemetry = match telemetry::init(config.log_format) {
        Ok(guard) => guard,
        Err(e) => {
            eprintln!("doc-controller: telemetry: {e}");
            return ExitCode::FAILURE;
        }
    };
    match run(config).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            if let doc_controller::AppError::Preflight(_) = e {
                tracing::info!("Installation: {}", doc_controller::preflight::INSTALL_HINT);
            }
            ExitCode::FAILURE
        }
    }
}

/// The doctor prints its report on stdout; without telemetry set up, kube's own log lines stay
/// out of it.
async fn run_doctor(args: &doctor::Args) -> ExitCode {
    match doctor::run(args).await {
        Ok(outcome) => {
            print!("{}", outcome.report);
            ExitCode::from(outcome.verdict.code())
        }
        Err(e) => {
            eprintln!(
                "doc-controller doctor: {}",
                doc_controller::config::one_line(&e.to_string())
            );
            ExitCode::from(2)
        }
    }
}

async fn run(config: Config) -> Result<(), doc_controller::AppError> {
    let kube_config = kube::Config::infer()
        .await
        .map_err(|e| doc_controller::AppError::Client(kube::Error::InferConfig(e)))?;
    let app = App::start(config, kube_config).await?;
    app.run(shutdown_signal()).await
}

/// Resolves on the first SIGTERM (what Kubernetes sends) or SIGINT (Ctrl-C).
async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {},
                    _ = term.recv() => {},
                }
            }
            Err(_) => {
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
    tracing::info!("shutdown signal received, finishing in-flight reconciles");
}
