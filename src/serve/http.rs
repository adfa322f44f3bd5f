//! The HTTP target: hyper on a bound listener, with connection limits and a
//! graceful drain.
//!
//! Each socket is wrapped in [`idle::Guarded`], which holds a connection to
//! the header timeout while a request head is read and to the idle timeout
//! between requests.
//!
//! On shutdown the listener closes first (new connections are refused), then
//! in-flight requests get the drain's share of the shutdown [`Budget`].

use std::{future::Future, sync::Arc, time::Duration};

use axum::{Router, body::Body};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper_util::{
    rt::{TokioIo, TokioTimer},
    server::graceful::GracefulShutdown,
    service::TowerToHyperService,
};
use tokio::net::TcpListener;
use tower::ServiceExt;

use super::{budget::Budget, idle};
use crate::telemetry::http::ClientAddr;

/// Request line plus headers; larger gets 431.
const MAX_HEADER_BYTES: usize = 16 * 1024;
/// More headers than this gets 431.
const MAX_HEADERS: usize = 64;

/// Connection-level settings of the HTTP target.
#[derive(Clone, Copy, Debug)]
pub struct Connections {
    /// A client that has not sent its whole header block by then is cut off.
    pub header_read: Duration,
    /// How long a keep-alive connection may wait for its next request.
    pub idle: Duration,
    /// From the signal to the exit: the drain and the telemetry flushes.
    pub shutdown_budget: Duration,
    /// Put the peer's address on each request ([`ClientAddr`]); only request
    /// spans read it, and an extension costs an allocation a request.
    pub client_addr: bool,
}

/// Serves `app` on `listener` until `shutdown` resolves, then drains;
/// returns the shutdown budget, started at the signal.
pub async fn run(
    listener: TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()>,
    settings: Connections,
) -> std::io::Result<Budget> {
    let local = listener.local_addr()?;
    tracing::info!(address = %local, "listening");
    let mut http = hyper::server::conn::http1::Builder::new();
    // hyper's header timeout would also close idle connections; `idle::Guarded` times both.
    http.timer(TokioTimer::new())
        .header_read_timeout(None)
        .max_buf_size(MAX_HEADER_BYTES)
        .max_headers(MAX_HEADERS);
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(error) => {
                    // Out of file descriptors and the like: keep serving the rest.
                    tracing::warn!(%error, "accept failed");
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        // Formatted once per connection, not per request.
        let client = settings
            .client_addr
            .then(|| ClientAddr(peer.ip().to_string().into()));
        let activity = Arc::new(idle::Activity::default());
        let timeouts = idle::Timeouts {
            header_read: settings.header_read,
            idle: settings.idle,
        };
        let io = idle::Guarded::new(stream, timeouts, Arc::clone(&activity));
        let service = tower::service_fn(move |mut request: hyper::Request<Incoming>| {
            // hyper hands the request over once its head is read.
            let finished = activity.start();
            if let Some(client) = &client {
                request.extensions_mut().insert(client.clone());
            }
            let served = app.clone().oneshot(request);
            async move {
                let response = served.await?;
                // hyper drops the body once the response is written.
                Ok::<_, std::convert::Infallible>(response.map(|body| {
                    Body::new(body.map_frame(move |frame| {
                        let _ = &finished;
                        frame
                    }))
                }))
            }
        });
        let connection = http.serve_connection(TokioIo::new(io), TowerToHyperService::new(service));
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%error, "connection closed with an error");
            }
        });
    }
    let budget = Budget::starting_now(settings.shutdown_budget);
    drop(listener);
    let drain_until = budget.drain_until();
    tracing::info!(
        budget_secs = settings.shutdown_budget.as_secs(),
        drain_ms = drain_until
            .saturating_duration_since(std::time::Instant::now())
            .as_millis() as u64,
        "shutting down: draining requests"
    );
    tokio::select! {
        () = graceful.shutdown() => tracing::info!("all connections closed"),
        () = tokio::time::sleep_until(drain_until.into()) => {
            tracing::warn!("drain timeout reached; closing remaining connections");
        }
    }
    Ok(budget)
}

/// Resolves on SIGTERM (ECS stopping the task) or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}

/// `axum-xray-otel healthcheck`: GET /health on the local port, for
/// container health checks in an image without a shell.
pub async fn healthcheck(port: u16) -> Result<(), String> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(3))
        .build()
        .map_err(|e| e.to_string())?;
    let url = format!("http://127.0.0.1:{port}/health");
    let response = client
        .get(&url)
        .send()
        .await
        .map_err(|e| format!("{url}: {e}"))?;
    if response.status().is_success() {
        Ok(())
    } else {
        Err(format!("{url}: {}", response.status()))
    }
}
