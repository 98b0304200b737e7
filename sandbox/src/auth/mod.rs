//! Authentication and authorization, modelled on kube-apiserver's filter chain
//! (<https://kubernetes.io/docs/reference/access-authn-authz/>): bearer tokens identify a
//! user ([`tokens`]), `Impersonate-*` headers may switch to another one ([`impersonation`]),
//! request attributes are derived like the apiserver's `RequestInfo` ([`attributes`]) and
//! RBAC decides ([`rbac`]), answering denials in the real wording ([`forbidden`]).

pub mod attributes;
pub mod forbidden;
pub mod impersonation;
pub mod rbac;
pub mod tokens;

/// The group whose members may do anything, like kube-apiserver's privileged-group
/// authorizer placed before RBAC.
pub const SYSTEM_MASTERS: &str = "system:masters";
/// Every authenticated user is in this group.
pub const AUTHENTICATED: &str = "system:authenticated";
/// Every ServiceAccount is in this group (`serviceaccount.AllServiceAccountsGroup`).
pub const ALL_SERVICE_ACCOUNTS: &str = "system:serviceaccounts";
/// Prefix of ServiceAccount user names.
pub const SERVICE_ACCOUNT_PREFIX: &str = "system:serviceaccount:";
/// Name of the user behind the sandbox's static admin token.
pub const ADMIN_USER: &str = "admin";

/// Who a request runs as, like `user.Info` of the apiserver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserInfo {
    /// User name, e.g. `admin` or `system:serviceaccount:default:doc-controller`.
    pub name: String,
    /// Groups, always including `system:authenticated`.
    pub groups: Vec<String>,
}

impl UserInfo {
    /// The user of the static admin token.
    pub fn admin() -> Self {
        Self {
            name: ADMIN_USER.to_owned(),
            groups: vec![SYSTEM_MASTERS.to_owned(), AUTHENTICATED.to_owned()],
        }
    }

    /// The user of a ServiceAccount, with the groups the token authenticator adds
    /// (`serviceaccount.MakeGroupNames` plus `system:authenticated`).
    pub fn service_account(namespace: &str, name: &str) -> Self {
        Self {
            name: service_account_user(namespace, name),
            groups: vec![
                ALL_SERVICE_ACCOUNTS.to_owned(),
                format!("system:serviceaccounts:{namespace}"),
                AUTHENTICATED.to_owned(),
            ],
        }
    }

    /// Whether the user is in `system:masters` and so bypasses RBAC and throttling.
    pub fn is_superuser(&self) -> bool {
        self.groups.iter().any(|g| g == SYSTEM_MASTERS)
    }
}

/// `system:serviceaccount:{namespace}:{name}`.
pub fn service_account_user(namespace: &str, name: &str) -> String {
    format!("{SERVICE_ACCOUNT_PREFIX}{namespace}:{name}")
}

/// Splits a ServiceAccount user name into (namespace, name), like
/// `serviceaccount.SplitUsername`.
pub fn split_service_account(user: &str) -> Option<(&str, &str)> {
    let rest = user.strip_prefix(SERVICE_ACCOUNT_PREFIX)?;
    let (ns, name) = rest.split_once(':')?;
    (!ns.is_empty() && !name.is_empty() && !name.contains(':')).then_some((ns, name))
}
