//! The Lambda target: the same Router behind lambda_http.
//!
//! Lambda may freeze the sandbox as soon as the runtime asks for the next
//! event, so every invocation's metrics (an EMF line on stdout by default)
//! and spans are flushed before that, bounded by
//! `LAMBDA_FLUSH_TIMEOUT_MS` so a dead collector cannot eat the function's
//! time, and never past the invocation's deadline (Lambda would count a
//! timeout). On SIGTERM the rest is flushed.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use axum::Router;
use lambda_http::{Request, RequestExt, request::RequestContext};
use lambda_runtime::layers::{OpenTelemetryFaasTrigger, OpenTelemetryLayer};
use tower::ServiceExt;

use super::ServeError;
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
    // The current invocation's deadline, epoch milliseconds.
    let deadline = Arc::new(AtomicU64::new(u64::MAX));
    let metrics = telemetry.metrics();
    let invocation_deadline = Arc::clone(&deadline);
    let handler = tower::service_fn(move |request: Request| {
        let first = coldstart.swap(false, Ordering::Relaxed);
        if first {
            metrics.record_coldstart();
        }
        if let Some(context) = request.lambda_context_ref() {
            invocation_deadline.store(context.deadline, Ordering::Relaxed);
        }
        let request = prepare(request, first);
        router.clone().oneshot(request)
    });

    let flush_timeout = config.telemetry.lambda_flush_timeout;
    let per_invocation = Arc::clone(&telemetry);
    // Called after the response is sent and before the next event is requested.
    let flush = move || {
        let bound = flush_bound(
            flush_timeout,
            deadline.load(Ordering::Relaxed),
            SystemTime::now(),
        );
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

    tracing::info!("lambda runtime starting");
    lambda_runtime::Runtime::new(lambda_http::Adapter::from(handler))
        .layer(OpenTelemetryLayer::new(flush).with_trigger(OpenTelemetryFaasTrigger::Http))
        .run()
        .await
        .map_err(|e| ServeError::Lambda(e.to_string()))
}

/// Left before the invocation's deadline for the runtime to ask for the next event.
const DEADLINE_MARGIN: Duration = Duration::from_millis(50);

/// How long the flush after an invocation may take: `configured`, but never
/// past `deadline_ms` (epoch milliseconds) less a margin.
fn flush_bound(configured: Duration, deadline_ms: u64, now: SystemTime) -> Duration {
    let now_ms = now
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let left = Duration::from_millis(deadline_ms.saturating_sub(now_ms));
    configured.min(left.saturating_sub(DEADLINE_MARGIN))
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
    fn the_flush_never_runs_past_the_invocation_deadline() {
        let now = UNIX_EPOCH + Duration::from_millis(1_000_000);
        let configured = Duration::from_millis(300);
        // Plenty of time: the configured bound.
        assert_eq!(flush_bound(configured, 1_030_000, now), configured);
        // 200 ms left: up to the deadline less the margin.
        assert_eq!(
            flush_bound(configured, 1_000_200, now),
            Duration::from_millis(150)
        );
        // Within the margin, or past the deadline: no wait at all.
        assert_eq!(flush_bound(configured, 1_000_030, now), Duration::ZERO);
        assert_eq!(flush_bound(configured, 999_000, now), Duration::ZERO);
        // No deadline known yet.
        assert_eq!(flush_bound(configured, u64::MAX, now), configured);
    }
}
