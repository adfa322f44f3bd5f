//! A recording proxy in front of an AWS endpoint (DynamoDB Local): records
//! each request's target and `X-Amzn-Trace-Id` with the answer's status and
//! request id, and can answer with an AWS error or hang instead of forwarding.

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
};

use axum::{
    Router,
    body::{Body, Bytes},
    extract::State,
    http::{HeaderMap, Method, StatusCode, Uri},
    response::Response,
};

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Mode {
    Forward,
    /// Answer 400 with this DynamoDB error code, as DynamoDB does.
    Fail(&'static str),
    Hang,
}

#[derive(Clone, Debug)]
pub struct Recorded {
    /// `X-Amz-Target`, e.g. `DynamoDB_20120810.GetItem`.
    pub target: String,
    pub trace_header: Option<String>,
    pub status: u16,
    pub request_id: Option<String>,
}

#[derive(Clone)]
struct Shared {
    upstream: Option<String>,
    mode: Arc<Mutex<Mode>>,
    records: Arc<Mutex<Vec<Recorded>>>,
    client: reqwest::Client,
}

pub struct AwsProxy {
    pub addr: SocketAddr,
    shared: Shared,
}

impl AwsProxy {
    /// Forwards to `upstream` (`None`: only `Fail` and `Hang` make sense).
    pub async fn start(upstream: Option<String>, mode: Mode) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let shared = Shared {
            upstream,
            mode: Arc::new(Mutex::new(mode)),
            records: Arc::default(),
            client: super::client(),
        };
        let app = Router::new().fallback(handle).with_state(shared.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Ok(Self { addr, shared })
    }

    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn set_mode(&self, mode: Mode) {
        *self.shared.mode.lock().unwrap() = mode;
    }

    pub fn records(&self) -> Vec<Recorded> {
        self.shared.records.lock().unwrap().clone()
    }
}

async fn handle(
    State(shared): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let target = header("x-amz-target").unwrap_or_default();
    let trace_header = header("x-amzn-trace-id");
    let mode = shared.mode.lock().unwrap().clone();
    let response = match mode {
        Mode::Hang => {
            shared.records.lock().unwrap().push(Recorded {
                target,
                trace_header,
                status: 0,
                request_id: None,
            });
            return std::future::pending().await;
        }
        Mode::Fail(code) => aws_error(code, shared.records.lock().unwrap().len()),
        Mode::Forward => forward(&shared, method, &uri, &headers, body).await,
    };
    let request_id = response
        .headers()
        .get("x-amzn-requestid")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    shared.records.lock().unwrap().push(Recorded {
        target,
        trace_header,
        status: response.status().as_u16(),
        request_id,
    });
    response
}

fn aws_error(code: &str, n: usize) -> Response {
    let body = format!(
        r#"{{"__type":"com.amazonaws.dynamodb.v20120810#{code}","message":"injected by the test proxy"}}"#
    );
    Response::builder()
        .status(StatusCode::BAD_REQUEST)
        .header("content-type", "application/x-amz-json-1.0")
        .header("x-amzn-requestid", format!("PROXY{n:020}"))
        .body(Body::from(body))
        .unwrap()
}

async fn forward(
    shared: &Shared,
    method: Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: Bytes,
) -> Response {
    let upstream = shared
        .upstream
        .as_deref()
        .expect("Forward needs an upstream");
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let mut request = shared
        .client
        .request(method, format!("{upstream}{path}"))
        .body(body);
    for (name, value) in headers {
        if name != "host" && name != "content-length" {
            request = request.header(name, value);
        }
    }
    let answer = request.send().await.expect("upstream answers");
    let mut response = Response::builder().status(answer.status());
    for (name, value) in answer.headers() {
        if name != "content-length" && name != "transfer-encoding" {
            response = response.header(name, value);
        }
    }
    let bytes = answer.bytes().await.expect("upstream body");
    response.body(Body::from(bytes)).unwrap()
}

/// On the Lambda target, after one invocation that made one AWS call: the
/// call's CLIENT span (`name`) sits under the request's SERVER span, itself
/// under the function segment, and the header the service received names
/// that CLIENT span as `Parent` (ours, not the SDK's copy of the
/// invocation's header). Returns the CLIENT span.
pub async fn assert_lambda_call_traced(
    receiver: &mut super::otlp::Receiver,
    proxy: &AwsProxy,
    name: &str,
) -> super::otlp::Received {
    let mut spans = Vec::new();
    while spans.len() < 2 {
        spans.push(
            receiver
                .next()
                .await
                .expect("spans flushed after the invocation"),
        );
    }
    let call = spans
        .iter()
        .find(|s| s.span.name == name)
        .expect("client span")
        .clone();
    let server = spans.iter().find(|s| s.is_server()).expect("server span");
    assert_eq!(
        server.parent_id(),
        super::XRAY_PARENT,
        "the function segment is the parent"
    );
    assert_eq!(call.parent_id(), server.span_id());
    assert_eq!(call.trace_id(), super::XRAY_TRACE_HEX);
    let records = proxy.records();
    assert_eq!(records.len(), 1);
    assert_eq!(
        records[0].trace_header,
        Some(format!(
            "Root={};Parent={};Sampled=1",
            super::XRAY_ROOT,
            call.span_id()
        ))
    );
    call
}
