//! Logs and traces: one `tracing` subscriber with a log layer, an optional OpenTelemetry layer and,
//! with feature `console`, the tokio-console layer.
//!
//! # Log filter
//!
//! `RUST_LOG` selects what is logged, with the usual [`EnvFilter`] syntax. When it is unset or
//! empty, [`DEFAULT_LOG_FILTER`] applies: `info,kube=warn,doc_controller=info`. That shows what
//! a newcomer wants to follow: one line per reconcile decision of this controller, plus warnings
//! and errors from everything, including kube's watch errors. kube's own info-level spans and
//! events (`kube=warn` also covers `kube_runtime` and `kube_client`: targets match by prefix) are
//! left out because they repeat what the controller already says. Raise single targets when
//! debugging, e.g. `RUST_LOG=info,kube=debug` for every API request kube makes.
//!
//! An invalid `RUST_LOG` makes [`init`] fail instead of being silently ignored: a typo should
//! not quietly hide the logs you asked for.
//!
//! # Log formats
//!
//! [`LogFormat::Text`] is for humans; [`LogFormat::Json`] for log pipelines. JSON lines carry the
//! current span (`span`) and all enclosing spans (`spans`) with their fields, so logs of one
//! object can be selected with the reconcile span's `object.ref` field:
//!
//! ```sh
//! kubectl logs deploy/doc-controller | jq 'select(.span."object.ref" == "Document.v1.kube.rs/x.ns")'
//! ```
//!
//! # OpenTelemetry traces
//!
//! Tracing is on when `OTEL_EXPORTER_OTLP_ENDPOINT` or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` is
//! set, unless `OTEL_SDK_DISABLED=true`. Spans go through a batch processor to an OTLP/gRPC
//! exporter, which reads the standard variables (`OTEL_EXPORTER_OTLP_*` for endpoint, headers,
//! timeout; `OTEL_TRACES_SAMPLER`/`_ARG` for sampling; `OTEL_RESOURCE_ATTRIBUTES`). The service
//! name is `OTEL_SERVICE_NAME`, else `service.name` from `OTEL_RESOURCE_ATTRIBUTES`, else
//! `doc-controller`; `service.version` is the crate version. The same `RUST_LOG` filter decides
//! which spans are exported, so traces and logs show the same spans.
//!
//! # Trace ids in logs
//!
//! A log line shows the fields of its spans, not OpenTelemetry's ids, so the reconcile span
//! declares an empty `trace_id` field and fills it in as soon as it is entered:
//!
//! ```
//! use tracing::{Instrument as _, field};
//!
//! # async fn reconcile() {
//! let span = tracing::info_span!("reconcile", object.ref = "Document.v1.kube.rs/x.ns", trace_id = field::Empty);
//! async {
//!     if let Some(trace_id) = doc_controller::telemetry::current_trace_id() {
//!         tracing::Span::current().record("trace_id", field::display(trace_id));
//!     }
//!     tracing::info!("every line from here on carries trace_id");
//! }
//! .instrument(span)
//! .await
//! # }
//! ```
//!
//! [`current_trace_id`] must run *inside* the span (as above), and the span must be enabled for
//! the OpenTelemetry layer by `RUST_LOG`; without OpenTelemetry it returns `None` and the field
//! stays empty. Paste the id into the trace backend to see the whole reconcile.
//!
//! # Wiring
//!
//! Call [`init`] once, inside the tokio runtime (the gRPC exporter spawns its connection there),
//! and keep the returned [`TelemetryGuard`] alive until the controller has stopped: dropping it
//! flushes the spans still buffered. Drop it while the multi-threaded runtime is still running
//! (e.g. at the end of `#[tokio::main] async fn main`), because the final export needs the runtime.

use std::{io::IsTerminal as _, time::Duration};

use opentelemetry::{
    KeyValue,
    trace::{TraceContextExt as _, TracerProvider as _},
};
use opentelemetry_sdk::{
    Resource,
    resource::{EnvResourceDetector, ResourceDetector as _},
    trace::{SdkTracer, SdkTracerProvider, SpanExporter},
};
use tracing::Subscriber;
use tracing_opentelemetry::{OpenTelemetryLayer, OpenTelemetrySpanExt as _};
use tracing_subscriber::{
    EnvFilter, Layer, fmt::MakeWriter, layer::SubscriberExt as _, registry::LookupSpan,
    util::SubscriberInitExt as _,
};

/// The log filter when `RUST_LOG` is unset or empty; see the [module docs](self) for why.
pub const DEFAULT_LOG_FILTER: &str = "info,kube=warn,doc_controller=info";

/// `service.name` when neither `OTEL_SERVICE_NAME` nor `OTEL_RESOURCE_ATTRIBUTES` names one.
pub const DEFAULT_SERVICE_NAME: &str = "doc-controller";

/// How long dropping [`TelemetryGuard`] may wait for the last spans to be exported; kept well
/// below Kubernetes' default 30 s termination grace period so an unreachable collector cannot
/// hold up the shutdown.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);

/// The format of log lines on stdout.
#[derive(Clone, Copy, Debug, Default, clap::ValueEnum, serde::Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines, coloured when stdout is a terminal.
    #[default]
    Text,
    /// One JSON object per line, with the current span and the span list.
    Json,
}

/// Why telemetry could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    /// `RUST_LOG` is not a valid filter.
    #[error("invalid RUST_LOG: {0}")]
    Filter(#[from] tracing_subscriber::filter::ParseError),
    /// The OTLP exporter could not be built from the `OTEL_*` settings.
    #[error("OpenTelemetry exporter: {0}")]
    Exporter(#[from] opentelemetry_otlp::ExporterBuildError),
    /// A global subscriber was already installed (init called twice).
    #[error("installing the tracing subscriber: {0}")]
    Install(#[from] tracing_subscriber::util::TryInitError),
}

/// Keeps OpenTelemetry running; dropping it exports the spans still buffered and shuts the
/// exporter down. Hold it until the controller has stopped.
#[derive(Debug)]
#[must_use = "dropping the guard shuts down trace export"]
pub struct TelemetryGuard {
    tracer_provider: Option<SdkTracerProvider>,
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        if let Some(provider) = self.tracer_provider.take()
            && let Err(error) = provider.shutdown_with_timeout(SHUTDOWN_TIMEOUT)
        {
            tracing::warn!(%error, "flushing OpenTelemetry spans failed");
        }
    }
}

/// Installs the global `tracing` subscriber: logs in `format` on stdout filtered by `RUST_LOG`,
/// OpenTelemetry export when configured (see the [module docs](self)), and the tokio-console
/// layer with feature `console`.
///
/// Call once, inside the tokio runtime.
pub fn init(format: LogFormat) -> Result<TelemetryGuard, TelemetryError> {
    // Each layer gets its own copy of the filter instead of one filter on the whole registry,
    // which would also hide tokio's runtime spans from the console layer.
    let rust_log = std::env::var("RUST_LOG").ok();
    let ansi = std::io::stdout().is_terminal();
    let log_layer =
        log_layer(format, std::io::stdout, ansi).with_filter(log_filter(rust_log.as_deref())?);

    let tracer_provider = if otel_enabled(|name| std::env::var(name).ok()) {
        Some(otlp_tracer_provider()?)
    } else {
        None
    };
    let otel_layer = match &tracer_provider {
        Some(provider) => Some(otel_layer(provider).with_filter(log_filter(rust_log.as_deref())?)),
        None => None,
    };

    let registry = tracing_subscriber::registry()
        .with(log_layer)
        .with(otel_layer);
    // tokio-console: serves task data on 127.0.0.1:6669 (TOKIO_CONSOLE_BIND to change). It has
    // its own filter for tokio's instrumentation, which needs `--cfg tokio_unstable`.
    #[cfg(feature = "console")]
    let registry = registry.with(console_subscriber::spawn());
    registry.try_init()?;

    if tracer_provider.is_some() {
        tracing::info!("exporting OpenTelemetry traces over OTLP/gRPC");
    }
    Ok(TelemetryGuard { tracer_provider })
}

/// The trace id (32 hex digits) of the current span's OpenTelemetry context.
///
/// `None` when there is no current span, when no OpenTelemetry layer is installed, or when the
/// span is disabled for it. See the [module docs](self) for recording it in logs.
pub fn current_trace_id() -> Option<String> {
    let context = tracing::Span::current().context();
    let span_context = context.span().span_context().clone();
    span_context
        .is_valid()
        .then(|| span_context.trace_id().to_string())
}

/// An OpenTelemetry layer and its provider exporting every span synchronously to `exporter`,
/// for tests that assert on exported spans (pass an `InMemorySpanExporter` from
/// `opentelemetry_sdk`'s `testing` feature).
///
/// The layer is the one [`init`] installs, minus the `RUST_LOG` filter (add one with
/// `Layer::with_filter` if the test needs it). Install it with
/// `tracing::subscriber::with_default`, and call `provider.force_flush()` before reading the
/// exporter.
pub fn test_tracer<S, E>(exporter: E) -> (SdkTracerProvider, OpenTelemetryLayer<S, SdkTracer>)
where
    S: Subscriber + for<'span> LookupSpan<'span>,
    E: SpanExporter + 'static,
{
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter)
        .with_resource(resource())
        .build();
    let layer = otel_layer(&provider);
    (provider, layer)
}

/// `RUST_LOG` when set and not empty, else [`DEFAULT_LOG_FILTER`].
fn log_filter(rust_log: Option<&str>) -> Result<EnvFilter, tracing_subscriber::filter::ParseError> {
    match rust_log.map(str::trim) {
        Some(directives) if !directives.is_empty() => EnvFilter::try_new(directives),
        _ => EnvFilter::try_new(DEFAULT_LOG_FILTER),
    }
}

/// The log layer writing `format` lines to `writer`.
fn log_layer<S, W>(format: LogFormat, writer: W, ansi: bool) -> Box<dyn Layer<S> + Send + Sync>
where
    S: Subscriber + for<'span> LookupSpan<'span>,
    W: for<'writer> MakeWriter<'writer> + Send + Sync + 'static,
{
    let layer = tracing_subscriber::fmt::layer().with_writer(writer);
    match format {
        LogFormat::Text => layer.with_ansi(ansi).boxed(),
        LogFormat::Json => layer
            .json()
            .with_current_span(true)
            .with_span_list(true)
            .boxed(),
    }
}

/// Whether OpenTelemetry export is configured, reading variables through `var`.
fn otel_enabled(var: impl Fn(&str) -> Option<String>) -> bool {
    let is_set = |name: &str| var(name).is_some_and(|value| !value.trim().is_empty());
    let disabled =
        var("OTEL_SDK_DISABLED").is_some_and(|value| value.trim().eq_ignore_ascii_case("true"));
    !disabled
        && (is_set("OTEL_EXPORTER_OTLP_ENDPOINT") || is_set("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))
}

/// A tracer provider with a batch processor and the OTLP/gRPC exporter configured from `OTEL_*`.
fn otlp_tracer_provider() -> Result<SdkTracerProvider, TelemetryError> {
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_tonic()
        .build()?;
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(resource())
        .build())
}

/// The resource describing this process: the SDK's defaults and `OTEL_*` settings, plus our
/// default service name (only when none is configured) and version.
fn resource() -> Resource {
    let service_name_configured = std::env::var("OTEL_SERVICE_NAME")
        .is_ok_and(|name| !name.is_empty())
        || EnvResourceDetector::new()
            .detect()
            .get(&opentelemetry::Key::new("service.name"))
            .is_some();
    let builder = Resource::builder()
        .with_attribute(KeyValue::new("service.version", env!("CARGO_PKG_VERSION")));
    if service_name_configured {
        builder.build()
    } else {
        builder.with_service_name(DEFAULT_SERVICE_NAME).build()
    }
}

/// The tracing-opentelemetry layer for `provider`, named after this crate.
fn otel_layer<S>(provider: &SdkTracerProvider) -> OpenTelemetryLayer<S, SdkTracer>
where
    S: Subscriber + for<'span> LookupSpan<'span>,
{
    tracing_opentelemetry::layer().with_tracer(provider.tracer(env!("CARGO_PKG_NAME")))
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use opentelemetry_sdk::trace::InMemorySpanExporter;
    use tracing::field;

    use super::*;

    /// Log output captured in memory.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0
                .lock()
                .expect("not poisoned")
                .extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Captured {
        fn lines(&self) -> Vec<serde_json::Value> {
            let bytes = self.0.lock().expect("not poisoned").clone();
            String::from_utf8(bytes)
                .expect("utf-8")
                .lines()
                .map(|line| serde_json::from_str(line).expect("one JSON object per line"))
                .collect()
        }
    }

    fn default_filter() -> EnvFilter {
        log_filter(None).expect("the default filter parses")
    }

    /// What the controller's reconcile does: a span with the object ref and an empty trace id,
    /// filled in once entered.
    fn reconcile_span() -> Option<String> {
        let span = tracing::info_span!(
            "reconcile",
            object.ref = "Document.v1.kube.rs/x.ns",
            trace_id = field::Empty
        );
        span.in_scope(|| {
            let trace_id = current_trace_id();
            if let Some(trace_id) = &trace_id {
                tracing::Span::current().record("trace_id", field::display(trace_id));
            }
            tracing::info!("reconciled");
            trace_id
        })
    }

    #[test]
    fn a_reconcile_span_is_exported_with_its_object_ref_and_its_trace_id_is_current() {
        let exporter = InMemorySpanExporter::default();
        let (provider, layer) = test_tracer(exporter.clone());
        let subscriber = tracing_subscriber::registry().with(layer.with_filter(default_filter()));

        let trace_id = tracing::subscriber::with_default(subscriber, reconcile_span);

        provider.force_flush().expect("flushed");
        let spans = exporter.get_finished_spans().expect("spans");
        assert_eq!(spans.len(), 1, "{spans:?}");
        let span = &spans[0];
        assert_eq!(span.name, "reconcile");
        assert!(
            span.attributes
                .iter()
                .any(|attribute| attribute.key.as_str() == "object.ref"
                    && attribute.value.as_str() == "Document.v1.kube.rs/x.ns"),
            "{:?}",
            span.attributes
        );
        assert_eq!(trace_id, Some(span.span_context.trace_id().to_string()));
    }

    #[test]
    fn json_logs_carry_the_object_ref_and_trace_id_of_the_reconcile_span() {
        let exporter = InMemorySpanExporter::default();
        let (_provider, otel) = test_tracer(exporter);
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::registry()
            .with(
                log_layer(LogFormat::Json, move || writer.clone(), false)
                    .with_filter(default_filter()),
            )
            .with(otel.with_filter(default_filter()));

        let trace_id = tracing::subscriber::with_default(subscriber, reconcile_span)
            .expect("OpenTelemetry is installed");

        let lines = captured.lines();
        assert_eq!(lines.len(), 1, "{lines:?}");
        let line = &lines[0];
        assert_eq!(line["fields"]["message"], "reconciled");
        assert_eq!(line["span"]["name"], "reconcile");
        assert_eq!(line["span"]["object.ref"], "Document.v1.kube.rs/x.ns");
        assert_eq!(line["span"]["trace_id"], trace_id.as_str());
        assert_eq!(line["spans"][0]["object.ref"], "Document.v1.kube.rs/x.ns");
    }

    #[test]
    fn there_is_no_trace_id_without_opentelemetry() {
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::registry().with(
            log_layer(LogFormat::Json, move || writer.clone(), false).with_filter(default_filter()),
        );

        let trace_id = tracing::subscriber::with_default(subscriber, reconcile_span);

        assert_eq!(trace_id, None);
        let lines = captured.lines();
        assert_eq!(lines[0]["span"]["object.ref"], "Document.v1.kube.rs/x.ns");
        assert!(lines[0]["span"].get("trace_id").is_none(), "{lines:?}");
    }

    #[test]
    fn there_is_no_trace_id_outside_any_span() {
        let (_provider, layer) = test_tracer(InMemorySpanExporter::default());
        let subscriber = tracing_subscriber::registry().with(layer);

        let trace_id = tracing::subscriber::with_default(subscriber, current_trace_id);

        assert_eq!(trace_id, None);
    }

    #[test]
    fn opentelemetry_is_enabled_by_an_otlp_endpoint_unless_the_sdk_is_disabled() {
        fn enabled(vars: &[(&str, &str)]) -> bool {
            otel_enabled(|name| {
                vars.iter()
                    .find(|(key, _)| *key == name)
                    .map(|(_, value)| (*value).to_owned())
            })
        }

        assert!(!enabled(&[]));
        assert!(!enabled(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "")]));
        assert!(enabled(&[(
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            "http://collector:4317"
        )]));
        assert!(enabled(&[(
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            "http://collector:4317"
        )]));
        assert!(!enabled(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4317"),
            ("OTEL_SDK_DISABLED", "TRUE"),
        ]));
        assert!(enabled(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4317"),
            ("OTEL_SDK_DISABLED", "false"),
        ]));
    }

    #[test]
    fn an_unset_or_empty_rust_log_uses_the_default_filter() {
        for rust_log in [None, Some(""), Some("  ")] {
            let filter = log_filter(rust_log).expect("valid");
            assert_eq!(filter.to_string(), default_filter().to_string());
        }
    }

    #[test]
    fn an_invalid_rust_log_is_an_error_not_silently_ignored() {
        assert!(log_filter(Some("doc_controller=loud")).is_err());
        assert!(log_filter(Some("debug,kube=trace")).is_ok());
    }

    #[test]
    fn the_resource_names_the_service_and_its_version() {
        let resource = resource();
        let attribute = |key: &'static str| {
            resource
                .get(&opentelemetry::Key::new(key))
                .map(|value| value.to_string())
        };

        // The test environment may configure a name of its own, which must then win.
        let expected_name = std::env::var("OTEL_SERVICE_NAME")
            .ok()
            .filter(|name| !name.is_empty())
            .unwrap_or_else(|| DEFAULT_SERVICE_NAME.to_owned());
        if std::env::var_os("OTEL_RESOURCE_ATTRIBUTES").is_none() {
            assert_eq!(attribute("service.name"), Some(expected_name));
        }
        assert_eq!(
            attribute("service.version"),
            Some(env!("CARGO_PKG_VERSION").to_owned())
        );
    }

    #[test]
    fn log_format_parses_lowercase_names_from_config_files() {
        #[derive(serde::Deserialize)]
        struct Config {
            format: LogFormat,
        }
        let parse = |text: &str| serde_json::from_str::<Config>(text).map(|config| config.format);

        assert_eq!(parse(r#"{"format":"json"}"#).ok(), Some(LogFormat::Json));
        assert_eq!(parse(r#"{"format":"text"}"#).ok(), Some(LogFormat::Text));
        assert!(parse(r#"{"format":"xml"}"#).is_err());
    }
}
