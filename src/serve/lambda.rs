//! The Lambda target: the same Router behind lambda_http.
//!
//! Lambda may freeze the sandbox as soon as the runtime asks for the next
//! event, so every invocation's metrics (an EMF line on stdout by default)
//! and spans are flushed before that, bounded by
//! `LAMBDA_FLUSH_TIMEOUT_MS` so a dead collector cannot eat the function's
//! time. On SIGTERM the rest is flushed.

use std::sync::{
    Arc,
    atomic::{AtomicBool, Ordering},
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
    let metrics = telemetry.metrics();
    let handler = tower::service_fn(move |request: Request| {
        let first = coldstart.swap(false, Ordering::Relaxed);
        if first {
            metrics.record_coldstart();
        }
        let request = prepare(request, first);
        router.clone().oneshot(request)
    });

    let flush_timeout = config.telemetry.lambda_flush_timeout;
    let per_invocation = Arc::clone(&telemetry);
    // Called after the response is sent and before the next event is requested.
    let flush = move || {
        tokio::task::block_in_place(|| {
            if !per_invocation.flush(flush_timeout) {
                tracing::warn!(
                    timeout_ms = flush_timeout.as_millis() as u64,
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
