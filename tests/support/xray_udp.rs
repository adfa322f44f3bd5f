//! The X-Ray endpoint Lambda runs beside a function, as a UDP socket on
//! 127.0.0.1: it takes OTLP datagrams in the framing AWS's OTLP UDP exporters
//! use (the daemon protocol's JSON header line, `T1S`, then the base64
//! protobuf `ExportTraceServiceRequest`), decodes every span and checks its
//! attribute types as the OTLP receiver does. A datagram framed any other way,
//! or larger than UDP allows, fails the test when the double is dropped.

use std::sync::{
    Arc, Mutex,
    atomic::{AtomicU64, AtomicUsize, Ordering},
};

use base64::{Engine as _, engine::general_purpose::STANDARD};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;
use serde_json::Value;
use tokio::{
    net::UdpSocket,
    sync::{Notify, mpsc},
};

use super::otlp::{Received, spans_of, type_violations};

/// The largest UDP payload over IPv4.
pub const MAX_DATAGRAM: usize = 65_507;

pub struct XrayUdp {
    pub addr: std::net::SocketAddr,
    spans: mpsc::UnboundedReceiver<Received>,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

struct Shared {
    socket: UdpSocket,
    tx: mpsc::UnboundedSender<Received>,
    /// Serialises reads, so datagrams are decoded in arrival order.
    buf: Mutex<Vec<u8>>,
    spans: AtomicU64,
    datagrams: AtomicU64,
    largest: AtomicUsize,
    problems: Mutex<Vec<String>>,
    arrived: Notify,
}

impl XrayUdp {
    pub async fn start() -> std::io::Result<Self> {
        let socket = UdpSocket::bind("127.0.0.1:0").await?;
        let addr = socket.local_addr()?;
        let (tx, spans) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            socket,
            tx,
            // Larger than any datagram, so an oversized one is seen, not cut.
            buf: Mutex::new(vec![0u8; 128 * 1024]),
            spans: AtomicU64::new(0),
            datagrams: AtomicU64::new(0),
            largest: AtomicUsize::new(0),
            problems: Mutex::new(Vec::new()),
            arrived: Notify::new(),
        });
        let state = Arc::clone(&shared);
        let task = tokio::spawn(async move {
            while state.socket.readable().await.is_ok() {
                state.pump();
            }
        });
        Ok(Self {
            addr,
            spans,
            shared,
            task,
        })
    }

    /// `AWS_XRAY_DAEMON_ADDRESS` as Lambda sets it.
    pub fn daemon_address(&self) -> String {
        self.addr.to_string()
    }

    /// A reader of the span count that other doubles can sample. It first
    /// reads every datagram already queued on the socket: on loopback a
    /// datagram is queued before the sender's `send` returns, so what the
    /// app sent before a request to another double is counted then.
    pub fn counter(&self) -> impl Fn() -> u64 + Send + Sync + 'static {
        let shared = Arc::clone(&self.shared);
        move || {
            shared.pump();
            shared.spans.load(Ordering::SeqCst)
        }
    }

    pub fn datagrams(&self) -> u64 {
        self.shared.datagrams.load(Ordering::SeqCst)
    }

    pub fn largest_datagram(&self) -> usize {
        self.shared.largest.load(Ordering::SeqCst)
    }

    /// Every span received so far, without waiting.
    pub fn drain(&mut self) -> Vec<Received> {
        let mut out = Vec::new();
        while let Ok(span) = self.spans.try_recv() {
            out.push(span);
        }
        out
    }

    /// Waits (up to the test deadline) until `count` spans have arrived in all.
    pub async fn wait_for(&mut self, count: u64) -> bool {
        let shared = Arc::clone(&self.shared);
        let reached = async move {
            loop {
                let arrived = shared.arrived.notified();
                if shared.spans.load(Ordering::SeqCst) >= count {
                    return;
                }
                arrived.await;
            }
        };
        tokio::time::timeout(super::DEADLINE, reached).await.is_ok()
    }
}

impl Drop for XrayUdp {
    fn drop(&mut self) {
        self.task.abort();
        let problems = self.shared.problems.lock().unwrap();
        if !problems.is_empty() && !std::thread::panicking() {
            panic!(
                "bad datagrams at the X-Ray endpoint:\n{}",
                problems.join("\n")
            );
        }
    }
}

impl Shared {
    /// Decodes every datagram waiting on the socket, without blocking.
    fn pump(&self) {
        let mut buf = self.buf.lock().unwrap();
        while let Ok(n) = self.socket.try_recv(&mut buf) {
            self.datagrams.fetch_add(1, Ordering::SeqCst);
            self.largest.fetch_max(n, Ordering::SeqCst);
            if n > MAX_DATAGRAM {
                self.problem(format!("a datagram of {n} bytes"));
            }
            match decode(&buf[..n]) {
                Ok(request) => self.take(request),
                Err(problem) => self.problem(problem),
            }
        }
        self.arrived.notify_waiters();
    }

    fn problem(&self, problem: String) {
        self.problems.lock().unwrap().push(problem);
    }

    fn take(&self, request: ExportTraceServiceRequest) {
        for received in spans_of(request) {
            self.problems
                .lock()
                .unwrap()
                .extend(type_violations(&received.span, &received.resource));
            self.spans.fetch_add(1, Ordering::SeqCst);
            let _ = self.tx.send(received);
        }
    }
}

/// One datagram: `{"format":"json","version":1}` and a newline, `T1S`, base64.
fn decode(datagram: &[u8]) -> Result<ExportTraceServiceRequest, String> {
    let text = std::str::from_utf8(datagram).map_err(|e| format!("not UTF-8: {e}"))?;
    let (header, body) = text.split_once('\n').ok_or("no protocol header line")?;
    let header: Value =
        serde_json::from_str(header).map_err(|e| format!("header {header:?} is not JSON: {e}"))?;
    if header != serde_json::json!({"format": "json", "version": 1}) {
        return Err(format!("unexpected protocol header {header}"));
    }
    let payload = body
        .strip_prefix("T1S")
        .ok_or_else(|| format!("no T1S prefix: {:?}", &body[..body.len().min(8)]))?;
    let bytes = STANDARD
        .decode(payload)
        .map_err(|e| format!("payload is not base64: {e}"))?;
    ExportTraceServiceRequest::decode(bytes.as_slice())
        .map_err(|e| format!("payload is not an ExportTraceServiceRequest: {e}"))
}
