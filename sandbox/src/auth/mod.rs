//! Who a request is and what it may do
//! (<https://kubernetes.io/docs/reference/access-authn-authz/>): users ([`UserInfo`]), bearer
//! tokens and the TokenRequest API that issues them ([`tokens`], [`token_request`]), the
//! attributes the authorizer decides on ([`attributes`]), RBAC ([`rbac`]) with denials in the
//! real wording ([`forbidden`]), and the reviews that ask it ([`reviews`]). The filters
//! (`crate::filters`) call them per request.

pub(crate) mod attributes;
pub(crate) mod forbidden;
pub(crate) mod rbac;
pub(crate) mod reviews;
pub(crate) mod token_request;
pub(crate) mod tokens;

/// The group whose members may do anything, like kube-apiserver's privileged-group
/// authorizer placed before RBAC.
pub(crate) const SYSTEM_MASTERS: &str = "system:masters";
/// Every authenticated user is in this group.
pub(crate) const AUTHENTICATED: &str = "system:authenticated";
/// Every ServiceAccount is in this group (`serviceaccount.AllServiceAccountsGroup`).
pub(crate) const ALL_SERVICE_ACCOUNTS: &str = "system:serviceaccounts";
/// Prefix of ServiceAccount user names.
pub(crate) const SERVICE_ACCOUNT_PREFIX: &str = "system:serviceaccount:";
/// Name of the user behind the sandbox's static admin token.
pub(crate) const ADMIN_USER: &str = "admin";

/// Who a request runs as, like `user.Info` of the apiserver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct UserInfo {
    /// User name, e.g. `admin` or `system:serviceaccount:default:doc-controller`.
    pub(crate) name: String,
    /// Groups, always including `system:authenticated`.
    pub(crate) groups: Vec<String>,
}

impl UserInfo {
    /// No user: a request before authentication, or one it refused.
    pub(crate) fn anonymous() -> Self {
        Self {
            name: String::new(),
            groups: Vec::new(),
        }
    }

    /// The user of the static admin token.
    pub(crate) fn admin() -> Self {
        Self {
            name: ADMIN_USER.to_owned(),
            groups: vec![SYSTEM_MASTERS.to_owned(), AUTHENTICATED.to_owned()],
        }
    }

    /// The user of a ServiceAccount, with the groups the token authenticator adds
    /// (`serviceaccount.MakeGroupNames` plus `system:authenticated`).
    pub(crate) fn service_account(namespace: &str, name: &str) -> Self {
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
    pub(crate) fn is_superuser(&self) -> bool {
        self.groups.iter().any(|g| g == SYSTEM_MASTERS)
    }
}

/// `system:serviceaccount:{namespace}:{name}`.
pub(crate) fn service_account_user(namespace: &str, name: &str) -> String {
    format!("{SERVICE_ACCOUNT_PREFIX}{namespace}:{name}")
}

/// Splits a ServiceAccount user name into (namespace, name), like
/// `serviceaccount.SplitUsername`.
pub(crate) fn split_service_account(user: &str) -> Option<(&str, &str)> {
    let rest = user.strip_prefix(SERVICE_ACCOUNT_PREFIX)?;
    let (ns, name) = rest.split_once(':')?;
    (!ns.is_empty() && !name.is_empty() && !name.contains(':')).then_some((ns, name))
}
