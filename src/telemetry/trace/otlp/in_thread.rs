//! Plain-HTTP exports sent by the batch processor's own thread.
//!
//! reqwest's blocking client hands each request to a thread of its own and
//! waits for the answer: two thread switches per export, which under load
//! cost the process more than the export's bytes (bench/history.md). The
//! collector sidecar and the Lambda layer listen on plain HTTP on the same
//! host, so this client drives one kept-alive hyper connection on a
//! current-thread runtime inside the calling thread. HTTPS (X-Ray, remote
//! collectors) keeps reqwest.

use std::{
    sync::Mutex,
    time::{Duration, Instant},
};

use bytes::Bytes;
use http::{HeaderValue, Request, Response, Uri, header};
use http_body_util::{BodyExt as _, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use opentelemetry_http::{HttpClient, HttpError};

/// Only for `http://` endpoints, and only called outside any Tokio runtime
/// (the batch processor's thread): it blocks that thread for the exchange.
#[derive(Debug)]
pub struct InThreadClient {
    /// Always `Some` until drop, which shuts it down without blocking.
    runtime: Option<tokio::runtime::Runtime>,
    connection: Mutex<Option<SendRequest<Full<Bytes>>>>,
    timeout: Duration,
}

impl InThreadClient {
    pub fn new(timeout: Duration) -> std::io::Result<Self> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .enable_time()
            .build()?;
        Ok(Self {
            runtime: Some(runtime),
            connection: Mutex::new(None),
            timeout,
        })
    }

    async fn exchange(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        let (mut parts, body) = request.into_parts();
        let authority = parts
            .uri
            .authority()
            .ok_or("the endpoint has no host")?
            .clone();
        // Origin form on the wire, with the Host header hyper's bare
        // connection does not add.
        parts.uri = Uri::from(
            parts
                .uri
                .path_and_query()
                .cloned()
                .unwrap_or_else(|| http::uri::PathAndQuery::from_static("/")),
        );
        parts
            .headers
            .insert(header::HOST, HeaderValue::from_str(authority.as_str())?);
        let reused = self
            .connection
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        let mut sender = match reused {
            Some(sender) if !sender.is_closed() => sender,
            _ => connect(&authority).await?,
        };
        sender.ready().await?;
        let response = sender
            .send_request(Request::from_parts(parts, Full::new(body)))
            .await?;
        let (parts, body) = response.into_parts();
        let body = body.collect().await?.to_bytes();
        // Kept only after a whole exchange: a timed-out one leaves it unusable.
        *self.connection.lock().unwrap_or_else(|p| p.into_inner()) = Some(sender);
        Ok(Response::from_parts(parts, body))
    }
}

async fn connect(authority: &http::uri::Authority) -> Result<SendRequest<Full<Bytes>>, HttpError> {
    let port = authority.port_u16().unwrap_or(80);
    let stream = tokio::net::TcpStream::connect((authority.host(), port)).await?;
    stream.set_nodelay(true)?;
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    // Driven whenever this runtime runs, that is during each exchange.
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(sender)
}

#[async_trait::async_trait]
impl HttpClient for InThreadClient {
    async fn send_bytes(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        let runtime = self.runtime.as_ref().ok_or("the client is shut down")?;
        let deadline = Instant::now() + self.timeout;
        runtime.block_on(async {
            tokio::time::timeout_at(deadline.into(), self.exchange(request))
                .await
                .map_err(|_| HttpError::from("the export timed out"))?
        })
    }
}

impl Drop for InThreadClient {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}
