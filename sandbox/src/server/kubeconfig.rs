//! Client configuration for the sandbox: a kubeconfig file for kubectl and a
//! `kube::Config` for kube-rs, both trusting the sandbox CA and sending the admin token.
//!
//! The file follows the `clientcmd/v1` Config format
//! (<https://kubernetes.io/docs/concepts/configuration/organize-cluster-access-kubeconfig/>).

use base64::Engine;
use serde_json::json;

/// Errors while producing client configuration.
#[derive(Debug, thiserror::Error)]
pub enum KubeconfigError {
    /// Writing the file failed.
    #[error("writing kubeconfig {path}: {source}")]
    Write {
        /// Where.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// Serializing failed.
    #[error("serializing kubeconfig: {0}")]
    Yaml(#[from] serde_yaml::Error),
    /// The URL was not a valid URI.
    #[error("invalid server url: {0}")]
    Url(#[from] http::uri::InvalidUri),
    /// The auth info could not be built.
    #[error("building auth info: {0}")]
    Auth(#[from] serde_json::Error),
}

/// Name used for the cluster, user and context entries.
pub(crate) const CONTEXT: &str = "sandbox";

/// The kubeconfig YAML for `server` with the given CA and token.
pub(crate) fn render(server: &str, ca_pem: &str, token: &str) -> Result<String, KubeconfigError> {
    let ca = base64::engine::general_purpose::STANDARD.encode(ca_pem);
    let doc = json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": CONTEXT, "cluster": {"server": server, "certificate-authority-data": ca}}],
        "users": [{"name": "admin", "user": {"token": token}}],
        "contexts": [{"name": CONTEXT, "context": {"cluster": CONTEXT, "user": "admin", "namespace": "default"}}],
        "current-context": CONTEXT,
        "preferences": {},
    });
    Ok(serde_yaml::to_string(&doc)?)
}

/// Writes the kubeconfig to `path`.
pub(crate) fn write(
    path: &std::path::Path,
    server: &str,
    ca_pem: &str,
    token: &str,
) -> Result<(), KubeconfigError> {
    let text = render(server, ca_pem, token)?;
    std::fs::write(path, text).map_err(|source| KubeconfigError::Write {
        path: path.display().to_string(),
        source,
    })
}

/// A `kube::Config` equivalent to the kubeconfig file.
pub(crate) fn kube_config(
    server: &str,
    ca_der: &[u8],
    token: &str,
) -> Result<kube::Config, KubeconfigError> {
    let mut config = kube::Config::new(server.parse()?);
    config.root_cert = Some(vec![ca_der.to_vec()]);
    config.default_namespace = "default".to_owned();
    // AuthInfo's token is a secrecy::SecretString; deserializing avoids depending on secrecy.
    config.auth_info = serde_json::from_value(json!({ "token": token }))?;
    Ok(config)
}
