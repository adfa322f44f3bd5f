//! The one SDK interceptor every AWS client gets: one CLIENT span per
//! operation and the `X-Amzn-Trace-Id` header on every request.
//!
//! The SDK's own `tracing` spans are DEBUG, carry no kind, request id or
//! status, and a dozen per call; they are not exported (the OpenTelemetry
//! layer takes only this crate's spans). The SDK sets `X-Amzn-Trace-Id` only
//! from Lambda's process-wide `_X_AMZN_TRACE_ID`; we set it from the CLIENT
//! span instead (`Root` = the trace, `Parent` = this span, its sampling
//! decision), as the X-Ray SDKs do, so the called service joins the trace.
//!
//! This is the one place that knows an AWS call started and ended
//! ([`CallSpan`] lives from `read_before_serialization` to `read_after_execution`).

use std::time::Instant;

use aws_smithy_runtime_api::{
    box_error::BoxError,
    client::{
        interceptors::{
            Intercept,
            context::{
                BeforeSerializationInterceptorContextRef, BeforeTransmitInterceptorContextMut,
                FinalizerInterceptorContextRef,
            },
        },
        orchestrator::{HttpResponse, Metadata, OrchestratorError},
        runtime_components::RuntimeComponents,
    },
};
use aws_smithy_types::config_bag::{ConfigBag, Storable, StoreReplace};
use opentelemetry::trace::{TraceContextExt, TraceFlags};
use opentelemetry_semantic_conventions::attribute as semconv;
use tracing::field::Empty;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use super::resource;
use crate::telemetry::{
    metrics::Metrics,
    propagation::{XRAY_HEADER, xray_trace_id},
};

/// Read by the collector's awsxray exporter to make an `aws` subsegment
/// (the semconv crate marks these names deprecated; X-Ray still reads them).
const RPC_SYSTEM: &str = "rpc.system";
const RPC_SERVICE: &str = "rpc.service";
const AWS_REGION: &str = "aws.region";

/// Traces every operation of the client it is added to.
#[derive(Clone, Debug)]
pub struct TraceInterceptor {
    region: Option<String>,
    metrics: Metrics,
}

impl TraceInterceptor {
    pub fn new(sdk: &aws_config::SdkConfig, metrics: Metrics) -> Self {
        Self {
            region: sdk.region().map(ToString::to_string),
            metrics,
        }
    }
}

/// The CLIENT span of the operation in flight, kept in its config bag.
#[derive(Clone, Debug)]
struct CallSpan {
    span: tracing::Span,
    sampled: bool,
    started: Instant,
    service: String,
    operation: String,
}

impl Storable for CallSpan {
    type Storer = StoreReplace<Self>;
}

impl Intercept for TraceInterceptor {
    fn name(&self) -> &'static str {
        "TraceInterceptor"
    }

    // Not `read_before_execution`: a client's interceptors run that before
    // the operation's configuration (its `Metadata`) is in the bag.
    fn read_before_serialization(
        &self,
        context: &BeforeSerializationInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let (service, operation) = cfg.load::<Metadata>().map_or_else(
            || ("AWS".to_owned(), "Call".to_owned()),
            |m| (m.service().to_owned(), m.name().to_owned()),
        );
        let span = tracing::info_span!(
            "aws",
            otel.name = format!("{service}.{operation}"),
            otel.kind = "client",
            otel.status_code = Empty,
            { RPC_SYSTEM } = "aws-api",
            { RPC_SERVICE } = service,
            { semconv::RPC_METHOD } = operation,
            { semconv::CLOUD_REGION } = self.region.as_deref(),
            // What the collector reads as the subsegment's region.
            { AWS_REGION } = self.region.as_deref(),
            { semconv::AWS_REQUEST_ID } = Empty,
            { semconv::HTTP_RESPONSE_STATUS_CODE } = Empty,
            { semconv::ERROR_TYPE } = Empty,
        );
        // The resource is worked out only for spans that are exported.
        let sampled = span.context().span().span_context().is_sampled();
        if sampled {
            for kv in resource::from_input(context.input()) {
                span.set_attribute(kv.key, kv.value);
            }
        }
        cfg.interceptor_state().store_put(CallSpan {
            sampled,
            span,
            started: Instant::now(),
            service,
            operation,
        });
        Ok(())
    }

    fn modify_before_signing(
        &self,
        context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some(call) = cfg.load::<CallSpan>() else {
            return Ok(());
        };
        if call.sampled {
            for kv in resource::from_request(&call.service, context.request()) {
                call.span.set_attribute(kv.key, kv.value);
            }
        }
        if let Some(header) = xray_header(&call.span) {
            // Replaces the SDK's own value (from `_X_AMZN_TRACE_ID` on Lambda).
            context
                .request_mut()
                .headers_mut()
                .insert(XRAY_HEADER, header);
        }
        Ok(())
    }

    fn read_after_execution(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some(call) = cfg.load::<CallSpan>() else {
            return Ok(());
        };
        let span = &call.span;
        let response = context.response();
        if let Some(response) = response {
            span.record(
                semconv::HTTP_RESPONSE_STATUS_CODE,
                i64::from(response.status().as_u16()),
            );
            if let Some(id) = request_id(response) {
                span.record(semconv::AWS_REQUEST_ID, id);
            }
        }
        let failed = match context.output_or_error() {
            Some(Err(error)) => {
                let kind = error_type(response, error);
                span.record("otel.status_code", "error");
                span.record(semconv::ERROR_TYPE, kind.as_str());
                Some(kind)
            }
            _ => None,
        };
        self.metrics.record_aws_call(
            &call.service,
            &call.operation,
            failed.as_deref(),
            call.started.elapsed(),
        );
        Ok(())
    }
}

/// `Root=<trace>;Parent=<this span>;Sampled=<0|1>`, or `None` when spans
/// are off (no valid context to propagate).
fn xray_header(span: &tracing::Span) -> Option<String> {
    let cx = span.context();
    let otel_span = cx.span();
    let sc = otel_span.span_context();
    if !sc.is_valid() {
        return None;
    }
    let sampled = u8::from(sc.trace_flags() & TraceFlags::SAMPLED == TraceFlags::SAMPLED);
    Some(format!(
        "Root={};Parent={};Sampled={sampled}",
        xray_trace_id(sc.trace_id()),
        sc.span_id()
    ))
}

fn request_id(response: &HttpResponse) -> Option<&str> {
    let headers = response.headers();
    headers
        .get("x-amzn-requestid")
        .or_else(|| headers.get("x-amz-request-id"))
}

/// The service's error code (`ConditionalCheckFailedException`, ...) from
/// the response, else what kind of failure there was without one.
fn error_type<E>(response: Option<&HttpResponse>, error: &OrchestratorError<E>) -> String {
    if let Some(code) = response.and_then(error_code) {
        return code;
    }
    if error.is_timeout_error() {
        return "timeout".to_owned();
    }
    match error.as_connector_error() {
        Some(e) if e.is_timeout() => "timeout".to_owned(),
        Some(e) if e.is_io() => "io_error".to_owned(),
        _ => "_OTHER".to_owned(),
    }
}

/// `x-amzn-errortype`, or the JSON protocols' `__type` in the (buffered)
/// body; both may carry a namespace (`...#Code`) or a suffix (`Code:...`).
fn error_code(response: &HttpResponse) -> Option<String> {
    if response.status().as_u16() < 400 {
        return None;
    }
    let raw = match response.headers().get("x-amzn-errortype") {
        Some(header) => header.to_owned(),
        None => {
            let body: serde_json::Value = serde_json::from_slice(response.body().bytes()?).ok()?;
            body.get("__type")?.as_str()?.to_owned()
        }
    };
    let code = raw.rsplit('#').next()?.split(':').next()?.trim();
    (!code.is_empty()).then(|| code.to_owned())
}
