//! API errors as a typed value, worded like `k8s.io/apimachinery/pkg/api/errors`.
//!
//! Every layer returns these; none of them knows HTTP. The HTTP layer turns one into its
//! `Status` response at the edge (`http::respond`), with the `reason`, `code` and message
//! wording of the real apiserver, because clients branch on them: kube-rs parses them into
//! `kube::Error::Api`, kubectl prints the message verbatim. The `Status` object itself is
//! built in [`super::status`].

/// One field-level cause of an `Invalid` error (`details.causes[]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Cause {
    /// Machine-readable cause, e.g. `FieldValueInvalid`, `FieldValueForbidden`.
    pub(crate) reason: String,
    /// Human-readable message, e.g. `Invalid value: "": ... should be at least 1 chars long`.
    pub(crate) message: String,
    /// The field path, e.g. `spec.title`.
    pub(crate) field: String,
}

/// An API error, rendered as a `Status` with the matching HTTP code.
#[derive(Debug, Clone, thiserror::Error)]
pub(crate) enum ApiError {
    /// 404: the object (or its namespace, or the resource) does not exist.
    #[error("{} \"{name}\" not found", qualify(group, resource))]
    NotFound {
        /// Group of the resource, empty for core.
        group: String,
        /// Plural resource name, e.g. `configmaps`.
        resource: String,
        /// Object name.
        name: String,
    },
    /// 404 for a path under a built-in API group version that no route of it matches: the
    /// go-restful container's `serviceErrorHandler` answers
    /// `errors.NewGenericServerResponse(404, ...)`, a Status with empty `details`.
    #[error("the server could not find the requested resource")]
    NoRoute,
    /// 404 for a path no API group handler claims (an unknown group, or a custom resource
    /// group without that resource): the apiserver's `notfoundhandler` answers Go's plain-text
    /// `http.NotFound`, not a Status.
    #[error("404 page not found")]
    NotFoundPage,
    /// 409: create of an existing name.
    #[error("{} \"{name}\" already exists", qualify(group, resource))]
    AlreadyExists {
        /// Group of the resource.
        group: String,
        /// Plural resource name.
        resource: String,
        /// Object name.
        name: String,
    },
    /// 409: optimistic-concurrency or apply conflict.
    #[error(
        "Operation cannot be fulfilled on {} \"{name}\": {detail}",
        qualify(group, resource)
    )]
    Conflict {
        /// Group of the resource.
        group: String,
        /// Plural resource name.
        resource: String,
        /// Object name.
        name: String,
        /// Why, e.g. `the object has been modified; ...`.
        detail: String,
        /// Field-level causes (apply conflicts list the conflicting fields).
        causes: Vec<Cause>,
    },
    /// 409 with a free-form message (server-side apply conflicts use their own wording).
    #[error("{message}")]
    ApplyConflict {
        /// Group of the resource.
        group: String,
        /// Kind of the object.
        kind: String,
        /// Object name.
        name: String,
        /// The full message.
        message: String,
        /// One cause per conflicting field.
        causes: Vec<Cause>,
    },
    /// 422: validation failed.
    #[error("{message}")]
    Invalid {
        /// Group of the kind.
        group: String,
        /// Kind, e.g. `Document`.
        kind: String,
        /// Object name.
        name: String,
        /// `Kind.group "name" is invalid: <causes>`, like `errors.NewInvalid`.
        message: String,
        /// The individual causes.
        causes: Vec<Cause>,
    },
    /// 422 without a kind, as `errors.NewGenericServerResponse(422, "", GroupResource{}, "",
    /// reason, 0, false)` builds it for a JSON patch that cannot be applied (a failed `test`, a
    /// missing path): a generic message and empty `details`. The reason is kept for the
    /// sandbox's own logs only; like the apiserver (`isUnexpectedResponse` is false, so no
    /// cause), the Status does not carry it.
    #[error("the server rejected our request due to an error in our request")]
    Rejected(String),
    /// 400: malformed request.
    #[error("{0}")]
    BadRequest(String),
    /// 405: verb not supported on this resource.
    #[error("{0}")]
    MethodNotAllowed(String),
    /// 405 for a verb a resource refuses, as `errors.NewMethodNotSupported` builds it: the
    /// details carry the group and the resource (the CRD handler overrides the message, e.g.
    /// `create not allowed while custom resource definition is terminating`).
    #[error("{message}")]
    MethodNotSupported {
        /// Group of the resource.
        group: String,
        /// Plural resource name.
        resource: String,
        /// The message.
        message: String,
    },
    /// 410: resourceVersion older than the retained history (`errors.NewResourceExpired`).
    #[error("{0}")]
    Expired(String),
    /// 410 for a continue token older than etcd's compaction, as
    /// `storage/etcd3/errors.go` `handleCompactedErrorForPaging` builds it: the Status's
    /// `metadata.continue` holds a token that continues the list at the latest revision.
    #[error(
        "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list."
    )]
    ContinueExpired(String),
    /// 401: missing or wrong bearer token.
    #[error("Unauthorized")]
    Unauthorized,
    /// 403 about one object, as `errors.NewForbidden(qualifiedResource, name, err)` builds it
    /// (an admission plugin's refusal): the message names the resource and object, the
    /// details carry name, group and resource.
    #[error("{} \"{name}\" is forbidden: {reason}", qualify(group, resource))]
    ForbiddenObject {
        /// Group of the resource.
        group: String,
        /// Plural resource name.
        resource: String,
        /// Object name.
        name: String,
        /// Why.
        reason: String,
    },
    /// 415: unsupported patch content type.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// 504 for a resourceVersion the store has not reached, as
    /// `storage.NewTooLargeResourceVersionError` builds it (`errors.NewTimeoutError` with
    /// `retryAfterSeconds: 1` and a `ResourceVersionTooLarge` cause).
    #[error("Timeout: Too large resource version: {requested}, current: {current}")]
    TooLargeResourceVersion {
        /// The resourceVersion asked for.
        requested: u64,
        /// The store's current revision.
        current: u64,
    },
    /// 500 for a storage error no layer turns into an API error (`responsewriters`'
    /// `ErrorToAPIStatus` fallback): the error's text as the message and no `reason`, e.g. an
    /// unparsable `resourceVersion` on a list or watch, or an exact read at a future revision.
    #[error("{0}")]
    Storage(String),
    /// 500: a bug in the sandbox (`errors.NewInternalError`).
    #[error("Internal error occurred: {0}")]
    Internal(String),
}

fn dotted(group: &str) -> String {
    if group.is_empty() {
        String::new()
    } else {
        format!(".{group}")
    }
}

impl ApiError {
    /// The HTTP status code of this error.
    pub(crate) fn code(&self) -> u16 {
        match self {
            Self::NotFound { .. } | Self::NoRoute | Self::NotFoundPage => 404,
            Self::AlreadyExists { .. } | Self::Conflict { .. } | Self::ApplyConflict { .. } => 409,
            Self::Invalid { .. } | Self::Rejected(_) => 422,
            Self::BadRequest(_) => 400,
            Self::MethodNotAllowed(_) | Self::MethodNotSupported { .. } => 405,
            Self::Expired(_) | Self::ContinueExpired(_) => 410,
            Self::Unauthorized => 401,
            Self::ForbiddenObject { .. } => 403,
            Self::UnsupportedMediaType(_) => 415,
            Self::TooLargeResourceVersion { .. } => 504,
            Self::Internal(_) | Self::Storage(_) => 500,
        }
    }

    /// The `reason` field of the Status.
    pub(crate) fn reason(&self) -> &'static str {
        match self {
            Self::NotFound { .. } | Self::NoRoute | Self::NotFoundPage => "NotFound",
            Self::AlreadyExists { .. } => "AlreadyExists",
            Self::Conflict { .. } | Self::ApplyConflict { .. } => "Conflict",
            Self::Invalid { .. } | Self::Rejected(_) => "Invalid",
            Self::BadRequest(_) => "BadRequest",
            Self::MethodNotAllowed(_) | Self::MethodNotSupported { .. } => "MethodNotAllowed",
            Self::Expired(_) | Self::ContinueExpired(_) => "Expired",
            Self::Unauthorized => "Unauthorized",
            Self::ForbiddenObject { .. } => "Forbidden",
            Self::UnsupportedMediaType(_) => "UnsupportedMediaType",
            Self::TooLargeResourceVersion { .. } => "Timeout",
            Self::Internal(_) => "InternalError",
            Self::Storage(_) => "",
        }
    }

    /// A 404 for `name` of the given resource.
    pub(crate) fn not_found(group: &str, resource: &str, name: &str) -> Self {
        Self::NotFound {
            group: group.to_owned(),
            resource: resource.to_owned(),
            name: name.to_owned(),
        }
    }

    /// A 409 AlreadyExists for `name`.
    pub(crate) fn already_exists(group: &str, resource: &str, name: &str) -> Self {
        Self::AlreadyExists {
            group: group.to_owned(),
            resource: resource.to_owned(),
            name: name.to_owned(),
        }
    }

    /// The optimistic-concurrency 409, worded exactly like `errors.NewConflict` with
    /// `registry.OptimisticLockErrorMsg`.
    pub(crate) fn stale(group: &str, resource: &str, name: &str) -> Self {
        Self::Conflict {
            group: group.to_owned(),
            resource: resource.to_owned(),
            name: name.to_owned(),
            detail: "the object has been modified; please apply your changes to the latest \
                     version and try again"
                .to_owned(),
            causes: Vec::new(),
        }
    }

    /// A 422 Invalid built from field causes; the message joins them like
    /// `field.ErrorList.ToAggregate()` (a single cause is not bracketed).
    pub(crate) fn invalid(group: &str, kind: &str, name: &str, causes: Vec<Cause>) -> Self {
        let parts: Vec<String> = causes
            .iter()
            .map(|c| {
                if c.field.is_empty() {
                    c.message.clone()
                } else {
                    format!("{}: {}", c.field, c.message)
                }
            })
            .collect();
        let summary = if parts.len() == 1 {
            parts.concat()
        } else {
            format!("[{}]", parts.join(", "))
        };
        Self::Invalid {
            group: group.to_owned(),
            kind: kind.to_owned(),
            name: name.to_owned(),
            message: format!("{kind}{} \"{name}\" is invalid: {summary}", dotted(group)),
            causes,
        }
    }
}

/// `resource.group`, or just `resource` for the core group.
pub(crate) fn qualify(group: &str, resource: &str) -> String {
    if group.is_empty() {
        resource.to_owned()
    } else {
        format!("{resource}.{group}")
    }
}
