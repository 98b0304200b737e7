//! Narrated fault demos: one command per failure toggle of `docs/faults.md`.
//!
//! ```text
//! cargo run --example demo -- --list            # the toggles and their symptoms
//! cargo run --example demo -- no-predicate      # one demo (about a minute)
//! cargo run --example demo -- all               # every demo, one after the other
//! ```
//!
//! Each demo starts the embedded sandbox API server and installs the controller as the shipped
//! Deployment runs it: `yaml/rbac.yaml` and the toggle's `cluster_setup()` manifest under
//! `yaml/faults/`, applied verbatim from their files (the demo prints the `kubectl` lines), and a
//! TokenRequest token of the `doc-controller` ServiceAccount in a file, as in a Pod. Every
//! controller runs as that ServiceAccount: in this process (with `--live-faults`) or, where the
//! process itself is the point (exit codes, its own logs or memory), as the `doc-controller`
//! binary. Admin credentials are only for what the person at the keyboard does. Then it creates
//! Documents, tells what the toggle breaks, and
//!
//! 1. **fault ON**: switches the toggle on and prints, every 2 s, the numbers that show the
//!    symptom (read from the controller's `/metrics`, the API and the logs). A live toggle is
//!    flipped through the `doc-controller-config` ConfigMap on the running controller, whose
//!    switch reconciles every Document: the symptom shows right after it, with no Document
//!    touched. A restart-only toggle means starting the controller with it;
//! 2. **fault OFF**: switches it off the same way (or stops that controller gracefully and starts
//!    one without it on the same sandbox) and prints the same numbers: the recovery.
//!
//! It ends with the fix and the file where the toggle's branch lives (`// FAULT(<toggle>)`).
//! Every demo ends by itself and leaves nothing running.

mod credentials;
#[path = "../../tests/support/faults_doc.rs"]
mod faults_doc;
mod harness;
mod loops;
mod memory;
mod network;
mod replicas;
mod table;
#[path = "../../tests/support/token_request.rs"]
mod token_request;
mod watches;

use doc_controller::fault::Fault;
use faults_doc::DocRow;
use harness::{Logs, Res};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let logs = Logs::default();
    let filter = tracing_subscriber::EnvFilter::try_from_env("DEMO_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,kube=warn,sandbox=error"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .with_writer(logs.clone())
        .try_init();

    let faults: Vec<Fault> = match args.first().map(String::as_str) {
        None | Some("-h" | "--help") => {
            usage();
            return ExitCode::from(2);
        }
        Some("--list" | "list") => {
            list();
            return ExitCode::SUCCESS;
        }
        Some("all") => Fault::ALL.to_vec(),
        Some(name) => match Fault::ALL.iter().find(|f| f.name() == name) {
            Some(f) => vec![*f],
            None => {
                eprintln!("demo: unknown toggle {name:?}; `--list` shows them");
                return ExitCode::from(2);
            }
        },
    };
    let mut failed = Vec::new();
    for fault in faults {
        let started = std::time::Instant::now();
        logs.clear();
        if let Err(e) = run(fault, &logs).await {
            println!("\n!! demo {fault} failed: {e}");
            failed.push(fault);
        }
        println!("   (demo {fault} took {} s)\n", started.elapsed().as_secs());
    }
    if failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

async fn run(fault: Fault, logs: &Logs) -> Res {
    match fault {
        Fault::StatusTimestamp => loops::status_timestamp(logs).await,
        Fault::NoPredicate => loops::no_predicate(logs).await,
        Fault::GenerationOnlyPredicate => loops::generation_only_predicate(logs).await,
        Fault::PredicateBlocksAll => loops::predicate_blocks_all(logs).await,
        Fault::NarrowSelector => loops::narrow_selector(logs).await,
        Fault::CleanupFails => loops::cleanup_fails(logs).await,
        Fault::ControllerDown => loops::controller_down(logs).await,
        Fault::BlockingReconcile => loops::blocking_reconcile(logs).await,
        Fault::KeepManagedFields => memory::keep_managed_fields(logs).await,
        Fault::UnpagedInitialList => memory::unpaged_initial_list(logs).await,
        Fault::BroadWatchScope => memory::broad_watch_scope(logs).await,
        Fault::DirectReads => memory::direct_reads(logs).await,
        Fault::StoreNotReady => memory::store_not_ready(logs).await,
        Fault::UnboundedConcurrency => memory::unbounded_concurrency(logs).await,
        Fault::NoBookmarks => watches::no_bookmarks(logs).await,
        Fault::ForbiddenWatch => watches::forbidden_watch(logs).await,
        Fault::NoBackoff => watches::no_backoff(logs).await,
        Fault::SkipPreflight => watches::skip_preflight(logs).await,
        Fault::SilentWatchErrors => watches::silent_watch_errors(logs).await,
        Fault::CrashOnError => watches::crash_on_error(logs).await,
        Fault::WatchPerObject => memory::watch_per_object(logs).await,
        Fault::RivalWriter => loops::rival_writer(logs).await,
        Fault::StaticCredentials => credentials::static_credentials(logs).await,
        Fault::ApiUnreachable => network::api_unreachable(logs).await,
        Fault::ForbiddenPatch => watches::forbidden_patch(logs).await,
        Fault::NoLeaderElection => replicas::no_leader_election(logs).await,
    }
}

fn usage() {
    eprintln!(
        "usage: cargo run --example demo -- <toggle>|all|--list\n\
         A narrated demo of one failure toggle on the embedded sandbox (about a minute each)."
    );
}

fn list() {
    for fault in Fault::ALL {
        let row = row(*fault);
        println!(
            "{:<26} {:<7} {}",
            fault.name(),
            if fault.is_live() { "live" } else { "restart" },
            row.symptom
        );
    }
}

// --- narration --------------------------------------------------------------------------------

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A toggle's row of docs/faults.md, read with the parser the catalogue test uses (empty when
/// the table has no row for it; the catalogue test fails then).
fn row(fault: Fault) -> DocRow {
    faults_doc::read()
        .into_iter()
        .find(|row| row.toggle == fault.name())
        .unwrap_or_default()
}

/// The comment of the first `// FAULT(<toggle>)` marker under src/: its text and `file:line`.
fn fault_comment(fault: Fault) -> Option<(String, String)> {
    let marker = format!("FAULT({})", fault.name());
    let mut files = Vec::new();
    collect_rs(&root().join("src"), &mut files);
    files.sort();
    for file in files {
        let Ok(text) = std::fs::read_to_string(&file) else {
            continue;
        };
        let lines: Vec<&str> = text.lines().collect();
        if let Some(at) = lines.iter().position(|l| l.contains(&marker)) {
            let mut comment = Vec::new();
            for line in &lines[at..] {
                let Some(c) = line.trim_start().strip_prefix("//") else {
                    break;
                };
                comment.push(c.trim().to_string());
            }
            let text = comment.join(" ");
            let text = text
                .split_once(&format!("{marker}:"))
                .map_or(text.as_str(), |(_, rest)| rest)
                .trim()
                .to_string();
            let rel = file.strip_prefix(root()).unwrap_or(&file).display();
            return Some((text, format!("{rel}:{}", at + 1)));
        }
    }
    None
}

fn collect_rs(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect_rs(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Prints `text` wrapped at 100 columns, the first line after `label`.
fn para(label: &str, text: &str) {
    const WIDTH: usize = 100;
    let indent = 12;
    let mut line = if label.chars().count() < indent {
        format!("{label:<indent$}")
    } else {
        format!("{label} ")
    };
    let mut empty = true;
    for word in text.split_whitespace() {
        if !empty && line.chars().count() + 1 + word.chars().count() > WIDTH {
            println!("{line}");
            line = " ".repeat(indent);
            empty = true;
        }
        if !empty {
            line.push(' ');
        }
        line.push_str(word);
        empty = false;
    }
    println!("{line}");
}

/// The title and the explanation: the symptom, the wrong way (the FAULT comment), what you see
/// (docs/faults.md), and what this demo does.
pub fn intro(fault: Fault, this_demo: &str) {
    let row = row(fault);
    println!();
    println!(
        "━━━ {} ━━━ {}{}",
        fault.name(),
        row.symptom,
        if row.number.is_empty() {
            String::new()
        } else {
            format!("   (docs/faults.md row {})", row.number)
        }
    );
    if let Some((comment, _)) = fault_comment(fault) {
        para("wrong way", &comment);
    }
    para("you see", &row.what_you_see);
    para("this demo", this_demo);
    println!();
}

/// Announces a phase.
pub fn phase(title: &str, note: &str) {
    println!();
    println!("▶ {title}");
    para("", note);
}

/// A remark between lines of numbers.
pub fn note(text: &str) {
    para("  →", text);
}

/// The fix and where it lives.
pub fn outro(fault: Fault) {
    let row = row(fault);
    println!();
    para("fix", &row.fix);
    if let Some((_, at)) = fault_comment(fault) {
        para(
            "where",
            &format!("{at}   (grep -rn 'FAULT({})' src/)", fault.name()),
        );
    }
}
