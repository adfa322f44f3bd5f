//! Telemetry: the tracer and meter providers, JSON logs, propagation and
//! request spans.
//!
//! [`init`] installs the global `tracing` subscriber (logs filtered by
//! `RUST_LOG`, spans filtered separately so `RUST_LOG=warn` never stops span
//! export) and returns a [`Telemetry`] guard that flushes and shuts the
//! providers down.

mod current;
pub mod db;
mod flush;
pub mod http;
mod logs;
pub mod metrics;
pub mod propagation;
mod resource;
mod sampling;
mod trace;

use std::time::{Duration, Instant};

use opentelemetry_semantic_conventions::attribute as semconv;
use tracing_subscriber::{EnvFilter, Layer, filter::filter_fn, layer::SubscriberExt};

use crate::config::{Config, LogFormat};

pub use logs::format_log_ids;
pub use trace::TelemetryError;

/// Our crate's spans are the only ones exported; everything else is logs
/// only. A `#[tracing::instrument]` function anywhere in this crate has a
/// target under this module path, so it is exported with nothing more to do
/// (docs/extending.md); the crate's own name, so a renamed copy keeps it.
const SPAN_TARGET_PREFIX: &str = env!("CARGO_CRATE_NAME");

/// The service name: `OTEL_SERVICE_NAME`, else a `service.name` in
/// `OTEL_RESOURCE_ATTRIBUTES`, else the crate name; never `unknown_service`.
pub fn service_name(config: &Config) -> String {
    resource::service_name(config)
}

/// Owns the tracer and meter providers; [`Telemetry::shutdown`] exports what is left.
pub struct Telemetry {
    tracing: Option<trace::Tracing>,
    exporting_metrics: Option<metrics::Exporting>,
    metrics: metrics::Metrics,
}

impl Telemetry {
    /// The tracer for request spans, or `None` when spans are off
    /// (`OTEL_TRACES_EXPORTER=none`).
    pub fn tracer(&self) -> Option<opentelemetry_sdk::trace::SdkTracer> {
        self.tracing.as_ref().map(trace::Tracing::tracer)
    }

    /// The instruments (they record nothing when metrics are off).
    pub fn metrics(&self) -> metrics::Metrics {
        self.metrics.clone()
    }

    /// Exports the metrics recorded and the spans ended so far, waiting at
    /// most `timeout` in all; false if a flush did not finish in time (it
    /// goes on in the background).
    pub fn flush(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let metrics = self
            .exporting_metrics
            .as_ref()
            .is_none_or(|m| m.flush(deadline));
        let spans = self.tracing.as_ref().is_none_or(|t| t.flush(deadline));
        metrics && spans
    }

    /// Flushes and shuts the providers down, tracer first (giving up at
    /// `spans_until`), then the meter (at `until`), reporting the first
    /// error after trying both. Spans not exported are counted and logged.
    pub fn shutdown(self, spans_until: Instant, until: Instant) -> Result<(), TelemetryError> {
        let spans = self.tracing.map_or(Ok(()), |t| t.shutdown(spans_until));
        let metrics = self.exporting_metrics.map_or(Ok(()), |m| m.shutdown(until));
        spans.and(metrics)
    }
}

/// The one HTTP client of the OTLP exporters (spans, metrics, and spans signed
/// for X-Ray), built when the first of them needs it: every blocking client
/// runs a thread, a runtime and a connection pool of its own.
struct ExportClient {
    timeout: Duration,
    built: std::cell::OnceCell<reqwest::blocking::Client>,
}

impl ExportClient {
    fn new(timeout: Duration) -> Self {
        Self {
            timeout,
            built: std::cell::OnceCell::new(),
        }
    }

    fn get(&self) -> Result<reqwest::blocking::Client, TelemetryError> {
        if let Some(client) = self.built.get() {
            return Ok(client.clone());
        }
        let client = crate::tls::blocking_client(self.timeout).map_err(http_client_error)?;
        Ok(self.built.get_or_init(|| client).clone())
    }
}

fn http_client_error(e: std::io::Error) -> TelemetryError {
    TelemetryError::Setup(format!("cannot build the HTTP client: {e}"))
}

/// Makes ring the TLS crypto provider (reqwest is built without a default
/// one). Call before any HTTP client is built; a second call does nothing.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Installs logging and tracing for the process. Must run inside the Tokio
/// runtime (the gRPC exporter and the credentials reload use it).
/// `aws` is the process's AWS configuration, needed when trace exports are
/// signed for X-Ray (`telemetry.traces.otlp.auth` in [`Config`]).
pub async fn init(
    config: &Config,
    aws: Option<&aws_config::SdkConfig>,
) -> Result<Telemetry, TelemetryError> {
    let log_filter = EnvFilter::try_new(&config.telemetry.log_filter)
        .map_err(|e| TelemetryError::Setup(format!("RUST_LOG: {e}")))?
        // The exporter wrapper reports export failures, rate-limited.
        .add_directive("opentelemetry_sdk=warn".parse().expect("valid directive"));
    let quiet_export_errors = filter_fn(|meta| meta.name() != "BatchSpanProcessor.ExportError");
    let log_layer = match config.telemetry.log_format {
        LogFormat::Json => logs::json_layer().boxed(),
        LogFormat::Pretty => logs::pretty_layer().boxed(),
    }
    .with_filter(log_filter)
    .with_filter(quiet_export_errors);

    // One resource for traces and metrics, with the ECS task's facts when
    // there is a task metadata endpoint (local to the task, so quick).
    let base = resource::build(config);
    let (resource, ecs_metadata) = match &config.aws.ecs_metadata_uri {
        Some(uri) => match resource::with_ecs_metadata(base.clone(), uri).await {
            Ok(resource) => (resource, Some(Ok(()))),
            Err(e) => (base, Some(Err(e))),
        },
        None => (base, None),
    };
    // Metric exports take the traces' timeout (`OTEL_EXPORTER_OTLP_TIMEOUT`
    // unless one is set for traces): one client, one timeout.
    let http = ExportClient::new(config.telemetry.traces.otlp.timeout);
    let late_metrics = metrics::LateMetrics::default();
    let mut tracing =
        trace::Tracing::new(config, aws, resource.clone(), &http, late_metrics.clone())?;
    let otel_layer = tracing.as_ref().map(|t| {
        tracing_opentelemetry::layer()
            .with_tracer(t.tracer())
            .with_location(false)
            .with_threads(false)
            .with_target(false)
            .with_level(false)
            .with_tracked_inactivity(false)
            // Attaching an OTel context on every poll is the layer's largest cost; our code
            // asks the tracing span for its context instead (`OpenTelemetrySpanExt`).
            // A span with no tracing parent takes the current OTel context: the
            // request's SERVER span, which the middleware makes current.
            .with_context_activation(false)
            .with_filter(filter_fn(|meta| {
                meta.is_span() && meta.target().starts_with(SPAN_TARGET_PREFIX)
            }))
    });

    let subscriber = tracing_subscriber::registry()
        .with(log_layer)
        .with(otel_layer);
    tracing::subscriber::set_global_default(subscriber)
        .map_err(|e| TelemetryError::Setup(e.to_string()))?;
    if let Some(tracing) = tracing.as_mut() {
        tracing.start();
    }

    match ecs_metadata {
        Some(Ok(())) => tracing::info!("ecs task metadata loaded"),
        Some(Err(error)) => {
            tracing::warn!(%error, "cannot read ECS task metadata; telemetry goes without it")
        }
        None => {}
    }
    let namespace = config
        .telemetry
        .metrics
        .namespace
        .clone()
        .unwrap_or_else(|| service_name(config));
    let (exporting_metrics, metrics) =
        match metrics::Exporting::new(config, resource, namespace, &http, &late_metrics)? {
            Some((exporting, metrics)) => (Some(exporting), metrics),
            None => (None, metrics::Metrics::default()),
        };
    tracing::debug!(
        exporter = ?config.telemetry.traces.exporter,
        metrics_exporter = ?config.telemetry.metrics.exporter,
        endpoint = %config.telemetry.traces.otlp.endpoint,
        auth = ?config.telemetry.traces.otlp.auth,
        { semconv::SERVICE_NAME } = %service_name(config),
        "telemetry ready"
    );
    Ok(Telemetry {
        tracing,
        exporting_metrics,
        metrics,
    })
}
