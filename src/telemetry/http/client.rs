//! The CLIENT span of an outgoing HTTP call: what X-Ray shows as a `remote`
//! subsegment with the URL, the status and error/fault flags.
//!
//! The URL is fixed at start-up, so its redacted form, host and port are
//! worked out once ([`ClientTarget`]), not per request.

use opentelemetry_semantic_conventions::attribute as semconv;
use reqwest::Url;
use tracing::field::Empty;

/// Query parameters whose values never reach a span: the semconv list
/// (`AWSAccessKeyId`, `Signature`, `sig`, `X-Goog-Signature`) plus names that
/// usually carry secrets.
const SECRET_QUERY_WORDS: [&str; 9] = [
    "sig",
    "key",
    "token",
    "secret",
    "password",
    "passwd",
    "auth",
    "credential",
    "session",
];
const REDACTED: &str = "REDACTED";

/// An upstream URL as spans may show it.
#[derive(Clone, Debug)]
pub struct ClientTarget {
    /// `url.full`, with user info and secret query values redacted.
    pub url_full: String,
    pub server_address: String,
    pub server_port: i64,
}

impl ClientTarget {
    /// `None` for a URL without a host (config rejects those).
    pub fn new(url: &str) -> Option<Self> {
        let parsed = Url::parse(url).ok()?;
        let server_address = parsed.host_str()?.to_owned();
        let server_port = i64::from(parsed.port_or_known_default()?);
        Some(Self {
            url_full: redact(parsed),
            server_address,
            server_port,
        })
    }

    /// A CLIENT span for one call to this target.
    pub fn span(&self, method: &'static str) -> tracing::Span {
        tracing::info_span!(
            "http.client",
            otel.name = method,
            otel.kind = "client",
            otel.status_code = Empty,
            { semconv::HTTP_REQUEST_METHOD } = method,
            { semconv::URL_FULL } = self.url_full.as_str(),
            { semconv::SERVER_ADDRESS } = self.server_address.as_str(),
            { semconv::SERVER_PORT } = self.server_port,
            { semconv::HTTP_RESPONSE_STATUS_CODE } = Empty,
            { semconv::ERROR_TYPE } = Empty,
        )
    }
}

/// Records the answer's status; 4xx and 5xx are errors of a client call.
pub fn record_status(span: &tracing::Span, status: http::StatusCode) {
    span.record(
        semconv::HTTP_RESPONSE_STATUS_CODE,
        i64::from(status.as_u16()),
    );
    if status.is_client_error() || status.is_server_error() {
        record_error(span, status.as_str());
    }
}

/// Marks the call failed with a low-cardinality `error.type` (`timeout`,
/// `connection_error`, a status code, ...).
pub fn record_error(span: &tracing::Span, error_type: &str) {
    span.record(semconv::ERROR_TYPE, error_type);
    span.record("otel.status_code", "error");
}

/// The `error.type` of a failed reqwest call.
pub fn error_type(error: &reqwest::Error) -> &'static str {
    if error.is_timeout() {
        "timeout"
    } else if error.is_connect() {
        "connection_error"
    } else if error.is_body() || error.is_decode() {
        "response_body_error"
    } else {
        "request_error"
    }
}

fn redact(mut url: Url) -> String {
    if !url.username().is_empty() || url.password().is_some() {
        // Setting these only fails for URLs that cannot have credentials.
        let _ = url.set_username(REDACTED);
        let _ = url.set_password(Some(REDACTED));
    }
    if url.query().is_some() {
        let pairs: Vec<(String, String)> = url
            .query_pairs()
            .map(|(k, v)| {
                let v = if is_secret(&k) {
                    REDACTED.to_owned()
                } else {
                    v.into_owned()
                };
                (k.into_owned(), v)
            })
            .collect();
        url.query_pairs_mut().clear().extend_pairs(pairs);
    }
    url.set_fragment(None);
    url.into()
}

fn is_secret(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    name == "awsaccesskeyid" || SECRET_QUERY_WORDS.iter().any(|w| name.contains(w))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_and_secret_query_values_are_redacted() {
        let t = ClientTarget::new(
            "https://bob:hunter2@api.example.com/v1/x?AWSAccessKeyId=AKIA1&Signature=abc&page=2&api_key=k#frag",
        )
        .unwrap();
        assert_eq!(
            t.url_full,
            "https://REDACTED:REDACTED@api.example.com/v1/x?AWSAccessKeyId=REDACTED&Signature=REDACTED&page=2&api_key=REDACTED"
        );
        assert_eq!(t.server_address, "api.example.com");
        assert_eq!(t.server_port, 443);
    }

    #[test]
    fn plain_urls_are_kept_with_their_port() {
        let t = ClientTarget::new("http://127.0.0.1:9000/json?delay=1").unwrap();
        assert_eq!(t.url_full, "http://127.0.0.1:9000/json?delay=1");
        assert_eq!(
            (t.server_address.as_str(), t.server_port),
            ("127.0.0.1", 9000)
        );
    }
}
