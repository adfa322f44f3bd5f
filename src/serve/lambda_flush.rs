//! A flush after every invocation, once its response is posted and before
//! the runtime asks for the next event, told the invocation's deadline.
//!
//! lambda_runtime's own `OpenTelemetryLayer` does the same, but its service
//! is not `Clone`, which the concurrent runtime of Lambda Managed Instances
//! needs (one copy per concurrent invocation), and its flush is not told the
//! deadline.

use std::{
    future::Future,
    pin::Pin,
    task::{self, Poll},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use lambda_runtime::LambdaInvocation;
use pin_project_lite::pin_project;
use tower::{Layer, Service};

/// Calls `flush` with the invocation's deadline after each invocation.
#[derive(Clone)]
pub struct FlushLayer<F> {
    flush: F,
}

impl<F> FlushLayer<F> {
    pub fn new(flush: F) -> Self {
        Self { flush }
    }
}

impl<S, F: Clone> Layer<S> for FlushLayer<F> {
    type Service = FlushService<S, F>;

    fn layer(&self, inner: S) -> Self::Service {
        FlushService {
            inner,
            flush: self.flush.clone(),
        }
    }
}

#[derive(Clone)]
pub struct FlushService<S, F> {
    inner: S,
    flush: F,
}

impl<S, F> Service<LambdaInvocation> for FlushService<S, F>
where
    S: Service<LambdaInvocation, Response = ()>,
    F: Fn(SystemTime) + Clone,
{
    type Response = ();
    type Error = S::Error;
    type Future = FlushFuture<S::Future, F>;

    fn poll_ready(&mut self, cx: &mut task::Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, invocation: LambdaInvocation) -> Self::Future {
        let deadline = UNIX_EPOCH + Duration::from_millis(invocation.context.deadline);
        FlushFuture {
            inner: self.inner.call(invocation),
            flush: Some((self.flush.clone(), deadline)),
        }
    }
}

pin_project! {
    pub struct FlushFuture<Fut, F> {
        #[pin]
        inner: Fut,
        flush: Option<(F, SystemTime)>,
    }
}

impl<Fut, F> Future for FlushFuture<Fut, F>
where
    Fut: Future,
    F: Fn(SystemTime),
{
    type Output = Fut::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut task::Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let output = std::task::ready!(this.inner.poll(cx));
        if let Some((flush, deadline)) = this.flush.take() {
            flush(deadline);
        }
        Poll::Ready(output)
    }
}
