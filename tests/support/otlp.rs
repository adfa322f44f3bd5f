//! An OTLP trace and metrics receiver on 127.0.0.1:0, speaking http/protobuf
//! and gRPC, decoding real protobuf. Every received span and metric goes to a
//! channel; a mode switch makes it refuse (503) or hang, for fault tests.
//!
//! Every attribute of every span (and resource) it receives is checked
//! against its semantic-conventions type ([`SPAN_ATTRIBUTES`]); a test whose
//! receiver saw a mistyped or unlisted attribute fails when the receiver is
//! dropped. An integer exported as `"200"` is invisible to X-Ray.

use std::{
    net::SocketAddr,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU8, AtomicU64, Ordering},
    },
};

use axum::{Router, body::Bytes, extract::State, http::StatusCode, routing::post};
use opentelemetry_proto::tonic::{
    collector::{
        metrics::v1::{
            ExportMetricsServiceRequest, ExportMetricsServiceResponse,
            metrics_service_server::{MetricsService, MetricsServiceServer},
        },
        trace::v1::{
            ExportTraceServiceRequest, ExportTraceServiceResponse,
            trace_service_server::{TraceService, TraceServiceServer},
        },
    },
    common::v1::{AnyValue, KeyValue, any_value::Value},
    metrics::v1::Metric,
    resource::v1::Resource,
    trace::v1::Span as ProtoSpan,
};
use prost::Message;
use tokio::sync::mpsc;

/// A span as received, with the resource it came with.
#[derive(Clone, Debug)]
pub struct Received {
    pub span: ProtoSpan,
    pub resource: Vec<KeyValue>,
}

impl Received {
    pub fn trace_id(&self) -> String {
        hex(&self.span.trace_id)
    }
    pub fn span_id(&self) -> String {
        hex(&self.span.span_id)
    }
    pub fn parent_id(&self) -> String {
        hex(&self.span.parent_span_id)
    }
    pub fn attr(&self, key: &str) -> Option<String> {
        find(&self.span.attributes, key)
    }
    /// The attribute's value exactly as received.
    pub fn value(&self, key: &str) -> Option<&Value> {
        self.span
            .attributes
            .iter()
            .find(|kv| kv.key == key)
            .and_then(|kv| kv.value.as_ref())
            .and_then(|v| v.value.as_ref())
    }
    /// An attribute that must be an OTLP `intValue`.
    pub fn int(&self, key: &str) -> Option<i64> {
        match self.value(key)? {
            Value::IntValue(i) => Some(*i),
            other => panic!("{key} must be an intValue, got {other:?}"),
        }
    }
    pub fn resource_attr(&self, key: &str) -> Option<String> {
        find(&self.resource, key)
    }
    pub fn is_server(&self) -> bool {
        self.span.kind == 2
    }
    pub fn is_client(&self) -> bool {
        self.span.kind == 3
    }
}

/// A metric as received (one instrument's data points of one export), with its resource.
#[derive(Clone, Debug)]
pub struct ReceivedMetric {
    pub metric: Metric,
    pub resource: Vec<KeyValue>,
}

impl ReceivedMetric {
    pub fn resource_attr(&self, key: &str) -> Option<String> {
        find(&self.resource, key)
    }
}

/// An attribute value as sent, typed: what a test compares against.
pub fn typed(attributes: &[KeyValue]) -> std::collections::BTreeMap<String, Value> {
    attributes
        .iter()
        .filter_map(|kv| Some((kv.key.clone(), kv.value.as_ref()?.value.clone()?)))
        .collect()
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn find(attributes: &[KeyValue], key: &str) -> Option<String> {
    attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
        .and_then(value_to_string)
}

fn value_to_string(value: &AnyValue) -> Option<String> {
    Some(match value.value.as_ref()? {
        Value::StringValue(s) => s.clone(),
        Value::BoolValue(b) => b.to_string(),
        Value::IntValue(i) => i.to_string(),
        Value::DoubleValue(d) => d.to_string(),
        Value::ArrayValue(a) => a
            .values
            .iter()
            .filter_map(value_to_string)
            .collect::<Vec<_>>()
            .join(","),
        _ => return None,
    })
}

/// The OTLP value kinds attributes may have.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Str,
    Int,
    Bool,
    StrArray,
}

/// Every span attribute the service sets, with its semconv type. A new
/// attribute must be added here, or every test that exports it fails.
pub const SPAN_ATTRIBUTES: &[(&str, Kind)] = &[
    ("http.request.method", Kind::Str),
    ("http.route", Kind::Str),
    ("http.response.status_code", Kind::Int),
    ("url.scheme", Kind::Str),
    ("url.path", Kind::Str),
    ("url.full", Kind::Str),
    ("server.address", Kind::Str),
    ("server.port", Kind::Int),
    ("client.address", Kind::Str),
    ("network.protocol.version", Kind::Str),
    ("user_agent.original", Kind::Str),
    ("error.type", Kind::Str),
    ("faas.trigger", Kind::Str),
    ("faas.invocation_id", Kind::Str),
    ("faas.coldstart", Kind::Bool),
    ("db.system.name", Kind::Str),
    ("db.system", Kind::Str),
    ("db.operation.name", Kind::Str),
    ("db.query.text", Kind::Str),
    ("db.statement", Kind::Str),
    ("db.namespace", Kind::Str),
    ("db.collection.name", Kind::Str),
    ("db.response.status_code", Kind::Str),
    ("db.name", Kind::Str),
    ("db.user", Kind::Str),
    ("db.connection_string", Kind::Str),
    // The `/api/database` handler's own span (src/app/routes/database.rs).
    ("limit", Kind::Int),
    // Application Signals, added at export (src/telemetry/trace/appsignals.rs).
    ("aws.span.kind", Kind::Str),
    ("aws.local.service", Kind::Str),
    ("aws.local.operation", Kind::Str),
    ("aws.local.environment", Kind::Str),
    ("aws.remote.service", Kind::Str),
    ("aws.remote.operation", Kind::Str),
    // AWS SDK calls (src/aws/trace.rs).
    ("rpc.system", Kind::Str),
    ("rpc.service", Kind::Str),
    ("rpc.method", Kind::Str),
    ("aws.request_id", Kind::Str),
    ("aws.dynamodb.table_names", Kind::StrArray),
    ("cloud.region", Kind::Str),
    ("aws.region", Kind::Str),
    ("aws.queue_url", Kind::Str),
    ("aws.sqs.queue.url", Kind::Str),
    ("aws.s3.bucket", Kind::Str),
    ("aws.s3.key", Kind::Str),
    ("aws.sns.topic.arn", Kind::Str),
    ("aws.lambda.function.name", Kind::Str),
    ("faas.invoked_name", Kind::Str),
];

/// Resource attributes with a type other than string; any other resource
/// attribute (including `OTEL_RESOURCE_ATTRIBUTES`) must be a string.
pub const RESOURCE_ATTRIBUTES: &[(&str, Kind)] = &[
    ("faas.max_memory", Kind::Int),
    ("aws.log.group.names", Kind::StrArray),
    ("aws.log.stream.names", Kind::StrArray),
];

fn kind_of(value: Option<&AnyValue>) -> Option<Kind> {
    Some(match value?.value.as_ref()? {
        Value::StringValue(_) => Kind::Str,
        Value::IntValue(_) => Kind::Int,
        Value::BoolValue(_) => Kind::Bool,
        Value::ArrayValue(a) if a.values.iter().all(|v| kind_of(Some(v)) == Some(Kind::Str)) => {
            Kind::StrArray
        }
        _ => return None,
    })
}

/// What is wrong with the types of a span's and its resource's attributes.
pub fn type_violations(span: &ProtoSpan, resource: &[KeyValue]) -> Vec<String> {
    let mut out = Vec::new();
    for kv in &span.attributes {
        let want = SPAN_ATTRIBUTES.iter().find(|(k, _)| *k == kv.key);
        let got = kind_of(kv.value.as_ref());
        match want {
            None => out.push(format!(
                "span {:?}: attribute {} is not in SPAN_ATTRIBUTES ({got:?})",
                span.name, kv.key
            )),
            Some((_, want)) if Some(*want) != got => out.push(format!(
                "span {:?}: {} must be {want:?}, got {:?}",
                span.name, kv.key, kv.value
            )),
            Some(_) => {}
        }
    }
    for kv in resource {
        let want = RESOURCE_ATTRIBUTES
            .iter()
            .find(|(k, _)| *k == kv.key)
            .map_or(Kind::Str, |(_, kind)| *kind);
        if kind_of(kv.value.as_ref()) != Some(want) {
            out.push(format!(
                "resource: {} must be {want:?}, got {:?}",
                kv.key, kv.value
            ));
        }
    }
    out
}

/// Every span of an export request, each with its resource's attributes.
pub fn spans_of(request: ExportTraceServiceRequest) -> Vec<Received> {
    let mut out = Vec::new();
    for resource_spans in request.resource_spans {
        let resource = resource_spans
            .resource
            .map(|r: Resource| r.attributes)
            .unwrap_or_default();
        for scope in resource_spans.scope_spans {
            out.extend(scope.spans.into_iter().map(|span| Received {
                span,
                resource: resource.clone(),
            }));
        }
    }
    out
}

/// What the receiver does with an export request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Mode {
    Accept = 0,
    Refuse = 1,
    Hang = 2,
}

#[derive(Clone)]
struct Shared {
    tx: mpsc::UnboundedSender<Received>,
    metrics_tx: mpsc::UnboundedSender<ReceivedMetric>,
    mode: Arc<AtomicU8>,
    spans: Arc<AtomicU64>,
    requests: Arc<AtomicU64>,
    violations: Arc<Mutex<Vec<String>>>,
}

impl Shared {
    /// `None` means: answer with an error.
    async fn take(&self, request: ExportTraceServiceRequest) -> Option<()> {
        self.requests.fetch_add(1, Ordering::SeqCst);
        match self.mode.load(Ordering::SeqCst) {
            1 => return None,
            2 => std::future::pending::<()>().await,
            _ => {}
        }
        for received in spans_of(request) {
            self.violations
                .lock()
                .unwrap()
                .extend(type_violations(&received.span, &received.resource));
            self.spans.fetch_add(1, Ordering::SeqCst);
            let _ = self.tx.send(received);
        }
        Some(())
    }

    async fn take_metrics(&self, request: ExportMetricsServiceRequest) -> Option<()> {
        match self.mode.load(Ordering::SeqCst) {
            1 => return None,
            2 => std::future::pending::<()>().await,
            _ => {}
        }
        for resource_metrics in request.resource_metrics {
            let resource = resource_metrics
                .resource
                .map(|r| r.attributes)
                .unwrap_or_default();
            for scope in resource_metrics.scope_metrics {
                for metric in scope.metrics {
                    let _ = self.metrics_tx.send(ReceivedMetric {
                        metric,
                        resource: resource.clone(),
                    });
                }
            }
        }
        Some(())
    }
}

pub struct Receiver {
    pub http_addr: SocketAddr,
    pub grpc_addr: SocketAddr,
    pub spans: mpsc::UnboundedReceiver<Received>,
    pub metrics: mpsc::UnboundedReceiver<ReceivedMetric>,
    shared: Shared,
}

impl Receiver {
    pub async fn start() -> std::io::Result<Self> {
        Self::start_on(tokio::net::TcpListener::bind("127.0.0.1:0").await?).await
    }

    /// Serves OTLP/HTTP on `http`, a listener the test made (for example
    /// from a [`ClosedPort`] that the collector "returns" to).
    pub async fn start_on(http: tokio::net::TcpListener) -> std::io::Result<Self> {
        let (tx, spans) = mpsc::unbounded_channel();
        let (metrics_tx, metrics) = mpsc::unbounded_channel();
        let shared = Shared {
            tx,
            metrics_tx,
            mode: Arc::new(AtomicU8::new(0)),
            spans: Arc::new(AtomicU64::new(0)),
            requests: Arc::new(AtomicU64::new(0)),
            violations: Arc::new(Mutex::new(Vec::new())),
        };
        let http_addr = http.local_addr()?;
        let app = Router::new()
            .route("/v1/traces", post(http_export))
            .route("/v1/metrics", post(http_export_metrics))
            .with_state(shared.clone());
        tokio::spawn(async move { axum::serve(http, app).await });

        let grpc = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let grpc_addr = grpc.local_addr()?;
        let service = TraceServiceServer::new(GrpcReceiver(shared.clone()));
        let metrics_service = MetricsServiceServer::new(GrpcReceiver(shared.clone()));
        tokio::spawn(async move {
            tonic::transport::Server::builder()
                .add_service(service)
                .add_service(metrics_service)
                .serve_with_incoming(tonic::transport::server::TcpIncoming::from(grpc))
                .await
        });
        Ok(Self {
            http_addr,
            grpc_addr,
            spans,
            metrics,
            shared,
        })
    }

    pub fn http_endpoint(&self) -> String {
        format!("http://{}", self.http_addr)
    }

    pub fn grpc_endpoint(&self) -> String {
        format!("http://{}", self.grpc_addr)
    }

    pub fn set_mode(&self, mode: Mode) {
        self.shared.mode.store(mode as u8, Ordering::SeqCst);
    }

    pub fn span_count(&self) -> u64 {
        self.shared.spans.load(Ordering::SeqCst)
    }

    /// A reader of the span count that other doubles can sample.
    pub fn counter(&self) -> impl Fn() -> u64 + Send + Sync + 'static {
        let spans = Arc::clone(&self.shared.spans);
        move || spans.load(Ordering::SeqCst)
    }

    pub fn request_count(&self) -> u64 {
        self.shared.requests.load(Ordering::SeqCst)
    }

    /// Waits for the next span, up to the test deadline.
    pub async fn next(&mut self) -> Option<Received> {
        tokio::time::timeout(super::DEADLINE, self.spans.recv())
            .await
            .ok()
            .flatten()
    }

    /// Waits for the next span matching `pred`, keeping the others aside.
    pub async fn next_matching(&mut self, pred: impl Fn(&Received) -> bool) -> Option<Received> {
        loop {
            let span = self.next().await?;
            if pred(&span) {
                return Some(span);
            }
        }
    }

    /// Every metric received so far, without waiting.
    pub fn drain_metrics(&mut self) -> Vec<ReceivedMetric> {
        let mut out = Vec::new();
        while let Ok(metric) = self.metrics.try_recv() {
            out.push(metric);
        }
        out
    }

    /// Every span received so far, without waiting.
    pub fn drain(&mut self) -> Vec<Received> {
        let mut out = Vec::new();
        while let Ok(span) = self.spans.try_recv() {
            out.push(span);
        }
        out
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let violations = self.shared.violations.lock().unwrap();
        if !violations.is_empty() && !std::thread::panicking() {
            panic!(
                "spans with mistyped or unlisted attributes:\n{}",
                violations.join("\n")
            );
        }
    }
}

async fn http_export(
    State(shared): State<Shared>,
    headers: axum::http::HeaderMap,
    body: Bytes,
) -> StatusCode {
    let Some(body) = gunzip_if_needed(&headers, body) else {
        return StatusCode::BAD_REQUEST;
    };
    let Ok(request) = ExportTraceServiceRequest::decode(body) else {
        return StatusCode::BAD_REQUEST;
    };
    match shared.take(request).await {
        Some(()) => StatusCode::OK,
        None => StatusCode::SERVICE_UNAVAILABLE,
    }
}

async fn http_export_metrics(State(shared): State<Shared>, body: Bytes) -> StatusCode {
    let Ok(request) = ExportMetricsServiceRequest::decode(body) else {
        return StatusCode::BAD_REQUEST;
    };
    match shared.take_metrics(request).await {
        Some(()) => StatusCode::OK,
        None => StatusCode::SERVICE_UNAVAILABLE,
    }
}

struct GrpcReceiver(Shared);

#[tonic::async_trait]
impl MetricsService for GrpcReceiver {
    async fn export(
        &self,
        request: tonic::Request<ExportMetricsServiceRequest>,
    ) -> Result<tonic::Response<ExportMetricsServiceResponse>, tonic::Status> {
        match self.0.take_metrics(request.into_inner()).await {
            Some(()) => Ok(tonic::Response::new(ExportMetricsServiceResponse {
                partial_success: None,
            })),
            None => Err(tonic::Status::unavailable("refusing on purpose")),
        }
    }
}

#[tonic::async_trait]
impl TraceService for GrpcReceiver {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        match self.0.take(request.into_inner()).await {
            Some(()) => Ok(tonic::Response::new(ExportTraceServiceResponse {
                partial_success: None,
            })),
            None => Err(tonic::Status::unavailable("refusing on purpose")),
        }
    }
}

/// A port on 127.0.0.1 that refuses connections (bound, not listening: the
/// kernel answers a SYN with RST) until [`ClosedPort::open`] starts listening
/// on it. Unlike closing and re-binding, nothing else can take the port.
pub struct ClosedPort {
    socket: tokio::net::TcpSocket,
    pub addr: SocketAddr,
}

impl ClosedPort {
    pub fn new() -> std::io::Result<Self> {
        let socket = tokio::net::TcpSocket::new_v4()?;
        socket.bind(([127, 0, 0, 1], 0).into())?;
        let addr = socket.local_addr()?;
        Ok(Self { socket, addr })
    }

    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The collector comes (back): the port starts accepting connections.
    pub fn open(self) -> std::io::Result<tokio::net::TcpListener> {
        self.socket.listen(1024)
    }
}

/// The body as sent, or gunzipped when `Content-Encoding: gzip` says so.
pub fn gunzip_if_needed(headers: &axum::http::HeaderMap, body: Bytes) -> Option<Bytes> {
    use std::io::Read;
    if headers.get("content-encoding").map(|v| v.as_bytes()) != Some(b"gzip") {
        return Some(body);
    }
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(&body[..])
        .read_to_end(&mut out)
        .ok()?;
    Some(out.into())
}
