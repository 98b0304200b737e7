//! How the controller's client authenticates: with the credentials of the `kube::Config` exactly
//! as given, so that kube keeps re-reading a token *file* for as long as the process runs.
//!
//! # Why the token file must stay a file
//! In a Pod the ServiceAccount token is a projected volume that the kubelet rotates (tokens are
//! short-lived, and refreshed well before they expire); a kubeconfig may name a `tokenFile` too.
//! `kube::Config::infer()` keeps the *path* (`auth_info.token_file`), and kube-client 5 builds a
//! refreshing token source from it (`TokenFile` in kube-client's `client/auth/mod.rs`):
//!
//! - the file is read when the client is built, and the token cached for at most 60 s
//!   (`SIXTY_SEC`); once 50 s have passed since the last read (60 s minus a 10 s margin,
//!   `TEN_SEC`), the next request reads the file again, so a rotated token is in use at most a
//!   minute after it was written;
//! - the re-read is lazy (it happens on a request) and time-based only: nothing re-reads on a
//!   401, which reaches the caller as an error (kube's retry policy retries 429, 503 and 504);
//! - a failed re-read keeps the last token, for setups that remove the file after start.
//!
//! Exec plugins (`users[].user.exec`) are kube's to run again as well, a minute before the expiry
//! they report. A copy of the token taken at start gets none of this: it works until the token it
//! copied expires or is revoked, then every request is `401 Unauthorized`, and watches that
//! reconnect fail too. The failure toggle `static-credentials` makes that copy
//! ([`read_token_once`]; its branch point is where the client is built, in `app.rs`).
//!
//! This module holds only that wrong way: the right way is to hand kube the credentials as they
//! are.

use std::path::PathBuf;

/// Why the client's credentials could not be prepared.
#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    /// The token file named by the client configuration could not be read at start.
    #[error("cannot read the token file {path} (fault toggle static-credentials): {source}")]
    ReadTokenFile {
        /// The `tokenFile` of the kubeconfig, or the in-cluster ServiceAccount token path.
        path: PathBuf,
        /// The read error.
        source: std::io::Error,
    },
}

/// The wrong way of `static-credentials`: the token file's content becomes a fixed bearer token
/// and the path is dropped. The file is small and read synchronously, once, as kube itself reads
/// it when the client is built.
pub fn read_token_once(mut config: kube::Config) -> Result<kube::Config, CredentialsError> {
    // An inline token already takes precedence over the file in kube; nothing to copy then.
    let path = match (&config.auth_info.token, config.auth_info.token_file.take()) {
        (None, Some(path)) => PathBuf::from(path),
        (_, path) => {
            config.auth_info.token_file = path;
            tracing::warn!(
                "static-credentials: the client configuration names no token file; nothing to \
                 freeze, credentials used as they are"
            );
            return Ok(config);
        }
    };
    let token = std::fs::read_to_string(&path)
        .map_err(|source| CredentialsError::ReadTokenFile { path, source })?;
    config.auth_info.token = Some(token.trim().to_owned().into());
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_token_file(path: &std::path::Path) -> kube::Config {
        let mut config = kube::Config::new("https://127.0.0.1:6443".parse().expect("url"));
        config.auth_info.token_file = Some(path.display().to_string());
        config
    }

    /// The bearer token kube would send (the serialized AuthInfo exposes it).
    fn bearer(config: &kube::Config) -> Option<String> {
        let auth = serde_json::to_value(&config.auth_info).expect("AuthInfo serializes");
        auth["token"].as_str().map(str::to_owned)
    }

    #[test]
    fn the_token_is_copied_once_and_the_file_forgotten() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("token");
        std::fs::write(&path, "first\n").expect("token written");
        let config = read_token_once(with_token_file(&path)).expect("config");
        std::fs::write(&path, "rotated").expect("token rotated");
        assert_eq!(config.auth_info.token_file, None);
        assert_eq!(bearer(&config).as_deref(), Some("first"));
    }

    #[test]
    fn an_unreadable_token_file_is_an_error_naming_it() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("missing");
        let err = read_token_once(with_token_file(&path)).expect_err("no file");
        assert!(matches!(err, CredentialsError::ReadTokenFile { .. }));
        assert!(
            err.to_string().contains(&path.display().to_string()),
            "{err}"
        );
    }

    #[test]
    fn a_config_without_token_file_is_used_as_it_is() {
        let mut config = kube::Config::new("https://127.0.0.1:6443".parse().expect("url"));
        config.auth_info.token = Some("inline".to_owned().into());
        config.auth_info.token_file = Some("/ignored/by/kube".to_owned());
        let config = read_token_once(config).expect("config");
        assert_eq!(bearer(&config).as_deref(), Some("inline"));
        assert_eq!(
            config.auth_info.token_file.as_deref(),
            Some("/ignored/by/kube")
        );
    }
}
