//! The shared HTTP client's middleware: every outgoing call gets a CLIENT
//! span (a `remote` subsegment in X-Ray, with the URL, the status and
//! error/fault flags), the trace headers naming that span as the `Parent`,
//! and one `http.client.request.duration` measurement. Code that calls out
//! just uses the client.
//!
//! The span's URL is worked out only for sampled spans, and the headers
//! only when there is a trace to carry: with spans off a call costs a timer
//! and the metric.

use std::time::Instant;

use http::Extensions;
use opentelemetry::trace::TraceContextExt;
use opentelemetry_semantic_conventions::attribute as semconv;
use reqwest::{Request, Response, Url};
use reqwest_middleware::{ClientWithMiddleware, Middleware, Next};
use tracing::field::Empty;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use super::known_method;
use crate::telemetry::{metrics::Metrics, propagation::Propagation};

const REDACTED: &str = "REDACTED";

/// Traces and measures every call of the client it is added to.
#[derive(Clone, Debug)]
pub struct TraceCalls {
    pub propagation: Propagation,
    pub metrics: Metrics,
}

impl TraceCalls {
    /// `client` with this middleware.
    pub fn wrap(self, client: reqwest::Client) -> ClientWithMiddleware {
        reqwest_middleware::ClientBuilder::new(client)
            .with(self)
            .build()
    }
}

#[async_trait::async_trait]
impl Middleware for TraceCalls {
    async fn handle(
        &self,
        mut request: Request,
        extensions: &mut Extensions,
        next: Next<'_>,
    ) -> reqwest_middleware::Result<Response> {
        let method = request.method().clone();
        let url = request.url();
        let server_address = url.host_str().unwrap_or_default().to_owned();
        let span = tracing::info_span!(
            "http.client",
            otel.name = known_method(&method),
            otel.kind = "client",
            otel.status_code = Empty,
            { semconv::HTTP_REQUEST_METHOD } = known_method(&method),
            { semconv::URL_FULL } = Empty,
            { semconv::SERVER_ADDRESS } = server_address.as_str(),
            { semconv::SERVER_PORT } = url.port_or_known_default().map(i64::from),
            { semconv::HTTP_RESPONSE_STATUS_CODE } = Empty,
            { semconv::ERROR_TYPE } = Empty,
        );
        let cx = span.context();
        let trace = cx.span().span_context().clone();
        if trace.is_valid() {
            if trace.is_sampled() {
                span.record(semconv::URL_FULL, redact(url.clone()).as_str());
            }
            self.propagation.inject(&cx, request.headers_mut());
        }
        let started = Instant::now();
        let result = next.run(request, extensions).await;
        let outcome = match &result {
            Ok(response) => {
                record_status(&span, response.status());
                Ok(response.status().as_u16())
            }
            Err(error) => {
                let kind = error_type(error);
                record_error(&span, kind);
                Err(kind)
            }
        };
        self.metrics
            .record_client(&method, &server_address, outcome, started.elapsed());
        result
    }
}

/// Records the answer's status; 4xx and 5xx are errors of a client call.
fn record_status(span: &tracing::Span, status: http::StatusCode) {
    span.record(
        semconv::HTTP_RESPONSE_STATUS_CODE,
        i64::from(status.as_u16()),
    );
    if status.is_client_error() || status.is_server_error() {
        record_error(span, status.as_str());
    }
}

/// Marks the call failed with a low-cardinality `error.type`.
fn record_error(span: &tracing::Span, error_type: &str) {
    span.record(semconv::ERROR_TYPE, error_type);
    span.record("otel.status_code", "error");
}

/// The `error.type` of a call that got no answer.
fn error_type(error: &reqwest_middleware::Error) -> &'static str {
    if error.is_timeout() {
        "timeout"
    } else if error.is_connect() {
        "connection_error"
    } else if error.is_middleware() {
        "_OTHER"
    } else {
        "request_error"
    }
}

/// `url.full` as semconv asks: no credentials, query values `REDACTED`
/// (they may carry tokens or personal data; the keys stay), no fragment.
fn redact(mut url: Url) -> String {
    if !url.username().is_empty() || url.password().is_some() {
        // Setting these only fails for URLs that cannot have credentials.
        let _ = url.set_username(REDACTED);
        let _ = url.set_password(Some(REDACTED));
    }
    if url.query().is_some() {
        let keys: Vec<String> = url.query_pairs().map(|(k, _)| k.into_owned()).collect();
        url.query_pairs_mut()
            .clear()
            .extend_pairs(keys.iter().map(|k| (k, REDACTED)));
    }
    url.set_fragment(None);
    url.into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_and_query_values_are_redacted() {
        let url = Url::parse(
            "https://bob:hunter2@api.example.com/v1/x?AWSAccessKeyId=AKIA1&Signature=abc&page=2#frag",
        )
        .unwrap();
        assert_eq!(
            redact(url),
            "https://REDACTED:REDACTED@api.example.com/v1/x?AWSAccessKeyId=REDACTED&Signature=REDACTED&page=REDACTED"
        );
    }

    #[test]
    fn urls_without_secrets_are_kept() {
        let url = Url::parse("http://127.0.0.1:9000/json").unwrap();
        assert_eq!(redact(url), "http://127.0.0.1:9000/json");
    }
}
