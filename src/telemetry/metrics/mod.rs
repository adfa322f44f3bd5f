//! Request metrics: the meter provider, its exporter, and the instruments
//! handlers and middleware record into.
//!
//! Instruments are made once at start-up and shared as a [`Metrics`] handle
//! (in `AppState` and the request middleware). Recording only updates the
//! SDK's in-memory aggregates; export runs on the SDK's reader thread, so
//! exporter trouble never reaches a request. Temporality is delta everywhere:
//! the collector's `awsemf` exporter does not turn cumulative histograms into
//! deltas, and our EMF writer reports each Lambda invocation's own values.
//!
//! Names, units, buckets and CloudWatch dimensions live in [`catalog`].

pub mod catalog;
mod console;
mod emf;
mod guarded;

use std::{
    sync::{Arc, OnceLock},
    time::{Duration, Instant},
};

use opentelemetry::{
    KeyValue,
    metrics::{Counter, Histogram, Meter, MeterProvider as _},
};
use opentelemetry_otlp::{MetricExporter as OtlpExporter, WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::{
    Resource,
    metrics::{PeriodicReader, SdkMeterProvider, Temporality, exporter::PushMetricExporter},
};
use opentelemetry_semantic_conventions::attribute as semconv;

use super::{TelemetryError, flush::Flusher, http::known_method};
use crate::config::{Config, MetricsExporter, OtlpProtocol, Target};

/// What one finished request contributes to `http.server.request.duration`.
#[derive(Clone, Copy, Debug)]
pub struct ServerFacts<'a> {
    pub method: &'a http::Method,
    /// The matched route; `None` for an unmatched path (never the raw path).
    pub route: Option<&'a str>,
    pub status: u16,
    pub scheme: &'a str,
    pub duration: Duration,
}

/// The instruments for what is built before them (the span pipeline, the
/// metric exporter itself), filled in once the meter exists.
#[derive(Clone, Debug, Default)]
pub(crate) struct LateMetrics(Arc<OnceLock<Metrics>>);

impl LateMetrics {
    pub(crate) fn set(&self, metrics: Metrics) {
        let _ = self.0.set(metrics);
    }

    pub(crate) fn get(&self) -> Option<&Metrics> {
        self.0.get()
    }
}

/// The instruments, or nothing when `OTEL_METRICS_EXPORTER=none`. Cheap to clone.
#[derive(Clone, Debug, Default)]
pub struct Metrics(Option<Arc<Instruments>>);

#[derive(Debug)]
struct Instruments {
    server: Histogram<f64>,
    client: Histogram<f64>,
    aws_call: Histogram<f64>,
    coldstarts: Counter<u64>,
    shed: Counter<u64>,
    spans_processed: Counter<u64>,
    spans_exported: Counter<u64>,
    points_exported: Counter<u64>,
    db: Histogram<f64>,
}

impl Metrics {
    fn from_provider(provider: &SdkMeterProvider) -> Self {
        let meter = provider.meter(env!("CARGO_PKG_NAME"));
        Self(Some(Arc::new(Instruments {
            server: histogram(&meter, &catalog::SERVER),
            client: histogram(&meter, &catalog::CLIENT),
            aws_call: histogram(&meter, &catalog::AWS_CALL),
            coldstarts: counter(&meter, &catalog::COLDSTART),
            shed: counter(&meter, &catalog::SHED),
            spans_processed: counter(&meter, &catalog::SPAN_PROCESSED),
            spans_exported: counter(&meter, &catalog::SPAN_EXPORTED),
            points_exported: counter(&meter, &catalog::METRIC_POINT_EXPORTED),
            db: histogram(&meter, &catalog::DB),
        })))
    }

    /// Records one served request.
    pub fn record_server(&self, facts: &ServerFacts<'_>) {
        let Some(i) = &self.0 else { return };
        let method = known_method(facts.method);
        let mut attributes = Vec::with_capacity(6);
        attributes.push(KeyValue::new(semconv::HTTP_REQUEST_METHOD, method));
        if let Some(route) = facts.route {
            attributes.push(KeyValue::new(semconv::HTTP_ROUTE, route.to_owned()));
        }
        attributes.push(KeyValue::new(
            semconv::HTTP_RESPONSE_STATUS_CODE,
            i64::from(facts.status),
        ));
        attributes.push(KeyValue::new(
            catalog::STATUS_CLASS,
            catalog::status_class(facts.status),
        ));
        attributes.push(KeyValue::new(semconv::URL_SCHEME, scheme(facts.scheme)));
        if facts.status >= 500 {
            // Semconv: a server error's type is its status code.
            attributes.push(KeyValue::new(semconv::ERROR_TYPE, facts.status.to_string()));
        }
        i.server.record(facts.duration.as_secs_f64(), &attributes);
    }

    /// Records one upstream HTTP call: its status, or the error that ended it.
    pub fn record_client(
        &self,
        method: &http::Method,
        server_address: &str,
        outcome: Result<u16, &'static str>,
        duration: Duration,
    ) {
        let Some(i) = &self.0 else { return };
        let mut attributes = vec![
            KeyValue::new(semconv::HTTP_REQUEST_METHOD, known_method(method)),
            KeyValue::new(semconv::SERVER_ADDRESS, server_address.to_owned()),
        ];
        match outcome {
            Ok(status) => {
                attributes.push(KeyValue::new(
                    semconv::HTTP_RESPONSE_STATUS_CODE,
                    i64::from(status),
                ));
                if status >= 400 {
                    attributes.push(KeyValue::new(semconv::ERROR_TYPE, status.to_string()));
                }
            }
            Err(error_type) => attributes.push(KeyValue::new(semconv::ERROR_TYPE, error_type)),
        }
        i.client.record(duration.as_secs_f64(), &attributes);
    }

    /// Records one AWS SDK call (`service` `DynamoDB`, `method` `GetItem`);
    /// `error_type` is the error's kind when the call failed.
    pub fn record_aws_call(
        &self,
        service: &str,
        method: &str,
        error_type: Option<&str>,
        duration: Duration,
    ) {
        let Some(i) = &self.0 else { return };
        let mut attributes = vec![
            KeyValue::new(catalog::RPC_SYSTEM, "aws-api"),
            KeyValue::new(catalog::RPC_SERVICE, service.to_owned()),
            KeyValue::new(catalog::RPC_METHOD, method.to_owned()),
        ];
        if let Some(error_type) = error_type {
            attributes.push(KeyValue::new(semconv::ERROR_TYPE, error_type.to_owned()));
        }
        i.aws_call.record(duration.as_secs_f64(), &attributes);
    }

    /// Counts a request refused by load shedding.
    pub fn record_shed(&self) {
        if let Some(i) = &self.0 {
            i.shed.add(1, &[]);
        }
    }

    /// Counts spans handed to the exporter, or dropped with `error_type`.
    pub fn record_spans_processed(&self, spans: u64, error_type: Option<&'static str>) {
        if let Some(i) = &self.0 {
            i.spans_processed.add(spans, &loss(error_type));
        }
    }

    /// Counts spans whose export finished, failed with `error_type`.
    pub fn record_spans_exported(&self, spans: u64, error_type: Option<&'static str>) {
        if let Some(i) = &self.0 {
            i.spans_exported.add(spans, &loss(error_type));
        }
    }

    /// Counts metric data points whose export finished, failed with `error_type`.
    pub fn record_points_exported(&self, points: u64, error_type: Option<&'static str>) {
        if let Some(i) = &self.0 {
            i.points_exported.add(points, &loss(error_type));
        }
    }

    /// Records one database operation (`db.system.name`, `db.operation.name`,
    /// `db.collection.name` when known); `error_type` when it failed.
    pub fn record_db(&self, attributes: &[KeyValue], error_type: Option<&str>, duration: Duration) {
        let Some(i) = &self.0 else { return };
        let mut attributes = attributes.to_vec();
        if let Some(error_type) = error_type {
            attributes.push(KeyValue::new(semconv::ERROR_TYPE, error_type.to_owned()));
        }
        i.db.record(duration.as_secs_f64(), &attributes);
    }

    /// Counts the first invocation of a Lambda sandbox.
    pub fn record_coldstart(&self) {
        if let Some(i) = &self.0 {
            i.coldstarts.add(1, &[]);
        }
    }
}

fn loss(error_type: Option<&'static str>) -> Vec<KeyValue> {
    error_type
        .map(|e| KeyValue::new(semconv::ERROR_TYPE, e))
        .into_iter()
        .collect()
}

/// The catalogue's histogram `entry`; an entry of another kind gets the SDK's
/// default buckets, which the catalogue test reports.
fn histogram(meter: &Meter, entry: &catalog::Instrument) -> Histogram<f64> {
    let builder = meter
        .f64_histogram(entry.name)
        .with_unit(entry.unit)
        .with_description(entry.description);
    match entry.kind {
        catalog::Kind::Histogram(boundaries) => builder.with_boundaries(boundaries.to_vec()),
        catalog::Kind::Counter => builder,
    }
    .build()
}

fn counter(meter: &Meter, entry: &catalog::Instrument) -> Counter<u64> {
    meter
        .u64_counter(entry.name)
        .with_unit(entry.unit)
        .with_description(entry.description)
        .build()
}

fn scheme(scheme: &str) -> &'static str {
    if scheme.eq_ignore_ascii_case("https") {
        "https"
    } else {
        "http"
    }
}

/// On Lambda each invocation's flush writes its EMF line, so the reader's
/// own timer must never fire: an export mid-invocation would split its line.
/// Long, but far from overflowing the reader's `Instant` arithmetic.
const LAMBDA_EMF_INTERVAL: Duration = Duration::from_secs(365 * 24 * 60 * 60);

/// The reader of an EMF exporter; on ECS it reads OTEL_METRIC_EXPORT_INTERVAL
/// itself (default 60 s).
fn emf_reader<E: PushMetricExporter>(exporter: E, target: Target) -> PeriodicReader<E> {
    let reader = PeriodicReader::builder(exporter);
    match target {
        Target::Lambda => reader.with_interval(LAMBDA_EMF_INTERVAL),
        Target::Http => reader,
    }
    .build()
}

/// Owns the meter provider and the thread that flushes it.
pub(super) struct Exporting {
    provider: SdkMeterProvider,
    flusher: Flusher,
}

impl Exporting {
    /// The provider for the configured exporter, or `None` for `none`.
    /// `late` gets the instruments once they exist, for what was built before.
    pub(super) fn new(
        config: &Config,
        resource: Resource,
        namespace: String,
        http: &super::ExportClient,
        late: &LateMetrics,
    ) -> Result<Option<(Self, Metrics)>, TelemetryError> {
        let builder = SdkMeterProvider::builder().with_resource(resource.clone());
        let builder = match config.telemetry.metrics.exporter {
            MetricsExporter::None => return Ok(None),
            MetricsExporter::Otlp => {
                let exporter = match config.telemetry.metrics.otlp_protocol {
                    OtlpProtocol::HttpProtobuf => OtlpExporter::builder()
                        .with_http()
                        .with_http_client(http.get()?)
                        .with_endpoint(&config.telemetry.metrics.otlp_endpoint)
                        .with_temporality(Temporality::Delta)
                        .build()?,
                    OtlpProtocol::Grpc => OtlpExporter::builder()
                        .with_tonic()
                        .with_endpoint(&config.telemetry.metrics.otlp_endpoint)
                        .with_temporality(Temporality::Delta)
                        .build()?,
                };
                let exporter = guarded::Guarded::new(exporter, late.clone());
                // Reads OTEL_METRIC_EXPORT_INTERVAL itself (default 60 s).
                builder.with_reader(PeriodicReader::builder(exporter).build())
            }
            MetricsExporter::Emf => {
                let exporter = emf::EmfExporter::new(namespace, &resource, config.target);
                let exporter = guarded::Guarded::new(exporter, late.clone());
                builder.with_reader(emf_reader(exporter, config.target))
            }
            MetricsExporter::Console => {
                builder.with_reader(PeriodicReader::builder(console::ConsoleExporter).build())
            }
        };
        let provider = builder.build();
        let metrics = Metrics::from_provider(&provider);
        late.set(metrics.clone());
        // The reader's own flush waits without a deadline; this thread lets
        // Lambda stop waiting at one even if an export hangs.
        let flushing = provider.clone();
        let flusher = Flusher::spawn("otel-metrics-flush", move || flush(&flushing))
            .map_err(|e| TelemetryError::Setup(format!("cannot start the flush thread: {e}")))?;
        Ok(Some((Self { provider, flusher }, metrics)))
    }

    /// Exports what was recorded so far, waiting until `deadline`.
    pub(super) fn flush(&self, deadline: Instant) -> bool {
        self.flusher.flush_until(deadline)
    }

    /// Exports what is left (the reader does so at shutdown) and stops,
    /// giving up at `until`. The SDK's own shutdown ignores its timeout and
    /// waits up to 5 s, so it runs on a thread of its own.
    pub(super) fn shutdown(self, until: Instant) -> Result<(), TelemetryError> {
        // Stops the flush thread before the provider goes.
        drop(self.flusher);
        let (done, result) = std::sync::mpsc::sync_channel(1);
        let provider = self.provider;
        std::thread::Builder::new()
            .name("otel-metrics-shutdown".to_owned())
            .spawn(move || {
                let _ = done.send(provider.shutdown());
            })
            .map_err(|e| TelemetryError::Setup(format!("cannot start the shutdown thread: {e}")))?;
        let timeout = until.saturating_duration_since(Instant::now());
        match result.recv_timeout(timeout) {
            Ok(result) => Ok(result?),
            Err(_) => Err(opentelemetry_sdk::error::OTelSdkError::Timeout(timeout).into()),
        }
    }
}

fn flush(provider: &SdkMeterProvider) {
    if let Err(e) = provider.force_flush() {
        tracing::debug!(error = %e, "metrics flush failed");
    }
}

#[cfg(test)]
mod meter_tests;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_methods_and_schemes_stay_low_cardinality() {
        let custom = http::Method::from_bytes(b"PURGE").unwrap();
        assert_eq!(known_method(&custom), "_OTHER");
        assert_eq!(known_method(&http::Method::GET), "GET");
        assert_eq!(scheme("HTTPS"), "https");
        assert_eq!(scheme("gopher"), "http");
    }
}
