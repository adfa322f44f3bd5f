//! The tracer provider: exporter choice, batching, X-Ray ids, our sampler,
//! and a bounded flush for Lambda.
//!
//! Keeping an incoming X-Ray `Root` that has no `Parent` (what an ALB sends)
//! needs two small pieces: [`RootAwareIds`] hands that trace id to the SDK
//! when it asks for a new one, and [`XraySampler`] applies the header's
//! `Sampled` flag. [`start_server_span`] ties them together for one server span.

use std::{cell::Cell, sync::Arc, time::Duration};

use opentelemetry::{
    Context, KeyValue,
    trace::{
        Link, SpanBuilder, SpanKind, TraceContextExt, TraceId, TraceState, TracerProvider as _,
    },
};
use opentelemetry_otlp::{SpanExporter as OtlpExporter, WithExportConfig};
use opentelemetry_sdk::trace::{
    BatchConfigBuilder, BatchSpanProcessor, IdGenerator, RandomIdGenerator, Sampler,
    SamplingDecision, SamplingResult, SdkTracer, SdkTracerProvider, ShouldSample,
};

use super::{flush::Flusher, propagation::IncomingRoot, resource};
use crate::config::{Config, OtlpProtocol, SamplerConfig, TracesAuth, TracesExporter};

mod cause;
mod console;
mod credentials;
mod guarded;
mod otlp;
mod sigv4;

#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    #[error("cannot build the OTLP exporter: {0}")]
    Exporter(#[from] opentelemetry_otlp::ExporterBuildError),
    #[error("cannot set up telemetry: {0}")]
    Setup(String),
    #[error(
        "OTEL_EXPORTER_OTLP_TRACES_AUTH=sigv4 needs AWS credentials, but no AWS configuration was loaded"
    )]
    NoAwsConfig,
    #[error("telemetry provider shutdown: {0}")]
    Shutdown(#[from] opentelemetry_sdk::error::OTelSdkError),
}

pub(super) struct Tracing {
    provider: SdkTracerProvider,
    flusher: Flusher,
    late_resource: guarded::LateResource,
    _reloader: Option<credentials::Reloader>,
}

impl Tracing {
    /// `None` when `OTEL_TRACES_EXPORTER=none`: no spans are made at all.
    /// `aws` is needed only when exports are signed (`TracesAuth::SigV4`).
    pub(super) fn new(
        config: &Config,
        aws: Option<&aws_config::SdkConfig>,
    ) -> Result<Option<Self>, TelemetryError> {
        let resource = resource::build(config);
        let late_resource = guarded::LateResource::default();
        let last_failure = cause::LastFailure::default();
        let mut reloader = None;
        let builder = SdkTracerProvider::builder();
        let builder = match config.telemetry.traces.exporter {
            TracesExporter::None => return Ok(None),
            TracesExporter::Console => builder.with_span_processor(batch(
                config,
                console::ConsoleExporter::default(),
                &late_resource,
                guarded::Reporter::new(None, last_failure),
            )),
            TracesExporter::Otlp => {
                let reporter = guarded::Reporter::new(
                    Some(config.telemetry.traces.otlp.endpoint.clone()),
                    last_failure.clone(),
                );
                match config.telemetry.traces.otlp.protocol {
                    OtlpProtocol::HttpProtobuf => {
                        let client = otlp_http_client(config, aws, &last_failure, &mut reloader)?;
                        let exporter = otlp::OtlpHttpExporter::new(
                            client,
                            &config.telemetry.traces.otlp.endpoint,
                            config.telemetry.traces.otlp.headers.clone(),
                            config.telemetry.traces.otlp.gzip,
                            config.telemetry.traces.otlp.timeout,
                        )
                        .map_err(|e| TelemetryError::Setup(format!("traces endpoint: {e}")))?;
                        let sizes = otlp::Sizes {
                            queue: config.telemetry.traces.batch.queue_size,
                            batch: config.telemetry.traces.batch.batch_size,
                            delay: config.telemetry.traces.batch.schedule_delay,
                            flush_timeout: config.telemetry.traces.batch.flush_timeout,
                        };
                        let pipeline =
                            otlp::Pipeline::new(exporter, sizes, late_resource.clone(), reporter)
                                .map_err(|e| {
                                TelemetryError::Setup(format!(
                                    "cannot start the span pipeline: {e}"
                                ))
                            })?;
                        builder.with_span_processor(pipeline)
                    }
                    OtlpProtocol::Grpc => {
                        let exporter = OtlpExporter::builder()
                            .with_tonic()
                            .with_endpoint(&config.telemetry.traces.otlp.endpoint)
                            .with_timeout(config.telemetry.traces.otlp.timeout)
                            .build()?;
                        builder.with_span_processor(batch(
                            config,
                            exporter,
                            &late_resource,
                            reporter,
                        ))
                    }
                }
            }
        };
        let provider = builder
            .with_id_generator(RootAwareIds::default())
            .with_sampler(XraySampler::new(config.telemetry.traces.sampler))
            .with_resource(resource)
            .build();
        let flushing = provider.clone();
        let flusher = Flusher::spawn("otel-flush", move || {
            if let Err(e) = flushing.force_flush() {
                tracing::debug!(error = %e, "flush failed");
            }
        })
        .map_err(|e| TelemetryError::Setup(format!("cannot start the flush thread: {e}")))?;
        Ok(Some(Self {
            flusher,
            provider,
            late_resource,
            _reloader: reloader,
        }))
    }

    pub(super) fn tracer(&self) -> SdkTracer {
        self.provider.tracer(env!("CARGO_PKG_NAME"))
    }

    pub(super) fn flush(&self, deadline: std::time::Instant) -> bool {
        self.flusher.flush_until(deadline)
    }

    /// ECS task metadata arrives after start-up; exports pick it up from then on.
    pub(super) fn load_ecs_metadata(&self, config: &Config) {
        if let Some(uri) = config.aws.ecs_metadata_uri.clone() {
            let base = resource::build(config);
            let late = self.late_resource.clone();
            tokio::spawn(async move {
                if let Some(resource) = resource::with_ecs_metadata(base, &uri).await {
                    late.set(resource);
                    tracing::info!("ecs task metadata loaded");
                }
            });
        }
    }

    pub(super) fn shutdown(self, timeout: Duration) -> Result<(), TelemetryError> {
        drop(self.flusher);
        Ok(self.provider.shutdown_with_timeout(timeout)?)
    }
}

/// The HTTP client for OTLP/HTTP trace exports: plain, or signing for X-Ray
/// (then `reloader` gets the task that keeps its credentials fresh).
fn otlp_http_client(
    config: &Config,
    aws: Option<&aws_config::SdkConfig>,
    last_failure: &cause::LastFailure,
    reloader: &mut Option<credentials::Reloader>,
) -> Result<Arc<dyn opentelemetry_http::HttpClient>, TelemetryError> {
    Ok(match &config.telemetry.traces.otlp.auth {
        // The usual endpoint, a collector on the same host: sent from the span thread itself.
        TracesAuth::None if config.telemetry.traces.otlp.endpoint.starts_with("http://") => {
            Arc::new(otlp::InThreadClient::new(
                config.telemetry.traces.otlp.timeout,
            ))
        }
        TracesAuth::None => Arc::new(
            crate::tls::async_client(config.telemetry.traces.otlp.timeout)
                .map_err(super::http_client_error)?,
        ),
        TracesAuth::SigV4 { region } => {
            let provider = aws
                .and_then(|aws| aws.credentials_provider())
                .ok_or(TelemetryError::NoAwsConfig)?;
            let (cache, task) = credentials::CredentialsCache::spawn(provider);
            *reloader = Some(task);
            let client = sigv4::SigningClient::new(
                cache,
                region.clone(),
                config.telemetry.traces.otlp.timeout,
                last_failure.clone(),
            )
            .map_err(super::http_client_error)?;
            Arc::new(client)
        }
    })
}

/// The SDK's batch processor (its own thread, bounded queue, counted drops)
/// around `exporter`, guarded (`guarded.rs`), for the console and gRPC
/// exporters; OTLP/HTTP has its own pipeline (`otlp/pipeline.rs`).
fn batch<E: opentelemetry_sdk::trace::SpanExporter + 'static>(
    config: &Config,
    exporter: E,
    late_resource: &guarded::LateResource,
    reporter: guarded::Reporter,
) -> BatchSpanProcessor {
    let exporter = guarded::Guarded::new(exporter, late_resource.clone(), reporter);
    let sizes = BatchConfigBuilder::default()
        .with_max_queue_size(config.telemetry.traces.batch.queue_size)
        .with_max_export_batch_size(config.telemetry.traces.batch.batch_size)
        .with_scheduled_delay(config.telemetry.traces.batch.schedule_delay)
        .build();
    BatchSpanProcessor::builder(exporter)
        .with_batch_config(sizes)
        .build()
}

thread_local! {
    /// The trace id the next root span on this thread must use, set only
    /// inside [`start_server_span`].
    static NEXT_TRACE_ID: Cell<Option<TraceId>> = const { Cell::new(None) };
}

/// X-Ray ids (epoch seconds first), or the incoming `Root` when there is one.
///
/// opentelemetry-aws's `XrayIdGenerator` makes the same ids through two
/// `format!` calls and a hex parse, about 2k instructions per trace; this
/// writes the four time bytes over a random id instead.
#[derive(Debug, Default)]
struct RootAwareIds(RandomIdGenerator);

impl RootAwareIds {
    fn xray_trace_id(&self) -> TraceId {
        let epoch = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let mut bytes = self.0.new_trace_id().to_bytes();
        // X-Ray reads the first 32 bits as the start time in epoch seconds.
        bytes[..4].copy_from_slice(&(epoch as u32).to_be_bytes());
        TraceId::from_bytes(bytes)
    }
}

impl IdGenerator for RootAwareIds {
    fn new_trace_id(&self) -> TraceId {
        NEXT_TRACE_ID
            .with(Cell::take)
            .unwrap_or_else(|| self.xray_trace_id())
    }

    fn new_span_id(&self) -> opentelemetry::trace::SpanId {
        self.0.new_span_id()
    }
}

/// Starts the request's SERVER span under the parent extracted from its
/// headers and returns the context that carries it. A parentless X-Ray
/// `Root` becomes the span's trace id.
pub(super) fn start_server_span(tracer: &SdkTracer, span: SpanBuilder, parent: Context) -> Context {
    let adopted_root = parent
        .get::<IncomingRoot>()
        .filter(|_| !parent.span().span_context().is_valid())
        .map(|root| root.trace_id);
    if let Some(trace_id) = adopted_root {
        NEXT_TRACE_ID.with(|next| next.set(Some(trace_id)));
    }
    // The SDK asks for the trace id here, on this thread, synchronously.
    let span = span.start_with_context(tracer, &parent);
    if adopted_root.is_some() {
        NEXT_TRACE_ID.with(|next| next.set(None));
    }
    parent.with_span(span)
}

/// The configured sampler, plus the X-Ray header's own decision where the
/// SDK cannot see it: a `Root` without `Parent`, or `Sampled=?`.
#[derive(Clone, Debug)]
struct XraySampler(Sampler);

impl XraySampler {
    fn new(config: SamplerConfig) -> Self {
        let sampler = match config {
            SamplerConfig::AlwaysOn => Sampler::AlwaysOn,
            SamplerConfig::AlwaysOff => Sampler::AlwaysOff,
            SamplerConfig::TraceIdRatio(r) => Sampler::TraceIdRatioBased(r),
            SamplerConfig::ParentBasedAlwaysOn => Sampler::ParentBased(Box::new(Sampler::AlwaysOn)),
            SamplerConfig::ParentBasedAlwaysOff => {
                Sampler::ParentBased(Box::new(Sampler::AlwaysOff))
            }
            SamplerConfig::ParentBasedTraceIdRatio(r) => {
                Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(r)))
            }
        };
        Self(sampler)
    }
}

impl ShouldSample for XraySampler {
    fn should_sample(
        &self,
        parent: Option<&Context>,
        trace_id: TraceId,
        name: &str,
        kind: &SpanKind,
        attributes: &[KeyValue],
        links: &[Link],
    ) -> SamplingResult {
        let incoming = parent.and_then(|cx| {
            let span = cx.span();
            let sc = span.span_context();
            // Only the server span itself: its children have a local parent.
            (!sc.is_valid() || sc.is_remote()).then(|| cx.get::<IncomingRoot>().copied())?
        });
        let decision = match incoming.map(|root| root.sampled) {
            Some(Some(true)) => SamplingDecision::RecordAndSample,
            Some(Some(false)) => SamplingDecision::Drop,
            Some(None) => {
                // Decide as for a new trace, keeping the trace id.
                return self
                    .0
                    .should_sample(None, trace_id, name, kind, attributes, links);
            }
            None => {
                return self
                    .0
                    .should_sample(parent, trace_id, name, kind, attributes, links);
            }
        };
        SamplingResult {
            decision,
            attributes: Vec::new(),
            trace_state: TraceState::NONE,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trace_ids_start_with_the_epoch_seconds_as_xray_wants() {
        let ids = RootAwareIds::default();
        let before = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let (a, b) = (ids.new_trace_id(), ids.new_trace_id());
        let after = before + 2;
        for id in [a, b] {
            let secs = u64::from(u32::from_be_bytes(id.to_bytes()[..4].try_into().unwrap()));
            assert!((before..=after).contains(&secs), "{id}");
        }
        assert_ne!(a, b);
        assert_ne!(a.to_bytes()[4..], [0; 12]);
    }
}
