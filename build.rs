//! Tells the test targets whether they run against a real cluster.
//!
//! `DOC_CONTROLLER_E2E_KUBECONFIG` names a kubeconfig the end-to-end suites run against instead of
//! the embedded sandbox. Tests that can only check something on one of the two are marked with
//! `#[cfg_attr(real_cluster, ignore = "why")]` (or `not(real_cluster)`), so `cargo test` lists
//! them as ignored, with the reason, instead of reporting `ok` for a test that checked nothing.
//! A build script is the one place where an environment variable can choose that: libtest's
//! `#[ignore]` is decided at compile time.

fn main() {
    println!("cargo::rustc-check-cfg=cfg(real_cluster)");
    println!("cargo::rerun-if-env-changed=DOC_CONTROLLER_E2E_KUBECONFIG");
    if std::env::var_os("DOC_CONTROLLER_E2E_KUBECONFIG").is_some_and(|path| !path.is_empty()) {
        println!("cargo::rustc-cfg=real_cluster");
    }
}
