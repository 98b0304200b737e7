//! Client configuration for the sandbox: a kubeconfig for kubectl, as kube-rs's typed
//! [`Kubeconfig`] serialised to YAML, and a `kube::Config` for kube-rs, both trusting the
//! sandbox CA and sending a bearer token.
//!
//! The file follows the `clientcmd/v1` Config format
//! (<https://kubernetes.io/docs/concepts/configuration/organize-cluster-access-kubeconfig/>).

use base64::Engine;
use kube::config::{
    AuthInfo, Cluster, Context, Kubeconfig, NamedAuthInfo, NamedCluster, NamedContext, Preferences,
};
use secrecy::SecretString;

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
    Yaml(#[from] serde_saphyr::SerializeError),
    /// The URL was not a valid URI.
    #[error("invalid server url: {0}")]
    Url(#[from] http::uri::InvalidUri),
}

/// Name used for the cluster and context entries.
pub(crate) const CONTEXT: &str = "sandbox";

/// The user entry of the admin token.
pub(crate) const ADMIN: &str = "admin";

/// A kubeconfig for `server` with the given CA (PEM) that authenticates as `user` with
/// `token`, in the namespace `default`.
pub(crate) fn kubeconfig(server: &str, ca_pem: &str, user: &str, token: &str) -> Kubeconfig {
    let ca = base64::engine::general_purpose::STANDARD.encode(ca_pem);
    Kubeconfig {
        api_version: Some("v1".to_owned()),
        kind: Some("Config".to_owned()),
        clusters: vec![NamedCluster {
            name: CONTEXT.to_owned(),
            cluster: Some(Cluster {
                server: Some(server.to_owned()),
                certificate_authority_data: Some(ca),
                ..Cluster::default()
            }),
            ..NamedCluster::default()
        }],
        auth_infos: vec![NamedAuthInfo {
            name: user.to_owned(),
            auth_info: Some(token_auth(token)),
            ..NamedAuthInfo::default()
        }],
        contexts: vec![NamedContext {
            name: CONTEXT.to_owned(),
            context: Some(Context {
                cluster: CONTEXT.to_owned(),
                user: Some(user.to_owned()),
                namespace: Some("default".to_owned()),
                ..Context::default()
            }),
            ..NamedContext::default()
        }],
        current_context: Some(CONTEXT.to_owned()),
        preferences: Some(Preferences::default()),
        ..Kubeconfig::default()
    }
}

/// The auth info of a bearer token.
pub(crate) fn token_auth(token: &str) -> AuthInfo {
    AuthInfo {
        token: Some(SecretString::from(token.to_owned())),
        ..AuthInfo::default()
    }
}

/// Writes `kubeconfig` to `path` as YAML.
pub(crate) fn write(
    path: &std::path::Path,
    kubeconfig: &Kubeconfig,
) -> Result<(), KubeconfigError> {
    let text = serde_saphyr::to_string(kubeconfig)?;
    std::fs::write(path, text).map_err(|source| KubeconfigError::Write {
        path: path.display().to_string(),
        source,
    })
}

/// A `kube::Config` equivalent to the kubeconfig, for kube-rs.
pub(crate) fn kube_config(
    server: &str,
    ca_der: &[u8],
    token: &str,
) -> Result<kube::Config, KubeconfigError> {
    let mut config = kube::Config::new(server.parse()?);
    config.root_cert = Some(vec![ca_der.to_vec()]);
    config.default_namespace = "default".to_owned();
    config.auth_info = token_auth(token);
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kubeconfig_yaml_reads_back_as_the_same_cluster_user_and_context() {
        let written = kubeconfig("https://127.0.0.1:6443", "PEM", ADMIN, "secret");
        let text = serde_saphyr::to_string(&written).unwrap_or_default();
        let read = Kubeconfig::from_yaml(&text).ok();
        let read = read.as_ref();
        assert_eq!(
            read.and_then(|k| k.current_context.as_deref()),
            Some(CONTEXT)
        );
        let cluster = read
            .and_then(|k| k.clusters.first())
            .and_then(|c| c.cluster.as_ref());
        assert_eq!(
            cluster.and_then(|c| c.server.as_deref()),
            Some("https://127.0.0.1:6443")
        );
        assert_eq!(
            cluster.and_then(|c| c.certificate_authority_data.as_deref()),
            Some("UEVN")
        );
        let user = read.and_then(|k| k.auth_infos.first());
        assert_eq!(user.map(|u| u.name.as_str()), Some(ADMIN));
        assert!(text.contains("token: secret"), "{text}");
        let context = read
            .and_then(|k| k.contexts.first())
            .and_then(|c| c.context.as_ref());
        assert_eq!(
            context.and_then(|c| c.namespace.as_deref()),
            Some("default")
        );
    }
}
