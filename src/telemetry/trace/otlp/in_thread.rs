//! Plain-HTTP exports sent by the span pipeline's own thread.
//!
//! reqwest's blocking client hands each request to a thread of its own and
//! waits for the answer: two thread switches per export, which under load
//! cost the process more than the export's bytes (bench/history.md). The
//! collector sidecar and the Lambda layer listen on plain HTTP on the same
//! host, so this client keeps one hyper connection alive on the pipeline's
//! current-thread runtime. HTTPS (X-Ray, remote collectors) uses reqwest's
//! async client on that same runtime.

use std::{sync::Mutex, time::Duration};

use bytes::Bytes;
use http::{HeaderValue, Request, Response, Uri, header};
use http_body_util::{BodyExt as _, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use opentelemetry_http::{HttpClient, HttpError};

/// Only for `http://` endpoints, polled on a Tokio runtime (the pipeline's):
/// the connection is a task on it.
#[derive(Debug)]
pub struct InThreadClient {
    connection: Mutex<Option<SendRequest<Full<Bytes>>>>,
    timeout: Duration,
}

impl InThreadClient {
    pub fn new(timeout: Duration) -> Self {
        Self {
            connection: Mutex::new(None),
            timeout,
        }
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
    // Driven by the runtime the exchange is polled on.
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(sender)
}

#[async_trait::async_trait]
impl HttpClient for InThreadClient {
    async fn send_bytes(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        tokio::time::timeout(self.timeout, self.exchange(request))
            .await
            .map_err(|_| HttpError::from("the export timed out"))?
    }
}
