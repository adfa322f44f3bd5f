//! The exporter against a real HTTP receiver on 127.0.0.1: what it sends,
//! and which answers it retries.

use std::{
    collections::VecDeque,
    sync::{Arc, Mutex},
    time::{Duration, UNIX_EPOCH},
};

use axum::{Router, body::Bytes, extract::State, http::HeaderMap, response::IntoResponse};
use opentelemetry::{
    InstrumentationScope,
    trace::{SpanContext, SpanId, SpanKind, Status, TraceFlags, TraceId, TraceState},
};
use opentelemetry_http::{HttpClient, HttpError};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_sdk::{
    Resource,
    error::OTelSdkResult,
    trace::{SpanData, SpanEvents, SpanLinks},
};
use prost::Message;

use super::OtlpHttpExporter;

/// What the receiver answers, in turn; then 200.
type Script = Arc<Mutex<VecDeque<(u16, Option<&'static str>)>>>;
type Seen = Arc<Mutex<Vec<(HeaderMap, Bytes)>>>;

async fn receive(
    State((script, seen)): State<(Script, Seen)>,
    headers: HeaderMap,
    body: Bytes,
) -> impl IntoResponse {
    seen.lock().unwrap().push((headers, body));
    let (status, retry_after) = script.lock().unwrap().pop_front().unwrap_or((200, None));
    let mut response = http::Response::builder().status(status);
    if let Some(after) = retry_after {
        response = response.header("retry-after", after);
    }
    response.body(axum::body::Body::empty()).unwrap()
}

async fn receiver(script: &[(u16, Option<&'static str>)]) -> (String, Seen) {
    let seen = Seen::default();
    let script: Script = Arc::new(Mutex::new(script.iter().copied().collect()));
    let app = Router::new()
        .route("/v1/traces", axum::routing::post(receive))
        .with_state((script, seen.clone()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/v1/traces", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, seen)
}

/// reqwest's async client: the blocking one cannot run inside a test's runtime.
#[derive(Debug)]
struct AsyncClient(reqwest::Client);

#[async_trait::async_trait]
impl HttpClient for AsyncClient {
    async fn send_bytes(
        &self,
        request: http::Request<Bytes>,
    ) -> Result<http::Response<Bytes>, HttpError> {
        let response = self.0.execute(request.try_into()?).await?;
        let status = response.status();
        let headers = response.headers().clone();
        let mut out = http::Response::new(response.bytes().await?);
        *out.status_mut() = status;
        *out.headers_mut() = headers;
        Ok(out)
    }
}

fn exporter(url: &str, gzip: bool) -> OtlpHttpExporter {
    let headers = vec![(
        http::HeaderName::from_static("x-team"),
        http::HeaderValue::from_static("platform"),
    )];
    crate::telemetry::install_crypto_provider();
    let client = Arc::new(AsyncClient(reqwest::Client::new()));
    OtlpHttpExporter::new(client, url, headers, gzip, Duration::from_secs(5)).unwrap()
}

/// One batch, encoded and sent as the pipeline does.
async fn export(exporter: &OtlpHttpExporter, batch: Vec<SpanData>) -> OTelSdkResult {
    let body = exporter.body(&Resource::builder_empty().build(), &batch)?;
    exporter.send(body).await
}

pub(super) fn span(name: &'static str) -> SpanData {
    SpanData {
        span_context: SpanContext::new(
            TraceId::from(7_u128),
            SpanId::from(9_u64),
            TraceFlags::SAMPLED,
            false,
            TraceState::NONE,
        ),
        parent_span_id: SpanId::INVALID,
        parent_span_is_remote: false,
        span_kind: SpanKind::Server,
        name: name.into(),
        start_time: UNIX_EPOCH + Duration::from_secs(1),
        end_time: UNIX_EPOCH + Duration::from_secs(2),
        attributes: Vec::new(),
        dropped_attributes_count: 0,
        events: SpanEvents::default(),
        links: SpanLinks::default(),
        status: Status::Unset,
        instrumentation_scope: InstrumentationScope::builder("test").build(),
    }
}

fn names(body: &[u8]) -> Vec<String> {
    let request = ExportTraceServiceRequest::decode(body).unwrap();
    request.resource_spans[0].scope_spans[0]
        .spans
        .iter()
        .map(|s| s.name.clone())
        .collect()
}

#[tokio::test]
async fn sends_protobuf_gzipped_with_the_configured_headers() {
    let (url, seen) = receiver(&[]).await;
    let result = export(&exporter(&url, true), vec![span("a"), span("b")]).await;
    assert!(result.is_ok(), "{result:?}");
    let seen = seen.lock().unwrap();
    let (headers, body) = &seen[0];
    assert_eq!(headers["content-type"], "application/x-protobuf");
    assert_eq!(headers["content-encoding"], "gzip");
    assert_eq!(headers["x-team"], "platform");
    let mut plain = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&body[..]), &mut plain).unwrap();
    assert_eq!(names(&plain), ["a", "b"]);
}

#[tokio::test]
async fn throttling_and_gateway_errors_are_retried_until_accepted() {
    let (url, seen) = receiver(&[(503, Some("0")), (429, Some("0")), (502, None)]).await;
    let result = export(&exporter(&url, false), vec![span("a")]).await;
    assert!(result.is_ok(), "{result:?}");
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 4, "three refusals, then the accepted attempt");
    assert!(seen.iter().all(|(_, body)| names(body) == ["a"]));
}

#[tokio::test]
async fn a_bad_request_is_not_retried_and_retries_stop_after_three() {
    let (url, seen) = receiver(&[(400, None)]).await;
    let result = export(&exporter(&url, false), vec![span("a")]).await;
    let error = result.expect_err("400 fails the export").to_string();
    assert!(error.contains("400"), "{error}");
    assert_eq!(seen.lock().unwrap().len(), 1);

    let refusals = [(503, Some("0")); 5];
    let (url, seen) = receiver(&refusals).await;
    let result = export(&exporter(&url, false), vec![span("a")]).await;
    assert!(result.is_err());
    assert_eq!(
        seen.lock().unwrap().len(),
        4,
        "the first attempt and three retries"
    );
}

fn in_thread_exporter(url: &str, timeout: Duration) -> OtlpHttpExporter {
    let client = Arc::new(super::InThreadClient::new(timeout));
    OtlpHttpExporter::new(client, url, Vec::new(), false, timeout).unwrap()
}

#[tokio::test]
async fn the_in_thread_client_exports_retries_and_keeps_its_connection() {
    let (url, seen) = receiver(&[(503, Some("0"))]).await;
    let exporter = in_thread_exporter(&url, Duration::from_secs(5));
    let first = export(&exporter, vec![span("a")]).await;
    let second = export(&exporter, vec![span("b")]).await;
    assert!(first.is_ok() && second.is_ok(), "{first:?} {second:?}");
    let seen = seen.lock().unwrap();
    let bodies: Vec<Vec<String>> = seen.iter().map(|(_, body)| names(body)).collect();
    assert_eq!(
        bodies,
        [["a"], ["a"], ["b"]],
        "a 503, its retry, the next export"
    );
    let authority = url
        .trim_start_matches("http://")
        .trim_end_matches("/v1/traces");
    assert!(seen.iter().all(|(headers, _)| headers["host"] == authority));
}

#[tokio::test]
async fn the_in_thread_client_gives_up_on_a_silent_collector_at_the_timeout() {
    // Accepts connections and never answers.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/v1/traces", silent.local_addr().unwrap());
    let exporter = in_thread_exporter(&url, Duration::from_millis(300));
    let started = std::time::Instant::now();
    let result = export(&exporter, vec![span("a")]).await;
    let waited = started.elapsed();
    drop(silent);
    assert!(result.is_err());
    assert!(waited < Duration::from_secs(3), "waited {waited:?}");
}
