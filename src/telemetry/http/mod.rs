//! The request-span middleware, shared by both targets (on Lambda, lambda_http
//! puts the invocation's trace header on the request as `x-amzn-trace-id`).
//!
//! One SERVER span per request, named `METHOD route`, started under the
//! context extracted from the headers and current while the handlers run;
//! its status and errors are recorded when the response is ready. Its
//! attributes are what the collector's X-Ray translation reads: the URL the client called (scheme, host, port, path;
//! never the query, which may carry secrets), an integer status (4xx is
//! `error`, 429 `throttle`, 5xx `fault`) and `error.type` on 5xx.

use std::sync::Arc;

use axum::extract::Request;
use opentelemetry::{
    KeyValue,
    trace::{SpanBuilder, SpanKind},
};
use opentelemetry_sdk::trace::SdkTracer;
use opentelemetry_semantic_conventions::attribute as semconv;

use super::{metrics::Metrics, propagation::Propagation};

pub mod client;
mod middleware;
mod origin;

pub use middleware::TraceRequest;

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

/// The request-span middleware (a `tower` layer) and what it needs; cheap to clone.
#[derive(Clone, Debug)]
pub struct RequestTracing {
    pub propagation: Propagation,
    /// `None` when `OTEL_TRACES_EXPORTER=none`: no spans are made at all.
    pub tracer: Option<SdkTracer>,
    /// Trace `/health` too (off by default: ALB checks would flood X-Ray).
    pub trace_health_checks: bool,
    /// Every request is measured, traced or not.
    pub metrics: Metrics,
}

/// The SERVER span, built with the OpenTelemetry API: going through
/// `tracing` cost a registry entry, a field visitor and a copy of every
/// string per request, and nothing reads the request span as a `tracing` span.
fn server_span(request: &Request, route: Option<&str>, origin: origin::Origin<'_>) -> SpanBuilder {
    let known = known_method(request.method());
    // Semconv: `{method} {route}`, `HTTP` for a method it does not know.
    let method = if known == OTHER_METHOD { "HTTP" } else { known };
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
    let mut attributes = Vec::with_capacity(16);
    attributes.push(KeyValue::new(semconv::HTTP_REQUEST_METHOD, known));
    if known == OTHER_METHOD {
        attributes.push(KeyValue::new(
            semconv::HTTP_REQUEST_METHOD_ORIGINAL,
            request.method().as_str().to_owned(),
        ));
    }
    if let Some(route) = route {
        attributes.push(KeyValue::new(semconv::HTTP_ROUTE, route.to_owned()));
    }
    attributes.push(KeyValue::new(semconv::URL_SCHEME, origin.scheme));
    if let Some(address) = origin.address {
        attributes.push(KeyValue::new(semconv::SERVER_ADDRESS, address.to_owned()));
    }
    if let Some(port) = origin.port {
        attributes.push(KeyValue::new(semconv::SERVER_PORT, port));
    }
    attributes.push(KeyValue::new(
        semconv::URL_PATH,
        request.uri().path().to_owned(),
    ));
    if let Some(version) = origin::protocol_version(request.version()) {
        attributes.push(KeyValue::new(semconv::NETWORK_PROTOCOL_VERSION, version));
    }
    if let Some(client) = client_address(request) {
        attributes.push(KeyValue::new(semconv::CLIENT_ADDRESS, client.to_owned()));
    }
    if let Some(agent) = headers
        .get(http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
    {
        attributes.push(KeyValue::new(
            semconv::USER_AGENT_ORIGINAL,
            agent.to_owned(),
        ));
    }
    if let Some(faas) = request.extensions().get::<FaasInvocation>() {
        attributes.push(KeyValue::new(semconv::FAAS_TRIGGER, "http"));
        attributes.push(KeyValue::new(
            semconv::FAAS_INVOCATION_ID,
            faas.invocation_id.clone(),
        ));
        attributes.push(KeyValue::new(semconv::FAAS_COLDSTART, faas.coldstart));
    }
    SpanBuilder::from_name(name)
        .with_kind(SpanKind::Server)
        .with_attributes(attributes)
}

const OTHER_METHOD: &str = "_OTHER";

/// Semconv keeps the method low-cardinality: a method it does not list is `_OTHER`.
pub(super) fn known_method(method: &http::Method) -> &'static str {
    use http::Method as M;
    match *method {
        M::GET => "GET",
        M::POST => "POST",
        M::PUT => "PUT",
        M::DELETE => "DELETE",
        M::HEAD => "HEAD",
        M::OPTIONS => "OPTIONS",
        M::PATCH => "PATCH",
        M::TRACE => "TRACE",
        M::CONNECT => "CONNECT",
        _ => OTHER_METHOD,
    }
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
