//! The request-span middleware, shared by both targets (on Lambda, lambda_http
//! puts the invocation's trace header on the request as `x-amzn-trace-id`).
//!
//! One SERVER span per request, named `METHOD route`, started under the
//! context extracted from the headers; its status and errors are recorded
//! when the response is ready. Its attributes are what the collector's X-Ray
//! translation reads: the URL the client called (scheme, host, port, path;
//! never the query, which may carry secrets), an integer status (4xx is
//! `error`, 429 `throttle`, 5xx `fault`) and `error.type` on 5xx.

use std::{sync::Arc, time::Instant};

use axum::{
    extract::{MatchedPath, Request, State},
    middleware::Next,
    response::Response,
};
use opentelemetry_semantic_conventions::attribute as semconv;
use tracing::{Instrument, field::Empty};

use super::{
    logs::{RequestId, attach_request_id},
    metrics::{Metrics, ServerFacts},
    propagation::Propagation,
    start_span,
};

pub mod client;
mod origin;

/// The target of the request span (the log layer always lets it through).
pub const SPAN_TARGET: &str = module_path!();

/// The cause of a 5xx, put on the response by the code that made it, for the
/// logs and the span, never for the client.
#[derive(Clone, Debug)]
pub struct ErrorDetail(pub String);

/// The peer's IP address, as text, set by the HTTP server on every request
/// of a connection.
#[derive(Clone, Debug)]
pub struct ClientAddr(pub Arc<str>);

/// Facts about a Lambda invocation, set by the Lambda target on the request.
#[derive(Clone, Debug)]
pub struct FaasInvocation {
    pub invocation_id: String,
    pub coldstart: bool,
}

/// What the middleware needs; cheap to clone.
#[derive(Clone, Debug)]
pub struct RequestTracing {
    pub propagation: Propagation,
    /// Make spans at all (`OTEL_TRACES_EXPORTER` is not `none`).
    pub enabled: bool,
    /// Trace `/health` too (off by default: ALB checks would flood X-Ray).
    pub trace_health_checks: bool,
    /// Every request is measured, traced or not.
    pub metrics: Metrics,
}

pub async fn trace_request(
    State(tracing_config): State<RequestTracing>,
    request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let route = request.extensions().get::<MatchedPath>().cloned();
    let route = route.as_ref().map(MatchedPath::as_str);
    let method = request.method().clone();
    // Read once: the span takes the whole origin, the metric its scheme.
    let origin = origin::origin(&request);
    let scheme = origin.scheme;
    let skip = !tracing_config.enabled
        || (!tracing_config.trace_health_checks && route == Some("/health"));
    let response = if skip {
        next.run(request).await
    } else {
        let span = server_span(&request, route, origin);
        traced(&tracing_config, span, request, next).await
    };
    tracing_config.metrics.record_server(&ServerFacts {
        method: &method,
        route,
        status: response.status().as_u16(),
        scheme,
        duration: started.elapsed(),
    });
    response
}

async fn traced(
    tracing_config: &RequestTracing,
    span: tracing::Span,
    request: Request,
    next: Next,
) -> Response {
    start_span(&span, tracing_config.propagation.extract(request.headers()));
    // Log lines find the trace and span ids themselves; only Lambda's
    // request id has to be kept for them.
    if let Some(faas) = request.extensions().get::<FaasInvocation>() {
        attach_request_id(&span, RequestId(faas.invocation_id.clone()));
    }

    let response = next.run(request).instrument(span.clone()).await;

    let status = response.status();
    span.record(
        semconv::HTTP_RESPONSE_STATUS_CODE,
        i64::from(status.as_u16()),
    );
    if status.is_server_error() {
        span.record(semconv::ERROR_TYPE, status.as_str());
        span.record("otel.status_code", "error");
        let detail = response
            .extensions()
            .get::<ErrorDetail>()
            .map(|d| d.0.as_str());
        span.in_scope(|| {
            tracing::error!(
                status = i64::from(status.as_u16()),
                error = detail.unwrap_or("unknown"),
                "request failed"
            )
        });
    }
    response
}

fn server_span(
    request: &Request,
    route: Option<&str>,
    origin: origin::Origin<'_>,
) -> tracing::Span {
    let method = request.method().as_str();
    // Concatenated by hand: `format!` costs more than the span's other fields.
    let name = match route {
        Some(route) => {
            let mut name = String::with_capacity(method.len() + 1 + route.len());
            name.push_str(method);
            name.push(' ');
            name.push_str(route);
            name
        }
        None => method.to_owned(),
    };
    let headers = request.headers();
    let user_agent = headers
        .get(http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok());
    let span = tracing::info_span!(
        target: SPAN_TARGET,
        "request",
        otel.name = name,
        otel.kind = "server",
        otel.status_code = Empty,
        { semconv::HTTP_REQUEST_METHOD } = method,
        { semconv::HTTP_ROUTE } = route,
        { semconv::URL_SCHEME } = origin.scheme,
        { semconv::SERVER_ADDRESS } = origin.address,
        { semconv::SERVER_PORT } = origin.port,
        { semconv::URL_PATH } = request.uri().path(),
        { semconv::NETWORK_PROTOCOL_VERSION } = origin::protocol_version(request.version()),
        { semconv::HTTP_RESPONSE_STATUS_CODE } = Empty,
        { semconv::ERROR_TYPE } = Empty,
        { semconv::CLIENT_ADDRESS } = client_address(request),
        { semconv::USER_AGENT_ORIGINAL } = user_agent,
        { semconv::FAAS_TRIGGER } = Empty,
        { semconv::FAAS_INVOCATION_ID } = Empty,
        { semconv::FAAS_COLDSTART } = Empty,
    );
    if let Some(faas) = request.extensions().get::<FaasInvocation>() {
        span.record(semconv::FAAS_TRIGGER, "http");
        span.record(semconv::FAAS_INVOCATION_ID, faas.invocation_id.as_str());
        span.record(semconv::FAAS_COLDSTART, faas.coldstart);
    }
    span
}

static X_FORWARDED_FOR: http::HeaderName = http::HeaderName::from_static("x-forwarded-for");

/// The address the ALB (or Lambda's front end) appended last to
/// `X-Forwarded-For`, else the connection's peer. Earlier entries are
/// client-supplied and not trusted.
fn client_address(request: &Request) -> Option<&str> {
    let forwarded = request
        .headers()
        .get_all(&X_FORWARDED_FOR)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .rfind(|v| !v.is_empty());
    forwarded.or_else(|| {
        request
            .extensions()
            .get::<ClientAddr>()
            .map(|ClientAddr(addr)| &**addr)
    })
}
