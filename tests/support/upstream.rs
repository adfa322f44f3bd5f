//! A downstream service for `/api/external`: records the trace headers it
//! receives and answers as told (JSON, garbage, an error, or never).

use std::{net::SocketAddr, sync::Arc};

use axum::{Router, extract::State, http::HeaderMap, response::IntoResponse, routing::get};
use tokio::sync::{Mutex, mpsc, oneshot};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Behaviour {
    Json,
    Garbage,
    Error,
    Hang,
    /// Answers only when the test releases it (through `release`).
    Held,
}

#[derive(Clone)]
struct Shared {
    behaviour: Behaviour,
    seen: mpsc::UnboundedSender<HeaderMap>,
    held: Arc<Mutex<Option<oneshot::Receiver<()>>>>,
}

pub struct Upstream {
    pub addr: SocketAddr,
    pub requests: mpsc::UnboundedReceiver<HeaderMap>,
    release: Option<oneshot::Sender<()>>,
}

impl Upstream {
    pub async fn start(behaviour: Behaviour) -> std::io::Result<Self> {
        let (seen, requests) = mpsc::unbounded_channel();
        let (release, held) = oneshot::channel();
        let shared = Shared {
            behaviour,
            seen,
            held: Arc::new(Mutex::new(Some(held))),
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
}

async fn answer(State(shared): State<Shared>, headers: HeaderMap) -> axum::response::Response {
    let _ = shared.seen.send(headers);
    match shared.behaviour {
        Behaviour::Json => {
            axum::Json(serde_json::json!({"url": "delay", "ok": true})).into_response()
        }
        Behaviour::Garbage => "<html>not json".into_response(),
        Behaviour::Error => (axum::http::StatusCode::INTERNAL_SERVER_ERROR, "boom").into_response(),
        Behaviour::Hang => std::future::pending().await,
        Behaviour::Held => {
            if let Some(rx) = shared.held.lock().await.take() {
                let _ = rx.await;
            }
            axum::Json(serde_json::json!({"held": true})).into_response()
        }
    }
}
