//! The Lambda target: the same Router behind lambda_http.
//!
//! Lambda may freeze the sandbox as soon as the runtime asks for the next
//! event, so every invocation's metrics (an EMF line on stdout by default)
//! and spans are flushed before that, bounded by
//! `LAMBDA_FLUSH_TIMEOUT_MS` so a dead collector cannot eat the function's
//! time, and never past the invocation's deadline (Lambda would count a
//! timeout). On SIGTERM the rest is flushed.
//!
//! On Lambda Managed Instances (`AWS_LAMBDA_MAX_CONCURRENCY` above 1)
//! lambda_runtime polls for that many invocations at once. Each carries its
//! own trace header (lambda_http puts the invocation's, never the
//! process-wide `_X_AMZN_TRACE_ID`, on the request) and request id, and each
//! flush waits off the runtime's worker threads (`block_in_place`), so one
//! invocation's flush never holds up another's request.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, SystemTime},
};

use axum::{Router, body::Bytes, response::Response};
use http_body_util::{BodyExt, Full};
use lambda_http::{Request, RequestExt, request::RequestContext};
use tower::ServiceExt;

use super::{ServeError, lambda_flush::FlushLayer};
use crate::{
    config::Config,
    telemetry::{Telemetry, http::FaasInvocation},
};

pub async fn run(
    router: Router,
    telemetry: Arc<Telemetry>,
    config: &Config,
) -> Result<(), ServeError> {
    let coldstart = Arc::new(AtomicBool::new(true));
    let metrics = telemetry.metrics();
    let handler = tower::service_fn(move |request: Request| {
        let first = coldstart.swap(false, Ordering::Relaxed);
        if first {
            metrics.record_coldstart();
        }
        let request = prepare(request, first);
        let router = router.clone();
        async move {
            let response = router.oneshot(request).await.unwrap_or_else(|e| match e {});
            buffered(response).await
        }
    });

    let flush_timeout = config.telemetry.lambda_flush_timeout;
    let per_invocation = Arc::clone(&telemetry);
    // Called after the response is sent and before the next event is requested.
    let flush = move |deadline: SystemTime| {
        let bound = flush_bound(flush_timeout, deadline, SystemTime::now());
        tokio::task::block_in_place(|| {
            if !per_invocation.flush(bound) {
                tracing::warn!(
                    timeout_ms = bound.as_millis() as u64,
                    "span flush timed out"
                );
            }
        });
    };
    let on_shutdown = Arc::clone(&telemetry);
    lambda_runtime::spawn_graceful_shutdown_handler(move || async move {
        tokio::task::block_in_place(|| on_shutdown.flush(flush_timeout));
    })
    .await;

    let concurrency = config.aws.lambda.as_ref().map_or(1, |l| l.max_concurrency);
    tracing::info!(concurrency, "lambda runtime starting");
    // Sequential unless AWS_LAMBDA_MAX_CONCURRENCY is above 1.
    lambda_runtime::Runtime::new(lambda_http::Adapter::from(handler))
        .layer(FlushLayer::new(flush))
        .run_concurrent()
        .await
        .map_err(|e| ServeError::Lambda(e.to_string()))
}

/// Left before the invocation's deadline for the runtime to ask for the next event.
const DEADLINE_MARGIN: Duration = Duration::from_millis(50);

/// The flush waits `LAMBDA_FLUSH_TIMEOUT_MS` at most, and never past the
/// invocation's deadline.
fn flush_bound(timeout: Duration, deadline: SystemTime, now: SystemTime) -> Duration {
    let left = deadline
        .duration_since(now)
        .unwrap_or_default()
        .saturating_sub(DEADLINE_MARGIN);
    timeout.min(left)
}

/// The response with its body collected: Lambda returns a whole body anyway,
/// and a collected one is `Sync`, which the concurrent runtime's futures need.
async fn buffered(response: Response) -> Result<http::Response<Full<Bytes>>, lambda_http::Error> {
    let (parts, body) = response.into_parts();
    let bytes = body.collect().await?.to_bytes();
    Ok(http::Response::from_parts(parts, Full::new(bytes)))
}

/// Adds the invocation facts for the request span and removes the API
/// Gateway stage from the path so every event source reaches the same route.
pub fn prepare(mut request: Request, coldstart: bool) -> Request {
    if let Some(context) = request.lambda_context_ref() {
        let invocation = FaasInvocation {
            invocation_id: context.request_id.clone(),
            coldstart,
        };
        request.extensions_mut().insert(invocation);
    }
    if let Some(path) = path_without_stage(&request) {
        let query = request
            .uri()
            .query()
            .map(|q| format!("?{q}"))
            .unwrap_or_default();
        if let Ok(uri) = format!("{path}{query}").parse() {
            *request.uri_mut() = uri;
        }
    }
    request
}

fn path_without_stage(request: &Request) -> Option<String> {
    match request.request_context_ref()? {
        // REST APIs: the raw path is the resource path, without the stage.
        RequestContext::ApiGatewayV1(_) => {
            let raw = request.raw_http_path();
            (!raw.is_empty()).then(|| raw.to_owned())
        }
        // HTTP APIs: a named stage is the first segment of the raw path, but
        // only on the execute-api endpoint; a custom domain's mapping drops it.
        RequestContext::ApiGatewayV2(context) => {
            let domain = context.domain_name.as_deref().unwrap_or_default();
            if !domain.contains(".execute-api.") {
                return None;
            }
            let stage = context.stage.as_deref().filter(|s| *s != "$default")?;
            let path = request.uri().path();
            let rest = path.strip_prefix('/')?.strip_prefix(stage)?;
            if rest.is_empty() {
                Some("/".to_owned())
            } else {
                rest.starts_with('/').then(|| rest.to_owned())
            }
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_flush_never_waits_past_the_invocations_deadline() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000);
        let timeout = Duration::from_millis(300);
        let far = now + Duration::from_secs(30);
        assert_eq!(flush_bound(timeout, far, now), timeout);
        let near = now + Duration::from_millis(200);
        assert_eq!(flush_bound(timeout, near, now), Duration::from_millis(150));
        let within_margin = now + Duration::from_millis(30);
        assert_eq!(flush_bound(timeout, within_margin, now), Duration::ZERO);
        let past = now - Duration::from_millis(5);
        assert_eq!(flush_bound(timeout, past, now), Duration::ZERO);
    }
}
