//! What protects every request, as one layer: a body size limit, a timeout,
//! panic recovery, and our JSON shape for error responses made outside the
//! handlers (404 and 405 from axum, 408, 413, a panic's 500).
//!
//! Written out rather than tower-http's `RequestBodyLimit`, `Timeout` and
//! `CatchPanic` plus a `map_response`: those boxed the request body once and
//! the response body twice, and the timeout registered a timer on every
//! request. Here the timer is set only when the handler is not done on its
//! first poll, and nothing is boxed (bench/history.md has the figures).
//!
//! A declared `Content-Length` over the limit is refused before the handler
//! runs; a body without one is cut off at the limit by the extractors
//! (axum's `DefaultBodyLimit`, given only to requests that have a body: it is
//! a request extension, an allocation each).

use std::{
    any::Any,
    future::Future,
    panic::{AssertUnwindSafe, catch_unwind},
    pin::Pin,
    task::{Context, Poll},
};

use axum::{
    body::HttpBody as _,
    extract::{DefaultBodyLimit, Request},
    http::{StatusCode, header},
    response::{IntoResponse, Response},
};
use pin_project_lite::pin_project;
use tokio::time::{Instant, Sleep};
use tower::{Layer, Service};

use super::{AppError, Limits, error};

/// The layer; see the module docs.
#[derive(Clone, Copy, Debug)]
pub struct GuardLayer(pub Limits);

impl<S> Layer<S> for GuardLayer {
    type Service = Guard<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Guard {
            inner,
            limits: self.0,
        }
    }
}

/// The service [`GuardLayer`] wraps around the routes.
#[derive(Clone, Debug)]
pub struct Guard<S> {
    inner: S,
    limits: Limits,
}

impl<S> Service<Request> for Guard<S>
where
    S: Service<Request, Response = Response>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = GuardFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        if declared_length(&request).is_some_and(|n| n > self.limits.max_body_bytes) {
            return GuardFuture::answered(error::error_response(
                StatusCode::PAYLOAD_TOO_LARGE,
                None,
            ));
        }
        let deadline = Instant::now() + self.limits.request_timeout;
        let called = catch_unwind(AssertUnwindSafe(|| {
            if request.body().is_end_stream() {
                self.inner.call(request)
            } else {
                let limit = DefaultBodyLimit::max(self.limits.max_body_bytes);
                limit.layer(&mut self.inner).call(request)
            }
        }));
        match called {
            Ok(inner) => GuardFuture::Running {
                inner,
                sleep: None,
                deadline,
            },
            Err(panic) => GuardFuture::answered(panic_response(panic)),
        }
    }
}

fn declared_length(request: &Request) -> Option<usize> {
    request
        .headers()
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .parse()
        .ok()
}

pin_project! {
    /// The handler's future under the guard.
    #[project = Projected]
    pub enum GuardFuture<F> {
        /// Answered without the handler (too large, or it panicked when called).
        Answered { response: Option<Response> },
        Running {
            #[pin]
            inner: F,
            // Set at the first poll that leaves the handler pending.
            #[pin]
            sleep: Option<Sleep>,
            deadline: Instant,
        },
    }
}

impl<F> GuardFuture<F> {
    fn answered(response: Response) -> Self {
        Self::Answered {
            response: Some(response),
        }
    }
}

impl<F, E> Future for GuardFuture<F>
where
    F: Future<Output = Result<Response, E>>,
{
    type Output = Result<Response, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            // Polled again after it answered: it has nothing more to give.
            Projected::Answered { response } => response
                .take()
                .map_or(Poll::Pending, |r| Poll::Ready(Ok(r))),
            Projected::Running {
                inner,
                mut sleep,
                deadline,
            } => {
                match catch_unwind(AssertUnwindSafe(|| inner.poll(cx))) {
                    Ok(Poll::Ready(result)) => {
                        return Poll::Ready(result.map(error::ensure_json_error));
                    }
                    Ok(Poll::Pending) => {}
                    Err(panic) => return Poll::Ready(Ok(panic_response(panic))),
                }
                if sleep.as_mut().as_pin_mut().is_none() {
                    sleep.set(Some(tokio::time::sleep_until(*deadline)));
                }
                match sleep.as_pin_mut().map(|sleep| sleep.poll(cx)) {
                    Some(Poll::Ready(())) => {
                        Poll::Ready(Ok(error::error_response(StatusCode::REQUEST_TIMEOUT, None)))
                    }
                    _ => Poll::Pending,
                }
            }
        }
    }
}

/// A panic's 500, its message kept for the span and the logs (never the client).
fn panic_response(panic: Box<dyn Any + Send + 'static>) -> Response {
    let detail = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("panic");
    AppError::Internal(format!("handler panicked: {detail}")).into_response()
}
