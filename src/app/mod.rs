//! The one Router both targets serve, with its middleware stack.

pub mod error;
mod guard;
mod routes;
pub mod state;

use std::time::Duration;

use axum::{Router, routing::get};
use tower::ServiceBuilder;

pub use error::AppError;
use guard::GuardLayer;
pub use state::AppState;

use crate::telemetry::http::RequestTracing;

/// Limits that protect the service from slow or oversized requests.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub request_timeout: Duration,
    pub max_body_bytes: usize,
}

/// Builds the Router: routes, JSON errors for everything, request spans,
/// panic recovery, a request timeout and a body size limit.
pub fn router(state: AppState, tracing: RequestTracing, limits: Limits) -> Router {
    let routes = Router::new()
        .route("/", get(routes::root::get))
        .route("/health", get(routes::health::get))
        .route(
            "/api/users/{id}",
            get(routes::users::get).put(routes::users::put),
        )
        .route("/api/database", get(routes::database::get))
        .route("/api/external", get(routes::external::get))
        .fallback(not_found)
        .with_state(state);
    with_middleware(routes, tracing, limits)
}

/// The middleware stack around any routes (tests add their own routes).
///
/// One `tower` layer: axum boxes each layer it is given, and every box is a
/// service clone, an allocation and a move of the future per request.
pub fn with_middleware(routes: Router, tracing: RequestTracing, limits: Limits) -> Router {
    let stack = ServiceBuilder::new()
        // Outermost first: the span sees the final status of everything.
        .layer(tracing)
        .layer(GuardLayer(limits));
    routes.layer(stack)
}

pub async fn not_found() -> AppError {
    AppError::NotFound("no route for this path".to_owned())
}
