//! Mode (a): a running controller's self-diagnosis, read from its admin server.
//!
//! The controller already knows what is wrong with it ([`crate::diagnosis`]); this reads
//! `GET <url>/diagnostics` and prints it. The request goes through kube's HTTP client (hyper,
//! with connect and read timeouts) pointed at the admin server, without credentials: the admin
//! server is plain HTTP/1.1 and needs none, and the dependency tree has no other HTTP client.

use super::{DoctorError, Outcome, Output, Verdict};
use crate::diagnosis::report::Diagnostics;
use std::time::Duration;

/// Reads the report at `url` and renders it: exit 1 while any finding is raised.
pub async fn run(
    url: &http::Uri,
    timeout: Duration,
    output: Output,
) -> Result<Outcome, DoctorError> {
    let diagnostics = fetch(url, timeout).await?;
    let verdict = if diagnostics.active().next().is_some() {
        Verdict::Findings
    } else {
        Verdict::Healthy
    };
    let report = match output {
        Output::Text => diagnostics.render_text(),
        Output::Json => {
            // What was just deserialized serializes again.
            let mut json = serde_json::to_string_pretty(&diagnostics).unwrap_or_default();
            json.push('\n');
            json
        }
    };
    Ok(Outcome { report, verdict })
}

/// `GET <url>/diagnostics`, within `timeout`, deserialized.
pub async fn fetch(url: &http::Uri, timeout: Duration) -> Result<Diagnostics, DoctorError> {
    let shown = format!("{}/diagnostics", url.to_string().trim_end_matches('/'));
    let client_error = |source| DoctorError::Client {
        target: url.to_string(),
        source,
    };
    let mut config = kube::Config::new(url.clone());
    config.connect_timeout = Some(timeout);
    config.read_timeout = Some(timeout);
    let client = kube::Client::try_from(config).map_err(client_error)?;
    // kube joins the path to the URL's own (a prefix behind a proxy is kept).
    let request = http::Request::get("/diagnostics")
        .header(http::header::ACCEPT, "application/json")
        .body(Vec::new())
        .map_err(|e| client_error(kube::Error::HttpError(e)))?;
    let text = match tokio::time::timeout(timeout, client.request_text(request)).await {
        Err(_) => {
            return Err(DoctorError::NoAnswer {
                url: shown,
                after: timeout,
                source: None,
            });
        }
        Ok(Err(kube::Error::Api(status))) => {
            return Err(DoctorError::NotAReport {
                url: shown,
                code: status.code,
                message: status.message.clone(),
            });
        }
        Ok(Err(source)) => {
            return Err(DoctorError::NoAnswer {
                url: shown,
                after: timeout,
                source: Some(source),
            });
        }
        Ok(Ok(text)) => text,
    };
    serde_json::from_str(&text).map_err(|source| DoctorError::Unparsable { url: shown, source })
}
