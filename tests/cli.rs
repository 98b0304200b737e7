//! The binary's contract for bad input: one line on stderr and exit code 2, nothing started.

use std::process::Command;

fn run(args: &[&str], env: &[(&str, &str)]) -> (Option<i32>, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_doc-controller"));
    cmd.args(args).env_remove("DOC_CONTROLLER_CONFIG");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("binary runs");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).trim_end().to_string(),
    )
}

#[test]
fn a_bad_flag_is_one_line_and_exit_2() {
    for args in [
        &["--concurrency", "0"][..],
        &["--no-such-flag"],
        &["--resync-period", "soon"],
        // region: fault-catalogue
        &["--fault", "no-such-fault"],
        // endregion: fault-catalogue
    ] {
        let (code, stderr) = run(args, &[]);
        assert_eq!(code, Some(2), "{args:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
        assert!(stderr.starts_with("doc-controller: "), "{stderr}");
    }
}

#[test]
fn a_bad_environment_value_is_one_line_and_exit_2() {
    let (code, stderr) = run(&[], &[("DOC_CONTROLLER_CONCURRENCY", "lots")]);
    assert_eq!(code, Some(2), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}

#[test]
fn a_bad_config_file_is_one_line_naming_the_file_and_exit_2() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("config.yaml");
    std::fs::write(&path, "concurrency: 4\nconcurency: 5\n").expect("write config");
    let path = path.to_str().expect("utf-8 path");
    let (code, stderr) = run(&["--config", path], &[]);
    assert_eq!(code, Some(2), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains(path) && stderr.contains("concurency"),
        "{stderr}"
    );

    let (code, stderr) = run(&["--config", "/nonexistent/config.toml"], &[]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("/nonexistent/config.toml"), "{stderr}");
}

// region: fault-catalogue
#[test]
fn an_unknown_toggle_is_one_line_that_lists_the_valid_ones() {
    for (args, env) in [
        (&["--fault", "nonsense"][..], &[][..]),
        (
            &[],
            &[("DOC_CONTROLLER_FAULTS", "no-predicate,nonsense")][..],
        ),
    ] {
        let (code, stderr) = run(args, env);
        assert_eq!(code, Some(2), "{stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.contains("\"nonsense\""), "{stderr}");
        for fault in doc_controller::fault::Fault::ALL {
            assert!(
                stderr.contains(fault.name()),
                "{fault} not listed: {stderr}"
            );
        }
    }
}
// endregion: fault-catalogue

/// stdout of a run that succeeds.
fn stdout(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_doc-controller"))
        .args(args)
        .output()
        .expect("binary runs");
    assert_eq!(out.status.code(), Some(0), "{args:?}");
    String::from_utf8_lossy(&out.stdout).to_string()
}

#[test]
fn help_says_what_the_program_does() {
    let help = stdout(&["--help"]);
    assert!(
        help.starts_with("Publishes Document resources"),
        "--help starts with what the program does: {help}"
    );
    // region: fault-catalogue
    for fault in doc_controller::fault::Fault::ALL {
        assert!(help.contains(fault.name()), "{fault} missing from --help");
    }
    // endregion: fault-catalogue
    assert!(stdout(&["--version"]).starts_with("doc-controller "));
    assert!(
        help.lines().any(|l| l.trim_start().starts_with("doctor ")),
        "--help lists the doctor subcommand: {help}"
    );
}

#[test]
fn doctor_has_its_own_help_and_ignores_the_run_flags_environment() {
    let help = stdout(&["doctor", "--help"]);
    assert!(help.contains("Usage: doc-controller doctor"), "{help}");
    for flag in [
        "--url",
        "--namespace",
        "--service-account",
        "--stuck-after",
        "--api-timeout",
        "--output",
    ] {
        assert!(
            help.contains(flag),
            "{flag} missing from doctor --help: {help}"
        );
    }
    // A bad run setting in the environment (a Pod's) is not doctor's to reject.
    let (code, stderr) = run(
        &[
            "doctor",
            "--url",
            "http://127.0.0.1:1",
            "--api-timeout",
            "2s",
        ],
        &[("DOC_CONTROLLER_CONCURRENCY", "lots")],
    );
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("no answer from http://127.0.0.1:1/diagnostics"),
        "{stderr}"
    );
}
