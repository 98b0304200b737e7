//! Mode (b): the blockers the troubleshooting guide lists up front, checked with the current
//! kubeconfig while no controller runs, in the guide's order:
//!
//! 1. the API server answers within `--api-timeout` (nothing else can be checked otherwise);
//! 2. the CRD `documents.kube.rs` is installed, `Established` and serves `kube.rs/v1` (the
//!    controller's preflight would stop on it, [`crate::preflight`]);
//! 3. the controller's ServiceAccount may do every verb of [`REQUIRED`] (the Lease's in the
//!    Lease's namespace, `--lease-namespace`, by default the ServiceAccount's): one
//!    SelfSubjectAccessReview each, made while impersonating the ServiceAccount (user and groups),
//!    so the API server's own authorizer answers, whatever grants it (ClusterRoleBindings,
//!    RoleBindings, aggregated roles, a webhook);
//! 4. no Document is stuck Terminating longer than `--stuck-after`;
//! 5. no Document being deleted waits for the finalizer `documents.kube.rs`: only a running
//!    controller releases it, and this mode runs without one.
//!
//! Each check is `ok` or `FAIL` with what it saw and the fix; one whose precondition failed is
//! `skip`ped with the reason. The kubeconfig's user reads the cluster (a cluster admin: it must
//! read CRDs, list Documents everywhere and impersonate ServiceAccounts).

use super::{Args, DoctorError, Outcome, Output, ServiceAccount, Verdict};
use crate::crd::{Document, FINALIZER};
use crate::preflight::INSTALL_HINT;
use crate::rbac::{Permission, REQUIRED, Target};
use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec,
};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, ListParams, PostParams};
use kube::core::PartialObjectMeta;
use kube::{CustomResourceExt, Resource, ResourceExt};
use serde::Serialize;
use std::fmt::Write as _;
use std::time::{Duration, Instant};

/// How a check ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Nothing in the way.
    Ok,
    /// A blocker, with its fix.
    Fail,
    /// Not checked: an earlier check failed that this one needs.
    Skipped,
}

/// One check's result.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Check {
    /// What was checked.
    pub check: String,
    /// How it ended.
    pub status: Status,
    /// What it saw, in one line.
    pub saw: String,
    /// One line per object or permission concerned (a Document, a denied verb, a command).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<String>,
    /// What to do, when it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

/// Every check, in the guide's order: what `--output json` prints.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ClusterReport {
    /// Whether every check passed.
    pub healthy: bool,
    /// The checks.
    pub checks: Vec<Check>,
}

/// Loads the current kubeconfig (as the controller does) and runs the checks.
pub async fn run(args: &Args) -> Result<Outcome, DoctorError> {
    let config = kube::Config::infer()
        .await
        .map_err(DoctorError::Kubeconfig)?;
    let report = check(config, args).await?;
    let verdict = report.verdict();
    let report = match args.output {
        Output::Text => report.render_text(),
        Output::Json => {
            // A report of strings and booleans always serializes.
            let mut json = serde_json::to_string_pretty(&report).unwrap_or_default();
            json.push('\n');
            json
        }
    };
    Ok(Outcome { report, verdict })
}

/// Runs the checks against the cluster of `config`.
pub async fn check(config: kube::Config, args: &Args) -> Result<ClusterReport, DoctorError> {
    let deadline = args.api_timeout;
    let target = config.cluster_url.to_string();
    let client = kube::Client::try_from(config.clone()).map_err(|source| DoctorError::Client {
        target: target.clone(),
        source,
    })?;
    let mut checks = vec![reachable(&client, &target, deadline).await];
    if checks[0].status != Status::Ok {
        let why = "not checked: the API server did not answer, or refused the credentials";
        checks.push(skipped(CRD_CHECK, why));
        checks.push(skipped(&permissions_title(&args.service_account), why));
        checks.push(skipped(STUCK_CHECK, why));
        checks.push(skipped(FINALIZER_CHECK, why));
        return Ok(ClusterReport::new(checks));
    }
    let crd = crd(&client, deadline).await;
    let served = crd.status == Status::Ok;
    checks.push(crd);
    let lease_namespace = args
        .lease_namespace
        .clone()
        .unwrap_or_else(|| args.service_account.namespace.clone());
    let target = Target {
        namespace: args.namespace.as_deref(),
        lease_namespace: &lease_namespace,
        lease_name: &args.lease_name,
    };
    checks.push(permissions(&config, &client, &args.service_account, &target, deadline).await?);
    if !served {
        let why = "not checked: the Document API is not served";
        checks.push(skipped(STUCK_CHECK, why));
        checks.push(skipped(FINALIZER_CHECK, why));
        return Ok(ClusterReport::new(checks));
    }
    let scope = scope(args.namespace.as_deref());
    match documents(&client, args.namespace.as_deref(), deadline).await {
        Ok(documents) => {
            checks.push(stuck(&documents, args.stuck_after, &scope));
            checks.push(finalizers(&documents, &scope));
        }
        Err(error) => {
            let saw = format!("could not list Documents {scope}: {error}");
            let fix = "run doctor as a user who may list documents.kube.rs (a cluster admin)";
            checks.push(failed(STUCK_CHECK, saw.clone(), Vec::new(), fix));
            checks.push(failed(FINALIZER_CHECK, saw, Vec::new(), fix));
        }
    }
    Ok(ClusterReport::new(checks))
}

impl ClusterReport {
    fn new(checks: Vec<Check>) -> Self {
        Self {
            healthy: checks.iter().all(|c| c.status == Status::Ok),
            checks,
        }
    }

    /// 0 when every check passed, else 1.
    pub fn verdict(&self) -> Verdict {
        if self.healthy {
            Verdict::Healthy
        } else {
            Verdict::Findings
        }
    }

    /// One block per check: `ok`/`FAIL`/`skip`, what it saw, the objects concerned, the fix.
    pub fn render_text(&self) -> String {
        let mut out = String::new();
        for check in &self.checks {
            let status = match check.status {
                Status::Ok => "ok",
                Status::Fail => "FAIL",
                Status::Skipped => "skip",
            };
            let _ = writeln!(out, "{status:<5} {}: {}", check.check, check.saw);
            for line in &check.details {
                let _ = writeln!(out, "        {line}");
            }
            if let Some(fix) = &check.fix {
                let _ = writeln!(out, "      fix: {fix}");
            }
        }
        let failed = self
            .checks
            .iter()
            .filter(|c| c.status != Status::Ok)
            .count();
        let _ = if failed == 0 {
            writeln!(out, "\nall {} checks passed", self.checks.len())
        } else {
            writeln!(
                out,
                "\n{failed} of {} checks failed or could not run",
                self.checks.len()
            )
        };
        out
    }
}

const REACHABLE_CHECK: &str = "API server reachable";
const CRD_CHECK: &str = "CRD documents.kube.rs installed and Established";
const STUCK_CHECK: &str = "no Document stuck Terminating";
const FINALIZER_CHECK: &str = "no Document waiting for a finalizer without a controller";

fn permissions_title(sa: &ServiceAccount) -> String {
    format!("ServiceAccount {sa} may do what the controller does")
}

fn scope(namespace: Option<&str>) -> String {
    match namespace {
        Some(namespace) => format!("in namespace {namespace}"),
        None => "in all namespaces".into(),
    }
}

fn ok(check: &str, saw: String) -> Check {
    Check {
        check: check.into(),
        status: Status::Ok,
        saw,
        details: Vec::new(),
        fix: None,
    }
}

fn failed(check: &str, saw: String, details: Vec<String>, fix: impl Into<String>) -> Check {
    Check {
        check: check.into(),
        status: Status::Fail,
        saw,
        details,
        fix: Some(fix.into()),
    }
}

fn skipped(check: &str, why: &str) -> Check {
    Check {
        check: check.into(),
        status: Status::Skipped,
        saw: why.into(),
        details: Vec::new(),
        fix: None,
    }
}

/// A request that did not succeed: no answer in time, or an error.
#[derive(Debug, thiserror::Error)]
enum Failure {
    #[error("no answer within {}", humantime::format_duration(*.0))]
    Timeout(Duration),
    #[error("{}", super::with_causes(.0))]
    Request(#[from] kube::Error),
}

impl Failure {
    /// The HTTP status code, when the API server answered with an error.
    fn code(&self) -> Option<u16> {
        match self {
            Failure::Request(kube::Error::Api(status)) => Some(status.code),
            _ => None,
        }
    }
}

/// `request`, failing after `deadline`: kube's client has no read timeout of its own
/// (see [`crate::api_health`]), and an API server behind a silent drop would hang the doctor.
async fn within<T>(
    deadline: Duration,
    request: impl Future<Output = Result<T, kube::Error>>,
) -> Result<T, Failure> {
    match tokio::time::timeout(deadline, request).await {
        Ok(answer) => Ok(answer?),
        Err(_) => Err(Failure::Timeout(deadline)),
    }
}

/// Check 1: `GET /version`. Any answer but 401 means the network path works.
async fn reachable(client: &kube::Client, target: &str, deadline: Duration) -> Check {
    let started = Instant::now();
    match within(deadline, client.apiserver_version()).await {
        Ok(info) => ok(
            REACHABLE_CHECK,
            format!(
                "{target} answered in {} ms (Kubernetes {})",
                started.elapsed().as_millis(),
                info.git_version
            ),
        ),
        Err(error) if error.code() == Some(401) => failed(
            REACHABLE_CHECK,
            format!("{target} answered 401 Unauthorized: it rejects the kubeconfig's credentials"),
            Vec::new(),
            "renew the credentials (`kubectl config view --minify` shows the user; a cloud's \
             get-credentials command writes fresh ones)",
        ),
        Err(error) if error.code().is_some() => {
            ok(REACHABLE_CHECK, format!("{target} answered ({error})"))
        }
        Err(error) => failed(
            REACHABLE_CHECK,
            format!("{target}: {error}"),
            Vec::new(),
            "check the kubeconfig's server address (`kubectl config view --minify`) and the \
             network path to it (VPN, firewall, proxy, a NetworkPolicy); \
             `kubectl --request-timeout=30s version` tries the same",
        ),
    }
}

/// Check 2: the CRD exists, is `Established` and serves the version the controller uses.
async fn crd(client: &kube::Client, deadline: Duration) -> Check {
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let name = Document::crd_name();
    let install = format!("install it: {INSTALL_HINT} (yaml/crd.yaml is the same)");
    let crd = match within(deadline, crds.get_opt(name)).await {
        Ok(Some(crd)) => crd,
        Ok(None) => {
            return failed(
                CRD_CHECK,
                "not installed: the controller stops at its preflight".into(),
                Vec::new(),
                install,
            );
        }
        Err(error) if error.code() == Some(403) => {
            return failed(
                CRD_CHECK,
                format!("the kubeconfig's user may not read CRDs ({error})"),
                Vec::new(),
                "run doctor as a user who may get customresourcedefinitions (a cluster admin)",
            );
        }
        Err(error) => {
            return failed(
                CRD_CHECK,
                format!("could not read it: {error}"),
                Vec::new(),
                "run doctor again once the API server answers",
            );
        }
    };
    let conditions = crd
        .status
        .as_ref()
        .and_then(|s| s.conditions.clone())
        .unwrap_or_default();
    let established = conditions.iter().find(|c| c.type_ == "Established");
    if established.is_none_or(|c| c.status != "True") {
        let seen = established.map_or_else(
            || "no Established condition yet".to_string(),
            |c| {
                format!(
                    "Established is {} ({}: {})",
                    c.status,
                    c.reason.as_deref().unwrap_or("no reason"),
                    c.message.as_deref().unwrap_or("no message")
                )
            },
        );
        let details = conditions
            .iter()
            .filter(|c| c.status != "True")
            .map(|c| {
                format!(
                    "{} is {}: {}",
                    c.type_,
                    c.status,
                    c.message.as_deref().unwrap_or("")
                )
            })
            .collect();
        return failed(
            CRD_CHECK,
            format!("installed, but not served: {seen}"),
            details,
            format!(
                "`kubectl describe crd {name}` says why (NamesAccepted False: its names clash \
                 with another CRD's); then reinstall: {INSTALL_HINT}"
            ),
        );
    }
    let version = Document::version(&());
    let serves = crd
        .spec
        .versions
        .iter()
        .any(|v| v.name == version && v.served);
    if !serves {
        return failed(
            CRD_CHECK,
            format!("installed and Established, but it does not serve kube.rs/{version}"),
            Vec::new(),
            format!("reinstall it: {INSTALL_HINT}"),
        );
    }
    ok(
        CRD_CHECK,
        format!("installed, Established, serving kube.rs/{version}"),
    )
}

/// Check 3: a SelfSubjectAccessReview per required permission, as the ServiceAccount.
async fn permissions(
    config: &kube::Config,
    admin: &kube::Client,
    sa: &ServiceAccount,
    target: &Target<'_>,
    deadline: Duration,
) -> Result<Check, DoctorError> {
    let title = permissions_title(sa);
    let namespace = target.namespace;
    let scope = format!(
        "{} (the Lease {}/{} in its namespace)",
        scope(namespace),
        target.lease_namespace,
        target.lease_name
    );
    let mut details = Vec::new();
    // Impersonation works for a ServiceAccount that does not exist; its absence is a blocker of
    // its own (a Pod of the Deployment would not even be created), said first.
    let accounts: Api<k8s_openapi::api::core::v1::ServiceAccount> =
        Api::namespaced(admin.clone(), &sa.namespace);
    let missing_account = matches!(within(deadline, accounts.get_opt(&sa.name)).await, Ok(None));
    if missing_account {
        details.push(format!("the ServiceAccount {sa} does not exist"));
    }
    let denied = match denied(config, sa, target, deadline).await? {
        Ok(denied) => denied,
        Err(error) => {
            return Ok(failed(
                &title,
                format!("could not ask the API server as {}: {error}", sa.user()),
                details,
                format!(
                    "doctor asks by impersonating the ServiceAccount: run it as a user who may \
                     impersonate serviceaccounts and groups (a cluster admin), or ask yourself: \
                     kubectl auth can-i --list --as={} {}",
                    sa.user(),
                    namespace.map_or("-A".to_string(), |ns| format!("-n {ns}"))
                ),
            ));
        }
    };
    if denied.is_empty() && !missing_account {
        return Ok(ok(
            &title,
            format!(
                "may do all {} verbs the controller uses, {scope}",
                REQUIRED.len()
            ),
        ));
    }
    details.extend(
        denied
            .iter()
            .map(|p| format!("denied: {p} (for {})", p.used_for)),
    );
    let example = denied.first().copied().unwrap_or(REQUIRED[0]);
    Ok(failed(
        &title,
        format!(
            "denied {} of the {} verbs the controller uses, {scope}",
            denied.len(),
            REQUIRED.len()
        ),
        details,
        format!(
            "grant them: `kubectl apply -f yaml/rbac.yaml` creates the ServiceAccount \
             default/doc-controller and binds it the ClusterRole doc-controller and, in its \
             namespace, the Role doc-controller-leader-election for the Lease, which have \
             exactly these verbs (for another ServiceAccount, change the bindings' subjects); \
             `kubectl auth can-i {example} --as={} {}` checks one",
            sa.user(),
            match example.namespace_and_name(target).0 {
                Some(ns) => format!("-n {ns}"),
                None => "-A".to_string(),
            }
        ),
    ))
}

/// The permissions of [`REQUIRED`] that `sa` lacks for `target` (the watched namespace, `None`:
/// cluster-wide; the Lease's in its namespace, by name where the Role names it), as the API
/// server's authorizer decides them; the inner error when a review could not be made (the
/// kubeconfig's user may not impersonate, say).
pub async fn denied(
    config: &kube::Config,
    sa: &ServiceAccount,
    target: &Target<'_>,
    deadline: Duration,
) -> Result<Result<Vec<Permission>, String>, DoctorError> {
    let mut config = config.clone();
    config.auth_info.impersonate = Some(sa.user());
    config.auth_info.impersonate_groups = Some(sa.groups());
    let client = kube::Client::try_from(config).map_err(|source| DoctorError::Client {
        target: format!("impersonating {}", sa.user()),
        source,
    })?;
    let reviews: Api<SelfSubjectAccessReview> = Api::all(client);
    let answers = futures::future::join_all(REQUIRED.iter().map(|permission| {
        let reviews = reviews.clone();
        async move {
            let (resource, subresource) = permission.resource_and_subresource();
            let (namespace, name) = permission.namespace_and_name(target);
            let review = SelfSubjectAccessReview {
                spec: SelfSubjectAccessReviewSpec {
                    resource_attributes: Some(ResourceAttributes {
                        verb: Some(permission.verb.into()),
                        group: Some(permission.group.into()),
                        resource: Some(resource.into()),
                        subresource: subresource.map(Into::into),
                        namespace: namespace.map(Into::into),
                        name: name.map(Into::into),
                        ..ResourceAttributes::default()
                    }),
                    ..SelfSubjectAccessReviewSpec::default()
                },
                ..SelfSubjectAccessReview::default()
            };
            let answer = within(deadline, reviews.create(&PostParams::default(), &review)).await;
            (permission, answer)
        }
    }))
    .await;
    let mut denied = Vec::new();
    for (permission, answer) in answers {
        match answer {
            Ok(review) if review.status.as_ref().is_some_and(|s| s.allowed) => {}
            Ok(_) => denied.push(*permission),
            Err(error) => return Ok(Err(error.to_string())),
        }
    }
    Ok(Ok(denied))
}

/// Every Document's metadata in scope, in pages (a cluster may hold many).
async fn documents(
    client: &kube::Client,
    namespace: Option<&str>,
    deadline: Duration,
) -> Result<Vec<PartialObjectMeta<Document>>, Failure> {
    let api: Api<Document> = match namespace {
        Some(namespace) => Api::namespaced(client.clone(), namespace),
        None => Api::all(client.clone()),
    };
    let mut params = ListParams::default().limit(500);
    let mut all = Vec::new();
    loop {
        let page = within(deadline, api.list_metadata(&params)).await?;
        all.extend(page.items);
        match page.metadata.continue_ {
            Some(token) if !token.is_empty() => params = params.continue_token(&token),
            _ => return Ok(all),
        }
    }
}

/// `1 Document`, `2 Documents`.
fn documents_count(n: usize) -> String {
    format!("{n} Document{}", if n == 1 { "" } else { "s" })
}

/// `namespace/name`.
fn key(doc: &PartialObjectMeta<Document>) -> String {
    format!("{}/{}", doc.namespace().unwrap_or_default(), doc.name_any())
}

/// The guide's emergency release of one Document: every finalizer dropped, cleanup skipped.
fn release_command(doc: &PartialObjectMeta<Document>) -> String {
    format!(
        "kubectl patch document {} -n {} --type=merge -p '{{\"metadata\":{{\"finalizers\":null}}}}'",
        doc.name_any(),
        doc.namespace().unwrap_or_default()
    )
}

/// How long `doc` has been Terminating, if it is.
fn terminating_for(doc: &PartialObjectMeta<Document>) -> Option<Duration> {
    let deleted = doc.meta().deletion_timestamp.as_ref()?;
    let now = k8s_openapi::jiff::Timestamp::now();
    let seconds = now.as_second().saturating_sub(deleted.0.as_second());
    Some(Duration::from_secs(u64::try_from(seconds).unwrap_or(0)))
}

/// Check 4: Documents Terminating for `stuck_after` or longer.
fn stuck(documents: &[PartialObjectMeta<Document>], stuck_after: Duration, scope: &str) -> Check {
    let stuck: Vec<_> = documents
        .iter()
        .filter_map(|doc| Some((doc, terminating_for(doc)?)))
        .filter(|(_, age)| *age >= stuck_after)
        .collect();
    let bound = humantime::format_duration(stuck_after);
    if stuck.is_empty() {
        return ok(
            STUCK_CHECK,
            format!(
                "{} {scope}, none Terminating for {bound} or longer",
                documents_count(documents.len())
            ),
        );
    }
    let mut details = Vec::new();
    for (doc, age) in &stuck {
        details.push(format!(
            "{} Terminating for {}, finalizers [{}]",
            key(doc),
            humantime::format_duration(*age),
            doc.finalizers().join(", ")
        ));
    }
    details.extend(stuck.iter().map(|(doc, _)| release_command(doc)));
    failed(
        STUCK_CHECK,
        format!(
            "{} {scope} Terminating for {bound} or longer",
            documents_count(stuck.len())
        ),
        details,
        "a finalizer is not released: with no controller running, start it (it releases \
         documents.kube.rs once its cleanup succeeded); with one running, its log and \
         /diagnostics (stuck-terminating) say why cleanup fails. Emergency release, skipping \
         cleanup (the Document's index entry stays): the kubectl patch commands above",
    )
}

/// Check 5: Documents being deleted that wait for the controller's finalizer.
fn finalizers(documents: &[PartialObjectMeta<Document>], scope: &str) -> Check {
    let finalized: Vec<_> = documents
        .iter()
        .filter(|doc| doc.finalizers().iter().any(|f| f == FINALIZER))
        .collect();
    let waiting: Vec<_> = finalized
        .iter()
        .filter(|doc| doc.meta().deletion_timestamp.is_some())
        .collect();
    if waiting.is_empty() {
        return ok(
            FINALIZER_CHECK,
            format!(
                "{} {scope} with the finalizer {FINALIZER}, none being deleted",
                documents_count(finalized.len())
            ),
        );
    }
    let mut details: Vec<String> = waiting.iter().map(|doc| key(doc)).collect();
    details.extend(waiting.iter().map(|doc| release_command(doc)));
    failed(
        FINALIZER_CHECK,
        format!(
            "{} {scope} being deleted, waiting for the finalizer {FINALIZER}, which only a \
             running controller releases",
            documents_count(waiting.len())
        ),
        details,
        "run the controller (`kubectl -n <namespace> rollout status deploy/doc-controller`; \
         `kubectl apply -f yaml/deployment.yaml`): it cleans up and releases the finalizer, and \
         their deletion completes. If the controller is gone for good, release them by hand \
         (cleanup skipped): the kubectl patch commands above",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::api::ObjectMeta;

    fn meta(
        name: &str,
        finalizers: &[&str],
        deleted_secs_ago: Option<i64>,
    ) -> PartialObjectMeta<Document> {
        let now = k8s_openapi::jiff::Timestamp::now();
        let deletion_timestamp = deleted_secs_ago.map(|ago| {
            k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
                k8s_openapi::jiff::Timestamp::from_second(now.as_second() - ago)
                    .expect("a valid timestamp"),
            )
        });
        PartialObjectMeta {
            types: None,
            metadata: ObjectMeta {
                name: Some(name.into()),
                namespace: Some("ns".into()),
                finalizers: Some(finalizers.iter().map(|f| f.to_string()).collect()),
                deletion_timestamp,
                ..ObjectMeta::default()
            },
            _phantom: std::marker::PhantomData,
        }
    }

    #[test]
    fn a_document_terminating_past_the_bound_is_stuck_with_its_release_command() {
        let docs = [
            meta("old", &[FINALIZER], Some(120)),
            meta("fresh", &[FINALIZER], Some(1)),
            meta("live", &[FINALIZER], None),
        ];
        let check = stuck(&docs, Duration::from_secs(60), "in all namespaces");
        assert_eq!(check.status, Status::Fail);
        assert!(check.saw.starts_with("1 Document in"), "{}", check.saw);
        assert!(
            check.details.iter().any(|d| d
                == "kubectl patch document old -n ns --type=merge -p '{\"metadata\":{\"finalizers\":null}}'"),
            "{:?}",
            check.details
        );
        assert!(!check.details.iter().any(|d| d.contains("fresh")));
        assert_eq!(
            stuck(&docs[1..], Duration::from_secs(60), "").status,
            Status::Ok
        );
    }

    #[test]
    fn a_document_being_deleted_with_the_finalizer_waits_for_a_controller() {
        let docs = [
            meta("leaving", &[FINALIZER], Some(1)),
            meta("other", &["example.com/other"], Some(1)),
            meta("live", &[FINALIZER], None),
        ];
        let check = finalizers(&docs, "in all namespaces");
        assert_eq!(check.status, Status::Fail);
        assert_eq!(check.details[0], "ns/leaving");
        assert!(
            check
                .fix
                .as_deref()
                .is_some_and(|f| f.contains("run the controller"))
        );
        assert_eq!(finalizers(&docs[1..], "").status, Status::Ok);
    }

    #[test]
    fn the_text_report_marks_each_check_and_gives_the_fix() {
        let report = ClusterReport::new(vec![
            ok(REACHABLE_CHECK, "answered".into()),
            failed(CRD_CHECK, "not installed".into(), Vec::new(), INSTALL_HINT),
            skipped(STUCK_CHECK, "not checked"),
        ]);
        assert_eq!(report.verdict(), Verdict::Findings);
        let text = report.render_text();
        assert!(
            text.starts_with("ok    API server reachable: answered\n"),
            "{text}"
        );
        assert!(text.contains("FAIL  CRD documents.kube.rs"), "{text}");
        assert!(
            text.contains(&format!("      fix: {INSTALL_HINT}")),
            "{text}"
        );
        assert!(text.contains("skip  no Document stuck"), "{text}");
        assert!(text.contains("2 of 3 checks failed"), "{text}");
        let json = serde_json::to_value(&report).expect("serializes");
        assert_eq!(json["healthy"], false);
        assert_eq!(json["checks"][1]["status"], "fail");
    }
}
