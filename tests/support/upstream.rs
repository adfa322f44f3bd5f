//! A downstream service for `/api/external`: records the trace headers it
//! receives and answers as told (JSON, garbage, an error, or never).

use std::{net::SocketAddr, sync::Arc};

use axum::{Router, extract::State, http::HeaderMap, response::IntoResponse, routing::get};
use tokio::sync::{Mutex, mpsc, oneshot, watch};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Behaviour {
    Json,
    Garbage,
    Error,
    /// Answers this status with a JSON body.
    Status(u16),
    Hang,
    /// Answers only when the test releases it (through `release`).
    Held,
    /// Every request waits until the test calls `open_gate`, then answers JSON.
    Gated,
}

#[derive(Clone)]
struct Shared {
    behaviour: Behaviour,
    seen: mpsc::UnboundedSender<HeaderMap>,
    held: Arc<Mutex<Option<oneshot::Receiver<()>>>>,
    gate: watch::Receiver<bool>,
}

pub struct Upstream {
    pub addr: SocketAddr,
    pub requests: mpsc::UnboundedReceiver<HeaderMap>,
    release: Option<oneshot::Sender<()>>,
    gate: watch::Sender<bool>,
}

impl Upstream {
    pub async fn start(behaviour: Behaviour) -> std::io::Result<Self> {
        let (seen, requests) = mpsc::unbounded_channel();
        let (release, held) = oneshot::channel();
        let (gate, gate_rx) = watch::channel(false);
        let shared = Shared {
            behaviour,
            seen,
            held: Arc::new(Mutex::new(Some(held))),
            gate: gate_rx,
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let app = Router::new()
            .route("/delay/1", get(answer))
            .with_state(shared);
        tokio::spawn(async move { axum::serve(listener, app).await });
        Ok(Self {
            addr,
            requests,
            release: Some(release),
            gate,
        })
    }

    pub fn url(&self) -> String {
        format!("http://{}/delay/1", self.addr)
    }

    pub fn release(&mut self) {
        if let Some(tx) = self.release.take() {
            let _ = tx.send(());
        }
    }

    /// Lets every `Gated` request, waiting or still to come, answer.
    pub fn open_gate(&self) {
        let _ = self.gate.send(true);
    }
}

async fn answer(State(shared): State<Shared>, headers: HeaderMap) -> axum::response::Response {
    let _ = shared.seen.send(headers);
    match shared.behaviour {
        Behaviour::Json => {
            axum::Json(serde_json::json!({"url": "delay", "ok": true})).into_response()
        }
        Behaviour::Garbage => "<html>not json".into_response(),
        Behaviour::Error => (axum::http::StatusCode::INTERNAL_SERVER_ERROR, "boom").into_response(),
        Behaviour::Status(code) => (
            axum::http::StatusCode::from_u16(code).expect("a valid status"),
            axum::Json(serde_json::json!({"status": code})),
        )
            .into_response(),
        Behaviour::Hang => std::future::pending().await,
        Behaviour::Held => {
            if let Some(rx) = shared.held.lock().await.take() {
                let _ = rx.await;
            }
            axum::Json(serde_json::json!({"held": true})).into_response()
        }
        Behaviour::Gated => {
            let mut gate = shared.gate.clone();
            let _ = gate.wait_for(|open| *open).await;
            axum::Json(serde_json::json!({"gated": true})).into_response()
        }
    }
}

/// How a [`RawUpstream`] treats the n-th connection (in turn).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Reads the request and never answers, holding the connection until the caller gives up.
    Hang,
    /// Reads the request and resets the connection (RST).
    Reset,
    /// Answers bytes that are not HTTP.
    NotHttp,
    /// Answers 200 with a body that is not JSON.
    NotJson,
    /// Answers 500.
    ServerError,
}

/// A downstream at the TCP level, for faults axum cannot produce: each
/// connection gets the next fault of `faults`, round robin. Tracks the
/// connections it has open, so a test can await the caller closing them.
pub struct RawUpstream {
    pub addr: SocketAddr,
    open: watch::Receiver<i64>,
    accepted: Arc<std::sync::atomic::AtomicU64>,
}

impl RawUpstream {
    pub async fn start(faults: &'static [Fault]) -> std::io::Result<Self> {
        use std::sync::atomic::{AtomicU64, Ordering};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (open_tx, open) = watch::channel(0i64);
        let open_tx = Arc::new(open_tx);
        let accepted = Arc::new(AtomicU64::new(0));
        let accepted2 = Arc::clone(&accepted);
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let n = accepted2.fetch_add(1, Ordering::SeqCst) as usize;
                let fault = faults[n % faults.len()];
                let open = Arc::clone(&open_tx);
                open.send_modify(|n| *n += 1);
                tokio::spawn(async move {
                    let _ = misbehave(stream, fault).await;
                    open.send_modify(|n| *n -= 1);
                });
            }
        });
        Ok(Self {
            addr,
            open,
            accepted,
        })
    }

    pub fn url(&self) -> String {
        format!("http://{}/delay/1", self.addr)
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> u64 {
        self.accepted.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Connections not yet closed by either side.
    pub fn open_connections(&self) -> i64 {
        *self.open.borrow()
    }

    /// Waits until no connection is open; false if that takes longer than `limit`.
    pub async fn all_closed(&self, limit: std::time::Duration) -> bool {
        let mut open = self.open.clone();
        tokio::time::timeout(limit, open.wait_for(|n| *n == 0))
            .await
            .is_ok_and(|r| r.is_ok())
    }
}

async fn misbehave(mut stream: tokio::net::TcpStream, fault: Fault) -> std::io::Result<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    // Read the request head (a GET has no body); bounded.
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 65_536 {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        head.extend_from_slice(&buf[..n]);
    }
    let answer: &[u8] = match fault {
        Fault::Hang => {
            // Until the caller closes its end: a leak would show as a count that never drops.
            while stream.read(&mut buf).await? != 0 {}
            return Ok(());
        }
        Fault::Reset => {
            stream.set_zero_linger()?;
            return Ok(());
        }
        Fault::NotHttp => b"\x00\x01\x02 this is not HTTP\r\n\r\n",
        Fault::NotJson => {
            b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 14\r\nconnection: close\r\n\r\n<html>not json"
        }
        Fault::ServerError => {
            b"HTTP/1.1 500 Internal Server Error\r\ncontent-length: 4\r\nconnection: close\r\n\r\nboom"
        }
    };
    stream.write_all(answer).await?;
    stream.shutdown().await
}
