//! The Rust API of identities, faults and metrics: ServiceAccount tokens and client
//! configurations for them, the fault controls and the sandbox's own metrics, plus the
//! builder options that set faults at start.

use std::path::PathBuf;
use std::time::Duration;

use super::{Error, Sandbox, SandboxBuilder, kubeconfig};
use crate::filters::audit::AuditEntry;
use crate::filters::faults::{Fault, FaultFileError, Faults, read_fault_file};

impl SandboxBuilder {
    /// Sets a fault from the start (see [`Fault`]).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # use k8s_openapi::api::core::v1::{ConfigMap, ServiceAccount};
    /// # use kube_apiserver_sandbox::{Fault, Sandbox};
    /// let sandbox = Sandbox::builder().fault(Fault::error(500)).start().await?;
    /// let cms: kube::Api<ConfigMap> = kube::Api::default_namespaced(sandbox.client()?);
    /// assert!(matches!(cms.get_opt("x").await, Err(kube::Error::Api(s)) if s.code == 500));
    /// # Ok(()) }
    /// ```
    pub fn fault(mut self, fault: Fault) -> Self {
        self.faults.push(fault);
        self
    }

    /// Sets several faults from the start.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # use k8s_openapi::api::core::v1::{ConfigMap, ServiceAccount};
    /// # use kube_apiserver_sandbox::{Fault, Sandbox};
    /// let faults = [Fault::error(503).for_verbs(["patch"]), Fault::hang().for_verbs(["delete"])];
    /// let sandbox = Sandbox::builder().faults(faults).start().await?;
    /// assert_eq!(sandbox.faults().list().len(), 2);
    /// # Ok(()) }
    /// ```
    pub fn faults(mut self, faults: impl IntoIterator<Item = Fault>) -> Self {
        self.faults.extend(faults);
        self
    }

    /// The server's total concurrency limit that API Priority and Fairness shares among
    /// the `Limited` priority levels (kube-apiserver's `--max-requests-inflight` plus
    /// `--max-mutating-requests-inflight`; default 600, i.e. 400 + 200).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # use k8s_openapi::api::core::v1::{ConfigMap, ServiceAccount};
    /// # use kube_apiserver_sandbox::{Fault, Sandbox};
    /// let sandbox = Sandbox::builder().server_concurrency_limit(60).start().await?;
    /// // The `workload-low` level's share of 60 seats, as `apiserver_flowcontrol_nominal_limit_seats`.
    /// let metrics = kube_apiserver_sandbox::testkit::Metrics::parse(&sandbox.metrics_text());
    /// let seats = [("priority_level", "workload-low")];
    /// assert_eq!(metrics.value("apiserver_flowcontrol_nominal_limit_seats", &seats), Some(25.0));
    /// # Ok(()) }
    /// ```
    pub fn server_concurrency_limit(mut self, seats: u32) -> Self {
        self.server_concurrency_limit = seats;
        self
    }

    /// Sets the faults of a YAML or JSON file (a list, `{faults: [...]}` or one fault).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # use k8s_openapi::api::core::v1::{ConfigMap, ServiceAccount};
    /// # use kube_apiserver_sandbox::{Fault, Sandbox};
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("faults.yaml");
    /// std::fs::write(&path, "- {type: error, code: 500, verbs: [create]}\n")?;
    /// let sandbox = Sandbox::builder().fault_file(&path)?.start().await?;
    /// assert_eq!(sandbox.faults().list()[0].1, Fault::error(500).for_verbs(["create"]));
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// [`FaultFileError`] when the file cannot be read or holds no faults.
    pub fn fault_file(self, path: impl AsRef<std::path::Path>) -> Result<Self, FaultFileError> {
        let faults = read_fault_file(path.as_ref())?;
        Ok(self.faults(faults))
    }
}

impl Sandbox {
    /// Issues a token for the existing ServiceAccount `namespace/name`, valid for `ttl`;
    /// it authenticates as `system:serviceaccount:{namespace}:{name}` and is answered 401
    /// once expired. Unlike the TokenRequest API (at least 10 minutes), any `ttl` is
    /// accepted, so tests can watch a token expire.
    ///
    /// ```
    /// use std::time::Duration;
    /// use k8s_openapi::api::core::v1::{ConfigMap, ServiceAccount};
    /// use kube::Api;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let sandbox = kube_apiserver_sandbox::Sandbox::start().await?;
    /// let sa = serde_json::from_value(serde_json::json!({"metadata": {"name": "ctl"}}))?;
    /// Api::<ServiceAccount>::namespaced(sandbox.client()?, "default")
    ///     .create(&Default::default(), &sa)
    ///     .await?;
    /// let token = sandbox.service_account_token("default", "ctl", Duration::from_secs(60))?;
    /// let client = kube::Client::try_from(sandbox.kube_config_for_token(&token))?;
    /// // Authenticated, but RBAC grants the ServiceAccount nothing yet: 403.
    /// let cms: Api<ConfigMap> = Api::namespaced(client, "default");
    /// let denied = cms.list(&Default::default()).await.unwrap_err();
    /// assert!(matches!(denied, kube::Error::Api(s) if s.code == 403));
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::Token`] when the ServiceAccount does not exist.
    pub fn service_account_token(
        &self,
        namespace: &str,
        name: &str,
        ttl: Duration,
    ) -> Result<String, Error> {
        let gate = &self.server.gate;
        let (token, _) = gate.tokens.issue(gate.store(), namespace, name, ttl)?;
        Ok(token)
    }

    /// A `kube::Config` for this sandbox that authenticates with `token`.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # use k8s_openapi::api::core::v1::{ConfigMap, ServiceAccount};
    /// # use kube_apiserver_sandbox::{Fault, Sandbox};
    /// let sandbox = Sandbox::start().await?;
    /// let stranger = kube::Client::try_from(sandbox.kube_config_for_token("not-a-token"))?;
    /// let cms: kube::Api<ConfigMap> = kube::Api::default_namespaced(stranger);
    /// assert!(matches!(cms.get_opt("x").await, Err(kube::Error::Api(s)) if s.code == 401));
    /// # Ok(()) }
    /// ```
    pub fn kube_config_for_token(&self, token: &str) -> kube::Config {
        let mut config = self.kube_config();
        config.auth_info = kubeconfig::token_auth(token);
        config
    }

    /// A `kube::Config` of the admin that impersonates `user` (`Impersonate-User`), e.g.
    /// `system:serviceaccount:default:doc-controller` to run a controller with exactly that
    /// ServiceAccount's RBAC; a ServiceAccount user gets its ServiceAccount groups.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # use k8s_openapi::api::core::v1::{ConfigMap, ServiceAccount};
    /// # use kube_apiserver_sandbox::{Fault, Sandbox};
    /// let sandbox = Sandbox::start().await?;
    /// let as_sa = sandbox.kube_config_impersonating("system:serviceaccount:default:ctl");
    /// let cms: kube::Api<ConfigMap> = kube::Api::default_namespaced(kube::Client::try_from(as_sa)?);
    /// let denied = cms.list(&Default::default()).await.unwrap_err();
    /// let kube::Error::Api(status) = denied else { panic!("{denied}") };
    /// assert_eq!(status.code, 403);
    /// assert!(status.message.contains("\"system:serviceaccount:default:ctl\" cannot list"));
    /// # Ok(()) }
    /// ```
    pub fn kube_config_impersonating(&self, user: &str) -> kube::Config {
        let mut config = self.kube_config();
        config.auth_info.impersonate = Some(user.to_owned());
        config
    }

    /// Writes a kubeconfig (in the sandbox's temporary directory) that authenticates as the
    /// ServiceAccount with a fresh token valid for `ttl`, for `kubectl --kubeconfig`.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # use k8s_openapi::api::core::v1::{ConfigMap, ServiceAccount};
    /// # use kube_apiserver_sandbox::{Fault, Sandbox};
    /// let sandbox = Sandbox::start().await?;
    /// let sa = serde_json::from_value(serde_json::json!({"metadata": {"name": "ctl"}}))?;
    /// kube::Api::<ServiceAccount>::default_namespaced(sandbox.client()?)
    ///     .create(&Default::default(), &sa)
    ///     .await?;
    /// let ttl = std::time::Duration::from_secs(600);
    /// let path = sandbox.kubeconfig_for_service_account("default", "ctl", ttl)?;
    /// let kubeconfig = kube::config::Kubeconfig::read_from(&path)?;
    /// let user = &kubeconfig.auth_infos[0].name;
    /// assert_eq!(user, "system:serviceaccount:default:ctl");
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::Token`] when the ServiceAccount does not exist, [`Error::Kubeconfig`] when
    /// the file cannot be written.
    pub fn kubeconfig_for_service_account(
        &self,
        namespace: &str,
        name: &str,
        ttl: Duration,
    ) -> Result<PathBuf, Error> {
        let token = self.service_account_token(namespace, name, ttl)?;
        let dir = self
            .kubeconfig_path
            .parent()
            .map(std::path::Path::to_path_buf)
            .unwrap_or_default();
        let path = dir.join(format!("kubeconfig-{namespace}-{name}"));
        let user = format!("system:serviceaccount:{namespace}:{name}");
        let config = kubeconfig::kubeconfig(&self.url, &self.ca_pem, &user, &token);
        kubeconfig::write(&path, &config)?;
        Ok(path)
    }

    /// Expires every ServiceAccount token issued so far (requests with them get 401).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # use k8s_openapi::api::core::v1::{ConfigMap, ServiceAccount};
    /// # use kube_apiserver_sandbox::{Fault, Sandbox};
    /// let sandbox = Sandbox::start().await?;
    /// let sa = serde_json::from_value(serde_json::json!({"metadata": {"name": "ctl"}}))?;
    /// kube::Api::<ServiceAccount>::default_namespaced(sandbox.client()?)
    ///     .create(&Default::default(), &sa)
    ///     .await?;
    /// let token = sandbox.service_account_token("default", "ctl", std::time::Duration::from_secs(600))?;
    /// assert_eq!(sandbox.expire_service_account_tokens(), 1);
    /// let client = kube::Client::try_from(sandbox.kube_config_for_token(&token))?;
    /// let cms: kube::Api<ConfigMap> = kube::Api::default_namespaced(client);
    /// assert!(matches!(cms.get_opt("x").await, Err(kube::Error::Api(s)) if s.code == 401));
    /// # Ok(()) }
    /// ```
    pub fn expire_service_account_tokens(&self) -> usize {
        self.server.gate.tokens.expire_all()
    }

    /// Revokes one ServiceAccount token (requests with it get 401), e.g. the one a client read
    /// from a token file before it was rotated; tokens issued by the TokenRequest API live at
    /// least 10 minutes, so tests revoke rather than wait. Returns whether the token was known.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # use k8s_openapi::api::core::v1::{ConfigMap, ServiceAccount};
    /// # use kube_apiserver_sandbox::{Fault, Sandbox};
    /// let sandbox = Sandbox::start().await?;
    /// let sa = serde_json::from_value(serde_json::json!({"metadata": {"name": "ctl"}}))?;
    /// kube::Api::<ServiceAccount>::default_namespaced(sandbox.client()?)
    ///     .create(&Default::default(), &sa)
    ///     .await?;
    /// let token = sandbox.service_account_token("default", "ctl", std::time::Duration::from_secs(600))?;
    /// assert!(sandbox.revoke_service_account_token(&token));
    /// let client = kube::Client::try_from(sandbox.kube_config_for_token(&token))?;
    /// let cms: kube::Api<ConfigMap> = kube::Api::default_namespaced(client);
    /// assert!(matches!(cms.get_opt("x").await, Err(kube::Error::Api(s)) if s.code == 401));
    /// assert!(!sandbox.revoke_service_account_token("never-issued"));
    /// # Ok(()) }
    /// ```
    ///
    /// A sandbox-only hook: what a real cluster does instead is a token bound to an object
    /// (TokenRequest `spec.boundObjectRef` naming a Secret), which stops authenticating once
    /// the Secret is deleted; the sandbox honours that too, so tests can use it on both.
    pub fn revoke_service_account_token(&self, token: &str) -> bool {
        self.server.gate.tokens.revoke(token)
    }

    /// The fault controls, to set and remove faults while the sandbox runs.
    ///
    /// ```
    /// use k8s_openapi::api::core::v1::ConfigMap;
    /// use kube_apiserver_sandbox::{Fault, Sandbox};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let sandbox = Sandbox::start().await?;
    /// let mut config = sandbox.kube_config();
    /// config.default_retry = false; // kube-rs would retry the 503 otherwise
    /// let cms: kube::Api<ConfigMap> = kube::Api::namespaced(kube::Client::try_from(config)?, "default");
    /// let id = sandbox.faults().set(Fault::error(503).for_resources(["configmaps"]));
    /// let failed = cms.list(&Default::default()).await.unwrap_err();
    /// assert!(matches!(failed, kube::Error::Api(s) if s.code == 503));
    /// sandbox.faults().remove(id);
    /// assert!(cms.list(&Default::default()).await.is_ok());
    /// # Ok(()) }
    /// ```
    pub fn faults(&self) -> &Faults {
        &self.server.gate.faults
    }

    /// The sandbox's own Prometheus metrics and the API Priority and Fairness ones in text
    /// exposition format (also served at `GET /metrics` to `system:masters`).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let sandbox = kube_apiserver_sandbox::Sandbox::start().await?;
    /// sandbox.client()?.apiserver_version().await?;
    /// assert!(sandbox.metrics_text().contains("sandbox_apiserver_requests_total{"));
    /// # Ok(()) }
    /// ```
    pub fn metrics_text(&self) -> String {
        self.server.gate.metrics_text()
    }

    /// Every write answered so far, oldest first, with its user and `User-Agent`: a
    /// Metadata-level audit log of the mutating verbs, refused ones included (see
    /// [`AuditEntry`], which has an example).
    pub fn audit(&self) -> Vec<AuditEntry> {
        self.server.gate.audit.entries()
    }
}
