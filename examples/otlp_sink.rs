//! A cheap OTLP/HTTP trace receiver for the load benchmark: decodes every
//! `ExportTraceServiceRequest` (real protobuf, so a malformed export counts as
//! bad) and keeps only counters, so millions of spans cost no memory.
//!
//! Binds 127.0.0.1:`PORT` (default 0), logs `{"message":"listening",...}`, and
//! answers `GET /stats` with `{"spans":N,"requests":N,"bad":N,"other":N}` (`other`: metrics
//! and logs exports, accepted and dropped).

use std::{
    io::Write,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
};

use axum::{
    Json, Router,
    body::Bytes,
    extract::State,
    http::{HeaderMap, StatusCode},
    routing::{get, post},
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use prost::Message;
use serde_json::{Value, json};

#[derive(Default)]
struct Counts {
    spans: AtomicU64,
    requests: AtomicU64,
    bad: AtomicU64,
    other: AtomicU64,
}

async fn traces(
    State(counts): State<Arc<Counts>>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, Vec<u8>) {
    counts.requests.fetch_add(1, Ordering::Relaxed);
    // The direct (X-Ray) path sends gzip, as X-Ray accepts it.
    let body = if headers.get("content-encoding").map(|v| v.as_bytes()) == Some(b"gzip") {
        let mut out = Vec::new();
        if std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&body[..]), &mut out)
            .is_err()
        {
            counts.bad.fetch_add(1, Ordering::Relaxed);
            return (StatusCode::BAD_REQUEST, Vec::new());
        }
        Bytes::from(out)
    } else {
        body
    };
    let Ok(request) = ExportTraceServiceRequest::decode(body) else {
        counts.bad.fetch_add(1, Ordering::Relaxed);
        return (StatusCode::BAD_REQUEST, Vec::new());
    };
    let spans: usize = request
        .resource_spans
        .iter()
        .flat_map(|r| &r.scope_spans)
        .map(|s| s.spans.len())
        .sum();
    counts.spans.fetch_add(spans as u64, Ordering::Relaxed);
    let response = ExportTraceServiceResponse {
        partial_success: None,
    };
    (StatusCode::OK, response.encode_to_vec())
}

async fn stats(State(counts): State<Arc<Counts>>) -> Json<Value> {
    Json(json!({
        "spans": counts.spans.load(Ordering::Relaxed),
        "requests": counts.requests.load(Ordering::Relaxed),
        "bad": counts.bad.load(Ordering::Relaxed),
        "other": counts.other.load(Ordering::Relaxed),
    }))
}

// One thread: the sink shares the load generator's core and should stay small.
#[tokio::main(flavor = "current_thread")]
async fn main() -> std::io::Result<()> {
    let port: u16 = std::env::var("PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    let app = Router::new()
        .route("/v1/traces", post(traces))
        .route("/stats", get(stats))
        // Metrics and logs exports are accepted, counted and dropped.
        .fallback(|State(counts): State<Arc<Counts>>| async move {
            counts.other.fetch_add(1, Ordering::Relaxed);
            StatusCode::OK
        })
        .with_state(Arc::new(Counts::default()));
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    let address = listener.local_addr()?;
    // On stdout like the service's log line, so one harness reads both.
    let line = json!({ "message": "listening", "address": address.to_string() });
    writeln!(std::io::stdout(), "{line}")?;
    axum::serve(listener, app).await
}
