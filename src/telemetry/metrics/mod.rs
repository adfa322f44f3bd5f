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
mod series;

use std::{
    sync::{Arc, Weak},
    time::{Duration, Instant},
};

use opentelemetry::{
    KeyValue,
    metrics::{Counter, Histogram, MeterProvider as _},
};
use opentelemetry_otlp::{MetricExporter as OtlpExporter, WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::{
    Resource,
    error::OTelSdkResult,
    metrics::{
        InstrumentKind, ManualReader, PeriodicReader, Pipeline, SdkMeterProvider, Temporality,
        data::ResourceMetrics, reader::MetricReader,
    },
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

/// The instruments, or nothing when `OTEL_METRICS_EXPORTER=none`. Cheap to clone.
#[derive(Clone, Debug, Default)]
pub struct Metrics(Option<Arc<Instruments>>);

#[derive(Debug)]
struct Instruments {
    server: series::ServerDuration,
    client: Histogram<f64>,
    aws_call: Histogram<f64>,
    coldstarts: Counter<u64>,
}

impl Metrics {
    fn from_provider(provider: &SdkMeterProvider) -> Self {
        let meter = provider.meter(env!("CARGO_PKG_NAME"));
        let duration = |name: &'static str, description: &'static str| {
            meter
                .f64_histogram(name)
                .with_unit("s")
                .with_description(description)
                .with_boundaries(catalog::DURATION_BUCKETS.to_vec())
                .build()
        };
        Self(Some(Arc::new(Instruments {
            server: series::ServerDuration::new(duration(
                catalog::SERVER_DURATION,
                "Duration of HTTP server requests.",
            )),
            client: duration(
                catalog::CLIENT_DURATION,
                "Duration of HTTP client requests.",
            ),
            aws_call: duration(catalog::AWS_CALL_DURATION, "Duration of AWS SDK calls."),
            coldstarts: meter
                .u64_counter(catalog::COLDSTARTS)
                .with_unit("{coldstart}")
                .with_description("Number of invocation cold starts.")
                .build(),
        })))
    }

    /// Records one served request.
    pub fn record_server(&self, facts: &ServerFacts<'_>) {
        if let Some(i) = &self.0 {
            i.server.record(facts);
        }
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

    /// Counts the first invocation of a Lambda sandbox.
    pub fn record_coldstart(&self) {
        if let Some(i) = &self.0 {
            i.coldstarts.add(1, &[]);
        }
    }
}

fn scheme(scheme: &str) -> &'static str {
    if scheme.eq_ignore_ascii_case("https") {
        "https"
    } else {
        "http"
    }
}

/// Owns the meter provider and how a flush reaches its exporter.
pub(super) struct Exporting {
    provider: SdkMeterProvider,
    flush: Flush,
}

enum Flush {
    /// A remote exporter: on its own thread, so Lambda can stop waiting at a deadline.
    Bounded(Flusher),
    /// EMF on Lambda: collected and written by the flushing thread itself.
    Inline(InlineEmf),
    /// EMF on ECS and console: the provider's flush, stdout needs no deadline.
    Provider,
}

struct InlineEmf {
    reader: Arc<ManualReader>,
    exporter: emf::EmfExporter,
}

impl InlineEmf {
    fn flush(&self) {
        let mut collected = ResourceMetrics::default();
        let written = self
            .reader
            .collect(&mut collected)
            .and_then(|()| self.exporter.write(&collected));
        if let Err(e) = written {
            tracing::debug!(error = %e, "metrics flush failed");
        }
    }
}

/// The provider owns its readers; this lets the flush hold the same one.
#[derive(Debug)]
struct SharedReader(Arc<ManualReader>);

impl MetricReader for SharedReader {
    fn register_pipeline(&self, pipeline: Weak<Pipeline>) {
        self.0.register_pipeline(pipeline);
    }

    fn collect(&self, rm: &mut ResourceMetrics) -> OTelSdkResult {
        self.0.collect(rm)
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.0.force_flush()
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.0.shutdown_with_timeout(timeout)
    }

    fn temporality(&self, kind: InstrumentKind) -> Temporality {
        self.0.temporality(kind)
    }
}

impl Exporting {
    /// The provider for the configured exporter, or `None` for `none`.
    pub(super) fn new(
        config: &Config,
        resource: Resource,
        namespace: String,
    ) -> Result<Option<(Self, Metrics)>, TelemetryError> {
        let builder = SdkMeterProvider::builder().with_resource(resource.clone());
        let mut flushing_by = Flush::Provider;
        // The reader reads OTEL_METRIC_EXPORT_INTERVAL itself (default 60 s).
        let builder = match config.telemetry.metrics.exporter {
            MetricsExporter::None => return Ok(None),
            MetricsExporter::Otlp => {
                let exporter = match config.telemetry.metrics.otlp_protocol {
                    OtlpProtocol::HttpProtobuf => OtlpExporter::builder()
                        .with_http()
                        // The traces' timeout (OTEL_EXPORTER_OTLP_TIMEOUT unless set for traces).
                        .with_http_client(super::otlp_http_client(
                            config.telemetry.traces.otlp.timeout,
                        )?)
                        .with_endpoint(&config.telemetry.metrics.otlp_endpoint)
                        .with_temporality(Temporality::Delta)
                        .build()?,
                    OtlpProtocol::Grpc => OtlpExporter::builder()
                        .with_tonic()
                        .with_endpoint(&config.telemetry.metrics.otlp_endpoint)
                        .with_temporality(Temporality::Delta)
                        .build()?,
                };
                builder.with_reader(PeriodicReader::builder(exporter).build())
            }
            // On Lambda the invocation's flush collects and writes the line
            // itself: handing it to a reader thread and back cost a wake-up each.
            MetricsExporter::Emf if config.target == Target::Lambda => {
                let reader = Arc::new(
                    ManualReader::builder()
                        .with_temporality(Temporality::Delta)
                        .build(),
                );
                let exporter = emf::EmfExporter::new(namespace, &resource, config.target);
                flushing_by = Flush::Inline(InlineEmf {
                    reader: Arc::clone(&reader),
                    exporter,
                });
                builder.with_reader(SharedReader(reader))
            }
            MetricsExporter::Emf => {
                let exporter = emf::EmfExporter::new(namespace, &resource, config.target);
                builder.with_reader(PeriodicReader::builder(exporter).build())
            }
            MetricsExporter::Console => {
                builder.with_reader(PeriodicReader::builder(console::ConsoleExporter).build())
            }
        };
        let provider = builder.build();
        let metrics = Metrics::from_provider(&provider);
        if config.telemetry.metrics.exporter == MetricsExporter::Otlp {
            let flushing = provider.clone();
            let flusher =
                Flusher::spawn("otel-metrics-flush", move || flush(&flushing)).map_err(|e| {
                    TelemetryError::Setup(format!("cannot start the flush thread: {e}"))
                })?;
            flushing_by = Flush::Bounded(flusher);
        }
        Ok(Some((
            Self {
                provider,
                flush: flushing_by,
            },
            metrics,
        )))
    }

    /// Exports what was recorded so far, waiting until `deadline` for a
    /// remote exporter.
    pub(super) fn flush(&self, deadline: Instant) -> bool {
        match &self.flush {
            Flush::Bounded(flusher) => flusher.flush_until(deadline),
            Flush::Inline(inline) => {
                inline.flush();
                true
            }
            Flush::Provider => {
                flush(&self.provider);
                true
            }
        }
    }

    pub(super) fn shutdown(self, timeout: Duration) -> Result<(), TelemetryError> {
        match self.flush {
            // A manual reader exports nothing at shutdown by itself.
            Flush::Inline(inline) => inline.flush(),
            // Stops the flush thread before the provider goes.
            Flush::Bounded(flusher) => drop(flusher),
            Flush::Provider => {}
        }
        Ok(self.provider.shutdown_with_timeout(timeout)?)
    }
}

fn flush(provider: &SdkMeterProvider) {
    if let Err(e) = provider.force_flush() {
        tracing::debug!(error = %e, "metrics flush failed");
    }
}

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
