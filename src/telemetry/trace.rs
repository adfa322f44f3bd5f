//! The tracer provider: opentelemetry-otlp's exporters under the SDK's
//! batch processor, X-Ray ids, our sampler, and a bounded flush for Lambda.
//!
//! Keeping an incoming X-Ray `Root` that has no `Parent` (what an ALB sends)
//! needs two small pieces: [`RootAwareIds`] hands that trace id to the SDK
//! when it asks for a new one, and [`XraySampler`] applies the header's
//! `Sampled` flag. [`start_server_span`] ties them together for one server span.

use std::{cell::Cell, collections::HashMap, sync::Arc, time::Instant};

use opentelemetry::{
    Context, KeyValue,
    trace::{
        Link, SpanBuilder, SpanKind, TraceContextExt, TraceId, TraceState, TracerProvider as _,
    },
};
use opentelemetry_otlp::{
    Compression, SpanExporter as OtlpExporter, WithExportConfig, WithHttpConfig,
};
use opentelemetry_sdk::{
    Resource,
    trace::{
        BatchConfigBuilder, BatchSpanProcessor, IdGenerator, RandomIdGenerator, Sampler,
        SamplingDecision, SamplingResult, SdkTracer, SdkTracerProvider, ShouldSample,
    },
};

use super::{flush::Flusher, metrics::LateMetrics, propagation::IncomingRoot};
use crate::config::{Config, OtlpProtocol, SamplerConfig, TracesAuth, TracesExporter};

mod appsignals;
mod capped;
mod cause;
mod console;
mod counted;
pub(super) mod credentials;
mod guarded;
mod remote;
pub(super) mod sigv4;
mod udp;

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
    counts: Arc<counted::SpanCounts>,
    _reloader: Option<credentials::Reloader>,
    sampling: Option<super::sampling::Polling>,
}

impl Tracing {
    /// `None` when `OTEL_TRACES_EXPORTER=none`: no spans are made at all.
    /// `aws` is needed only when exports are signed (`TracesAuth::SigV4`);
    /// `metrics` counts what becomes of the spans once the meter exists.
    pub(super) fn new(
        config: &Config,
        aws: Option<&aws_config::SdkConfig>,
        resource: Resource,
        http: &super::ExportClient,
        metrics: LateMetrics,
    ) -> Result<Option<Self>, TelemetryError> {
        let t = &config.telemetry.traces;
        let last_failure = cause::LastFailure::default();
        let counts = Arc::new(counted::SpanCounts::new(metrics));
        let mut reloader = None;
        let reporter = |endpoint: Option<&str>| {
            guarded::Reporter::new(
                endpoint.map(str::to_owned),
                last_failure.clone(),
                Arc::clone(&counts),
            )
        };
        let endpoint = t.otlp.endpoint.as_str();
        let processor = match (t.exporter, t.otlp.protocol) {
            (TracesExporter::None, _) => return Ok(None),
            (TracesExporter::XrayUdp, _) => {
                let exporter = udp::UdpExporter::new(t.xray_daemon).map_err(|e| {
                    TelemetryError::Setup(format!("cannot open a UDP socket for X-Ray: {e}"))
                })?;
                let endpoint = format!("udp://{}", t.xray_daemon);
                batch(config, exporter, reporter(Some(&endpoint)))
            }
            (TracesExporter::Console, _) => {
                batch(config, console::ConsoleExporter::default(), reporter(None))
            }
            (TracesExporter::Otlp, OtlpProtocol::HttpProtobuf) => {
                let headers: HashMap<String, String> = t
                    .otlp
                    .headers
                    .iter()
                    .filter_map(|(k, v)| Some((k.to_string(), v.to_str().ok()?.to_owned())))
                    .collect();
                let builder = OtlpExporter::builder()
                    .with_http()
                    .with_endpoint(endpoint)
                    .with_timeout(t.otlp.timeout)
                    .with_headers(headers);
                let builder = match t.otlp.gzip {
                    true => builder.with_compression(Compression::Gzip),
                    false => builder,
                };
                let builder = match &t.otlp.auth {
                    TracesAuth::None => builder.with_http_client(http.get()?),
                    TracesAuth::SigV4 { region } => {
                        let provider = aws
                            .and_then(|aws| aws.credentials_provider())
                            .ok_or(TelemetryError::NoAwsConfig)?;
                        let (cache, task) = credentials::CredentialsCache::spawn(provider);
                        reloader = Some(task);
                        builder.with_http_client(sigv4::SigningClient::new(
                            http.get()?,
                            cache,
                            region.clone(),
                            t.otlp.timeout,
                            last_failure.clone(),
                        ))
                    }
                };
                batch(config, builder.build()?, reporter(Some(endpoint)))
            }
            (TracesExporter::Otlp, OtlpProtocol::Grpc) => {
                let exporter = OtlpExporter::builder()
                    .with_tonic()
                    .with_endpoint(endpoint)
                    .with_timeout(t.otlp.timeout)
                    .build()?;
                batch(config, exporter, reporter(Some(endpoint)))
            }
        };
        let (sampler, sampling) = sampler(config, &resource, aws)?;
        let provider = SdkTracerProvider::builder()
            .with_span_processor(processor)
            .with_id_generator(RootAwareIds::default())
            .with_sampler(XraySampler(sampler))
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
            counts,
            _reloader: reloader,
            sampling,
        }))
    }

    /// Starts what runs beside the provider (the X-Ray sampler's polling);
    /// call once logging is installed.
    pub(super) fn start(&mut self) {
        if let Some(sampling) = &mut self.sampling {
            sampling.start();
        }
    }

    pub(super) fn tracer(&self) -> SdkTracer {
        self.provider.tracer(env!("CARGO_PKG_NAME"))
    }

    pub(super) fn flush(&self, deadline: std::time::Instant) -> bool {
        self.flusher.flush_until(deadline)
    }

    /// Exports what is queued, giving up at `until`, and logs every span
    /// not exported (dropped, failed, or still queued then).
    pub(super) fn shutdown(self, until: Instant) -> Result<(), TelemetryError> {
        drop(self.flusher);
        let timeout = until.saturating_duration_since(Instant::now());
        let result = self.provider.shutdown_with_timeout(timeout);
        let tally = self.counts.tally();
        if tally.lost() > 0 {
            tracing::warn!(
                spans_exported = tally.exported,
                spans_lost = tally.lost(),
                spans_dropped_queue_full = tally.dropped,
                spans_export_failed = tally.failed,
                spans_unexported_at_shutdown = tally.unsent,
                "spans lost"
            );
        } else {
            tracing::info!(spans_exported = tally.exported, "every span exported");
        }
        Ok(result?)
    }
}

/// The configured sampler, and the X-Ray polling task when it is `xray`.
/// On Lambda the invocation's header decides, so `xray` polls nothing there.
fn sampler(
    config: &Config,
    resource: &Resource,
    aws: Option<&aws_config::SdkConfig>,
) -> Result<(Sampler, Option<super::sampling::Polling>), TelemetryError> {
    let parent_based = |root: Sampler| Sampler::ParentBased(Box::new(root));
    let sampler = match &config.telemetry.traces.sampler {
        SamplerConfig::AlwaysOn => Sampler::AlwaysOn,
        SamplerConfig::AlwaysOff => Sampler::AlwaysOff,
        SamplerConfig::TraceIdRatio(r) => Sampler::TraceIdRatioBased(*r),
        SamplerConfig::ParentBasedAlwaysOn => parent_based(Sampler::AlwaysOn),
        SamplerConfig::ParentBasedAlwaysOff => parent_based(Sampler::AlwaysOff),
        SamplerConfig::ParentBasedTraceIdRatio(r) => parent_based(Sampler::TraceIdRatioBased(*r)),
        SamplerConfig::Xray(_) if config.aws.lambda.is_some() => parent_based(Sampler::AlwaysOn),
        SamplerConfig::Xray(xray) => {
            let (remote, polling) = super::sampling::RemoteSampler::start(xray, resource, aws)
                .map_err(TelemetryError::Setup)?;
            return Ok((Sampler::ParentBased(Box::new(remote)), Some(polling)));
        }
    };
    Ok((sampler, None))
}

/// The SDK's batch processor (its own thread, bounded queue, counted drops)
/// around `exporter`, guarded so export trouble is reported, not just logged.
fn batch<E: opentelemetry_sdk::trace::SpanExporter + 'static>(
    config: &Config,
    exporter: E,
    reporter: guarded::Reporter,
) -> counted::Bounded<BatchSpanProcessor> {
    let sizes = BatchConfigBuilder::default()
        .with_max_queue_size(config.telemetry.traces.batch.queue_size)
        .with_max_export_batch_size(config.telemetry.traces.batch.batch_size)
        .with_scheduled_delay(config.telemetry.traces.batch.schedule_delay)
        .build();
    let counts = reporter.counts();
    let processor = BatchSpanProcessor::builder(guarded::Guarded::new(
        appsignals::AppSignals::new(capped::Capped::new(exporter)),
        reporter,
    ))
    .with_batch_config(sizes)
    .build();
    counted::Bounded::new(processor, config.telemetry.traces.batch.queue_size, counts)
}

thread_local! {
    /// The trace id the next root span on this thread must use, set only
    /// inside [`start_server_span`].
    static NEXT_TRACE_ID: Cell<Option<TraceId>> = const { Cell::new(None) };
}

/// X-Ray ids (epoch seconds first), or the incoming `Root` when there is one.
///
/// The ids are those of opentelemetry-aws's `XrayIdGenerator`; a generator of
/// our own is needed anyway to adopt an incoming `Root`, so it writes the four
/// time bytes over a random id rather than formatting and parsing hex.
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
