//! Load shedding: at most `MAX_IN_FLIGHT_REQUESTS` requests are served at
//! once; one more is refused at once with 503 and `Retry-After` rather than
//! queued, so a saturated task answers quickly and the ALB or the client
//! tries elsewhere. tower's `GlobalConcurrencyLimitLayer` (one limit shared by
//! every route it wraps) under a `LoadShedLayer`; `/health` stays outside.

use std::time::Duration;

use axum::{
    BoxError, Router,
    error_handling::HandleErrorLayer,
    response::{IntoResponse, Response},
};
use tower::{ServiceBuilder, limit::GlobalConcurrencyLimitLayer, load_shed::LoadShedLayer};

use super::AppError;
use crate::telemetry::metrics::Metrics;

/// What a refused client is told to wait.
const RETRY_AFTER: Duration = Duration::from_secs(1);

/// Puts every route of `routes` (and its fallback) under one in-flight limit;
/// `metrics` counts each refusal.
pub fn limit<S>(routes: Router<S>, max_in_flight: usize, metrics: Metrics) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    routes.layer(
        ServiceBuilder::new()
            .layer(HandleErrorLayer::new(move |error: BoxError| {
                std::future::ready(refused(&metrics, &error))
            }))
            .layer(LoadShedLayer::new())
            .layer(GlobalConcurrencyLimitLayer::new(max_in_flight)),
    )
}

fn refused(metrics: &Metrics, error: &BoxError) -> Response {
    if error.is::<tower::load_shed::error::Overloaded>() {
        metrics.record_shed();
        AppError::Unavailable {
            detail: "too many requests in flight".to_owned(),
            retry_after: Some(RETRY_AFTER),
        }
        .into_response()
    } else {
        // The routes are infallible; nothing else reaches here.
        AppError::Internal(format!("load shedding: {error}")).into_response()
    }
}
