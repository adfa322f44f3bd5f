//! A Lambda Runtime API double that speaks the documented protocol:
//! `GET /2018-06-01/runtime/invocation/next` (with the `Lambda-Runtime-*`
//! headers), `POST .../invocation/{id}/response`, `POST .../invocation/{id}/error`,
//! `POST .../init/error`, and the Extensions API registration the runtime's
//! graceful-shutdown support makes.
//!
//! Events are queued by the test; every call is appended to a timeline so a
//! test can prove what happened before each `/next`.

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use axum::{
    Router,
    body::Bytes,
    extract::{Path, State},
    http::{HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use tokio::sync::{Mutex as AsyncMutex, mpsc, watch};

/// One invocation to hand out.
#[derive(Clone, Debug)]
pub struct Invocation {
    pub request_id: String,
    pub trace_header: Option<String>,
    pub body: String,
}

/// What the runtime sent back for an invocation.
#[derive(Clone, Debug)]
pub enum Outcome {
    Response {
        request_id: String,
        body: serde_json::Value,
    },
    Error {
        request_id: String,
        error_type: String,
        body: serde_json::Value,
    },
    /// `POST /init/error`: its `Lambda-Runtime-Function-Error-Type` and body.
    InitError {
        error_type: String,
        body: serde_json::Value,
    },
}

/// Calls in the order the double saw them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Call {
    /// The runtime asked for event number `n` (0-based).
    Next(usize),
    Response(String),
    Error(String),
    /// `spans` had been received by the OTLP receiver at this point.
    Mark(&'static str, u64),
}

#[derive(Clone)]
struct Shared {
    events: Arc<AsyncMutex<mpsc::UnboundedReceiver<Invocation>>>,
    outcomes: mpsc::UnboundedSender<Outcome>,
    timeline: Arc<Mutex<Vec<Call>>>,
    nexts: Arc<Mutex<usize>>,
    span_count: Arc<dyn Fn() -> u64 + Send + Sync>,
    next_span_counts: Arc<Mutex<Vec<u64>>>,
    /// Each invocation's deadline is this far after it is handed out.
    deadline_in: Arc<Mutex<Duration>>,
    /// When each `/next` call arrived, and the deadline of each invocation
    /// handed out, in epoch milliseconds.
    next_at: Arc<Mutex<Vec<u128>>>,
    deadlines: Arc<Mutex<Vec<u128>>>,
    nexts_seen: Arc<watch::Sender<usize>>,
}

pub struct RuntimeApi {
    pub addr: SocketAddr,
    pub outcomes: mpsc::UnboundedReceiver<Outcome>,
    events: Option<mpsc::UnboundedSender<Invocation>>,
    shared: Shared,
    server: tokio::task::JoinHandle<()>,
}

impl RuntimeApi {
    /// `span_count` reads how many spans the collector has; it is sampled on every `/next`.
    pub async fn start(
        span_count: impl Fn() -> u64 + Send + Sync + 'static,
    ) -> std::io::Result<Self> {
        let (events, rx) = mpsc::unbounded_channel();
        let (outcomes_tx, outcomes) = mpsc::unbounded_channel();
        let shared = Shared {
            events: Arc::new(AsyncMutex::new(rx)),
            outcomes: outcomes_tx,
            timeline: Arc::default(),
            nexts: Arc::default(),
            span_count: Arc::new(span_count),
            next_span_counts: Arc::default(),
            deadline_in: Arc::new(Mutex::new(Duration::from_secs(30))),
            next_at: Arc::default(),
            deadlines: Arc::default(),
            nexts_seen: Arc::new(watch::channel(0).0),
        };
        let app = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route(
                "/2018-06-01/runtime/invocation/{id}/response",
                post(response),
            )
            .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
            .route("/2018-06-01/runtime/init/error", post(init_error))
            .route("/2020-01-01/extension/register", post(register))
            .route("/2020-01-01/extension/event/next", get(extension_next))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self {
            addr,
            outcomes,
            events: Some(events),
            shared,
            server,
        })
    }

    pub fn push(&self, invocation: Invocation) {
        if let Some(events) = &self.events {
            let _ = events.send(invocation);
        }
    }

    /// The environment a Lambda sandbox gives the runtime.
    pub fn lambda_env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_LAMBDA_RUNTIME_API", self.addr.to_string()),
            ("AWS_LAMBDA_FUNCTION_NAME", "axum-xray-otel-test".to_owned()),
            ("AWS_LAMBDA_FUNCTION_VERSION", "7".to_owned()),
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256".to_owned()),
            (
                "AWS_LAMBDA_LOG_STREAM_NAME",
                "2026/11/25/[7]abcdef".to_owned(),
            ),
            ("AWS_REGION", "eu-west-1".to_owned()),
        ]
    }

    pub async fn next_outcome(&mut self) -> Option<Outcome> {
        tokio::time::timeout(super::DEADLINE, self.outcomes.recv())
            .await
            .ok()
            .flatten()
    }

    pub fn timeline(&self) -> Vec<Call> {
        self.shared.timeline.lock().unwrap().clone()
    }

    /// For each `/next` call, the collector's span count at that moment.
    pub fn span_counts_at_next(&self) -> Vec<u64> {
        self.shared.next_span_counts.lock().unwrap().clone()
    }

    /// Invocations handed out from now on have their deadline `after` then.
    pub fn set_deadline_in(&self, after: Duration) {
        *self.shared.deadline_in.lock().unwrap() = after;
    }

    /// Waits until the runtime has called `/next` `n` times; false at the deadline.
    pub async fn wait_for_nexts(&self, n: usize) -> bool {
        let mut seen = self.shared.nexts_seen.subscribe();
        tokio::time::timeout(super::DEADLINE, seen.wait_for(|count| *count >= n))
            .await
            .is_ok_and(|r| r.is_ok())
    }

    /// When each `/next` call arrived (epoch ms).
    pub fn next_times(&self) -> Vec<u128> {
        self.shared.next_at.lock().unwrap().clone()
    }

    /// The deadline of each invocation handed out (epoch ms).
    pub fn deadlines(&self) -> Vec<u128> {
        self.shared.deadlines.lock().unwrap().clone()
    }

    /// Stops serving: the runtime's next call fails (the Runtime API went away).
    pub fn stop(&mut self) {
        self.server.abort();
        // A pending `/next` then fails, and new connections are refused.
        self.events = None;
    }
}

async fn next(State(shared): State<Shared>) -> Response {
    let n = {
        let mut nexts = shared.nexts.lock().unwrap();
        *nexts += 1;
        *nexts - 1
    };
    shared
        .next_span_counts
        .lock()
        .unwrap()
        .push((shared.span_count)());
    shared.timeline.lock().unwrap().push(Call::Next(n));
    shared.next_at.lock().unwrap().push(epoch_ms());
    shared.nexts_seen.send_replace(n + 1);
    let Some(invocation) = shared.events.lock().await.recv().await else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    let deadline = epoch_ms() + shared.deadline_in.lock().unwrap().as_millis();
    shared.deadlines.lock().unwrap().push(deadline);
    let mut headers = HeaderMap::new();
    let mut set = |name: &'static str, value: &str| {
        if let Ok(v) = HeaderValue::from_str(value) {
            headers.insert(name, v);
        }
    };
    set("lambda-runtime-aws-request-id", &invocation.request_id);
    set("lambda-runtime-deadline-ms", &deadline.to_string());
    set(
        "lambda-runtime-invoked-function-arn",
        "arn:aws:lambda:eu-west-1:123456789012:function:axum-xray-otel-test",
    );
    if let Some(trace) = &invocation.trace_header {
        set("lambda-runtime-trace-id", trace);
    }
    set("content-type", "application/json");
    (StatusCode::OK, headers, invocation.body).into_response()
}

async fn response(State(shared): State<Shared>, Path(id): Path<String>, body: Bytes) -> StatusCode {
    shared
        .timeline
        .lock()
        .unwrap()
        .push(Call::Response(id.clone()));
    let body = serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
    let _ = shared.outcomes.send(Outcome::Response {
        request_id: id,
        body,
    });
    StatusCode::ACCEPTED
}

async fn error(
    State(shared): State<Shared>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    shared
        .timeline
        .lock()
        .unwrap()
        .push(Call::Error(id.clone()));
    let error_type = headers
        .get("lambda-runtime-function-error-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body = serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
    let _ = shared.outcomes.send(Outcome::Error {
        request_id: id,
        error_type,
        body,
    });
    StatusCode::ACCEPTED
}

async fn init_error(State(shared): State<Shared>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let error_type = headers
        .get("lambda-runtime-function-error-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body = serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
    let _ = shared
        .outcomes
        .send(Outcome::InitError { error_type, body });
    StatusCode::ACCEPTED
}

fn epoch_ms() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis()
}

async fn register() -> Response {
    let body = serde_json::json!({
        "functionName": "axum-xray-otel-test",
        "functionVersion": "7",
        "handler": "bootstrap"
    });
    (
        StatusCode::OK,
        [("lambda-extension-identifier", "test-extension-id")],
        axum::Json(body),
    )
        .into_response()
}

/// The no-op extension subscribes to nothing: it waits here until shutdown.
async fn extension_next() -> Response {
    std::future::pending::<()>().await;
    StatusCode::OK.into_response()
}

/// Events shipped in `deploy/events/`, read from the repository.
pub fn event(name: &str) -> String {
    let path = format!("{}/deploy/events/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}
