//! [`RequestTracing`] as a `tower` layer: the request's SERVER span and its
//! duration metric around the rest of the stack.
//!
//! Written out rather than `axum::middleware::from_fn`: that clones the inner
//! stack into a box and boxes the middleware's future and then the inner one
//! on every request; this future holds the inner one in place.

use std::{
    future::Future,
    pin::Pin,
    task::{self, Poll},
    time::Instant,
};

use axum::{
    extract::{MatchedPath, Request},
    response::Response,
};
use opentelemetry::{
    Context, KeyValue,
    trace::{Status, TraceContextExt},
};
use opentelemetry_semantic_conventions::attribute as semconv;
use pin_project_lite::pin_project;
use tower::{Layer, Service};

use super::{ErrorDetail, FaasInvocation, RequestTracing, origin, server_span};
use crate::telemetry::{
    db::ChildTracer,
    logs::RequestId,
    metrics::{Metrics, ServerFacts},
    trace::start_server_span,
};

impl<S> Layer<S> for RequestTracing {
    type Service = TraceRequest<S>;

    fn layer(&self, inner: S) -> Self::Service {
        TraceRequest {
            config: self.clone(),
            inner,
        }
    }
}

/// The service [`RequestTracing`] wraps around the stack.
#[derive(Clone, Debug)]
pub struct TraceRequest<S> {
    config: RequestTracing,
    inner: S,
}

impl<S> Service<Request> for TraceRequest<S>
where
    S: Service<Request, Response = Response>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut task::Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let started = Instant::now();
        let route = request.extensions().get::<MatchedPath>().cloned();
        let method = request.method().clone();
        // The metric needs only the scheme; host and port only a span reads.
        let scheme = origin::scheme(&request);
        let config = &self.config;
        let tracer = config.tracer.as_ref().filter(|_| {
            config.trace_health_checks || route.as_ref().map(MatchedPath::as_str) != Some("/health")
        });
        let span = tracer.map(|tracer| {
            let parent = config.propagation.extract(request.headers());
            let origin = origin::origin(&request, scheme);
            let route = route.as_ref().map(MatchedPath::as_str);
            let cx = start_server_span(tracer, server_span(&request, route, origin), parent);
            // Where the handlers' query spans start from (`db::query`).
            let mut cx = cx.with_value(ChildTracer(tracer.clone()));
            if let Some(faas) = request.extensions().get::<FaasInvocation>() {
                // Lambda's request id, for every log line of the invocation.
                cx = cx.with_value(RequestId(faas.invocation_id.clone()));
            }
            cx
        });
        // Current while the stack builds its future too, as when it is polled.
        let inner = match &span {
            Some(cx) => {
                let _current = cx.clone().attach();
                self.inner.call(request)
            }
            None => self.inner.call(request),
        };
        ResponseFuture {
            inner,
            span,
            done: Some(Done {
                started,
                method,
                route,
                scheme,
                metrics: config.metrics.clone(),
            }),
        }
    }
}

pin_project! {
    /// The stack's future, run with the request's span current (so the
    /// handlers' `tracing` spans become its children and log lines carry its
    /// ids); when it is ready, the outcome goes on the span and the metric.
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        span: Option<Context>,
        done: Option<Done>,
    }
}

/// What the metric needs once the response is ready.
struct Done {
    started: Instant,
    method: http::Method,
    route: Option<MatchedPath>,
    scheme: &'static str,
    metrics: Metrics,
}

impl<F, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response, E>>,
{
    type Output = Result<Response, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut task::Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let polled = match this.span {
            Some(span) => {
                let _current = span.clone().attach();
                this.inner.poll(cx)
            }
            None => this.inner.poll(cx),
        };
        let Poll::Ready(result) = polled else {
            return Poll::Pending;
        };
        if let Ok(response) = &result {
            if let Some(span) = this.span.take() {
                end_span(&span, response);
            }
            if let Some(done) = this.done.take() {
                done.metrics.record_server(&ServerFacts {
                    method: &done.method,
                    route: done.route.as_ref().map(MatchedPath::as_str),
                    status: response.status().as_u16(),
                    scheme: done.scheme,
                    duration: done.started.elapsed(),
                });
            }
        }
        Poll::Ready(result)
    }
}

/// Records the response's status (and a 5xx's cause) on the SERVER span and ends it.
fn end_span(cx: &Context, response: &Response) {
    let span = cx.span();
    let status = response.status();
    span.set_attribute(KeyValue::new(
        semconv::HTTP_RESPONSE_STATUS_CODE,
        i64::from(status.as_u16()),
    ));
    if status.is_server_error() {
        span.set_attribute(KeyValue::new(
            semconv::ERROR_TYPE,
            status.as_str().to_owned(),
        ));
        span.set_status(Status::error(""));
        let detail = response
            .extensions()
            .get::<ErrorDetail>()
            .map(|d| d.0.as_str());
        let _current = cx.clone().attach();
        tracing::error!(
            status = i64::from(status.as_u16()),
            error = detail.unwrap_or("unknown"),
            "request failed"
        );
    }
    span.end();
}
