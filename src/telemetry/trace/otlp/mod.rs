//! The OTLP/HTTP span path: [`Pipeline`] batches ended spans and encodes
//! them (`encode`) as they arrive; [`OtlpHttpExporter`] sends each batch with
//! the same HTTP behaviour as opentelemetry-otlp's: POST
//! `application/x-protobuf`, optional gzip, configured headers, and OTLP/HTTP's
//! retries (429, 502, 503, 504 and network errors; `Retry-After` honoured)
//! within the export timeout. gRPC still goes through opentelemetry-otlp.

mod encode;
mod gzip;
mod in_thread;
mod pipeline;
mod response;

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use bytes::Bytes;
use http::{HeaderName, HeaderValue, Request, Uri, header};
use opentelemetry_http::HttpClient;
use opentelemetry_sdk::{
    Resource,
    error::{OTelSdkError, OTelSdkResult},
    trace::SpanData,
};

pub use in_thread::InThreadClient;
pub use pipeline::{Pipeline, Sizes};

/// Retries after the first attempt, and the backoff between them.
const MAX_RETRIES: u32 = 3;
const FIRST_DELAY: Duration = Duration::from_millis(100);
const MAX_DELAY: Duration = Duration::from_millis(1600);
const MAX_JITTER_MS: u64 = 100;

pub struct OtlpHttpExporter {
    client: Arc<dyn HttpClient>,
    endpoint: Uri,
    headers: Vec<(HeaderName, HeaderValue)>,
    gzip: Option<gzip::Gzip>,
    /// The whole export's deadline, retries included.
    timeout: Duration,
    /// Bytes per span in the last request, so the next one's buffer is
    /// allocated once, at its size.
    span_size: AtomicUsize,
}

impl std::fmt::Debug for OtlpHttpExporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OtlpHttpExporter")
            .field("endpoint", &self.endpoint)
            .finish_non_exhaustive()
    }
}

impl OtlpHttpExporter {
    pub fn new(
        client: Arc<dyn HttpClient>,
        endpoint: &str,
        headers: Vec<(HeaderName, HeaderValue)>,
        gzip: bool,
        timeout: Duration,
    ) -> Result<Self, http::uri::InvalidUri> {
        Ok(Self {
            client,
            endpoint: endpoint.parse()?,
            headers,
            gzip: gzip.then(gzip::Gzip::new),
            timeout,
            span_size: AtomicUsize::new(1024),
        })
    }

    /// One request's body: `batch` under `resource`, gzipped if configured.
    fn body(&self, resource: &Resource, batch: &[SpanData]) -> Result<Bytes, OTelSdkError> {
        // A quarter more than last time, and room for the resource: a batch
        // of slightly larger spans must not grow the buffer by copying it.
        let span_size = self.span_size.load(Ordering::Relaxed);
        let mut body = Vec::with_capacity((batch.len() + 1) * (span_size + span_size / 4));
        encode::export_request(resource, batch, &mut body);
        self.span_size
            .store(body.len() / batch.len().max(1), Ordering::Relaxed);
        let Some(gzip) = &self.gzip else {
            return Ok(body.into());
        };
        gzip.compress(&body)
            .map(Bytes::from)
            .map_err(|e| OTelSdkError::InternalFailure(format!("gzip: {e}")))
    }

    fn request(&self, body: Bytes) -> Request<Bytes> {
        let mut request = Request::post(self.endpoint.clone())
            .body(body)
            .expect("a valid URI, method and no headers yet");
        let headers = request.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/x-protobuf"),
        );
        if self.gzip.is_some() {
            headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        }
        for (name, value) in &self.headers {
            headers.insert(name.clone(), value.clone());
        }
        request
    }

    async fn send_once(&self, body: Bytes) -> Result<(), Failure> {
        let response = self
            .client
            .send_bytes(self.request(body))
            .await
            .map_err(|e| Failure {
                message: format!("HTTP export failed: {e}"),
                retry: Retry::After(None),
            })?;
        let status = response.status();
        if status.is_success() {
            response::report_partial_success(response.body());
            return Ok(());
        }
        let retry = match status.as_u16() {
            429 | 503 => Retry::After(retry_after(response.headers())),
            502 | 504 => Retry::After(None),
            _ => Retry::Never,
        };
        Err(Failure {
            message: format!("HTTP export failed with status code: {}", status.as_u16()),
            retry,
        })
    }
}

/// Why an attempt failed, and whether another may follow.
struct Failure {
    message: String,
    retry: Retry,
}

enum Retry {
    Never,
    /// After the backoff, or after the server's `Retry-After` when it gave one.
    After(Option<Duration>),
}

impl OtlpHttpExporter {
    /// Sends `body`, retrying as OTLP/HTTP says until the export timeout.
    /// Must be polled on a Tokio runtime (the pipeline's).
    async fn send(&self, body: Bytes) -> OTelSdkResult {
        let started = Instant::now();
        let mut delay = FIRST_DELAY;
        let mut retries = 0;
        loop {
            let failure = match self.send_once(body.clone()).await {
                Ok(()) => return Ok(()),
                Err(failure) => failure,
            };
            let wait = match failure.retry {
                Retry::After(_) if retries == MAX_RETRIES => None,
                Retry::After(Some(server)) => Some(server),
                Retry::After(None) => Some((delay + jitter()).min(MAX_DELAY)),
                Retry::Never => None,
            };
            match wait {
                Some(wait) if started.elapsed() + wait < self.timeout => {
                    retries += 1;
                    delay = (delay * 2).min(MAX_DELAY);
                    tokio::time::sleep(wait).await;
                }
                _ => return Err(OTelSdkError::InternalFailure(failure.message)),
            }
        }
    }
}

/// `Retry-After` in seconds (the HTTP-date form is treated as absent).
fn retry_after(headers: &http::HeaderMap) -> Option<Duration> {
    let seconds = headers.get(header::RETRY_AFTER)?.to_str().ok()?;
    seconds.trim().parse().ok().map(Duration::from_secs)
}

/// Up to 100 ms, so processes that failed together do not retry together.
fn jitter() -> Duration {
    use std::hash::BuildHasher as _;
    let random = std::collections::hash_map::RandomState::new().hash_one(Instant::now());
    Duration::from_millis(random % (MAX_JITTER_MS + 1))
}

#[cfg(test)]
mod encode_tests;

#[cfg(test)]
mod export_tests;
