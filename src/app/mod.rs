//! The one Router both targets serve, with its middleware stack.

pub mod error;
mod routes;
mod shed;
pub mod state;

use std::time::Duration;

use axum::{
    BoxError, Router,
    body::{Body, Bytes, HttpBody},
    extract::DefaultBodyLimit,
    http::StatusCode,
    response::Response,
    routing::{get, post},
};
use tower::ServiceBuilder;
use tower_http::{
    catch_panic::CatchPanicLayer, limit::RequestBodyLimitLayer, timeout::TimeoutLayer,
};

pub use error::AppError;
pub use state::AppState;

use crate::telemetry::http::RequestTracing;

/// Limits that protect the service from slow or oversized requests.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub request_timeout: Duration,
    pub max_body_bytes: usize,
    /// Requests served at once; more get 503 (`/health` is never refused).
    pub max_in_flight: usize,
}

/// Builds the Router: routes, JSON errors for everything, request spans,
/// panic recovery, a request timeout, a body size limit and load shedding
/// (all but `/health`, which must answer even when the task is saturated).
pub fn router(state: AppState, tracing: RequestTracing, limits: Limits) -> Router {
    let limited = Router::new()
        .route("/", get(routes::root::get))
        .route(
            "/api/users/{id}",
            get(routes::users::get).put(routes::users::put),
        )
        .route("/api/database", get(routes::database::get))
        .route("/api/external", get(routes::external::get))
        .route("/api/events", post(routes::events::post))
        .fallback(not_found);
    let limited = shed::limit(limited, limits.max_in_flight, tracing.metrics.clone());
    let routes = Router::new()
        .route("/health", get(routes::health::get))
        .merge(limited)
        .with_state(state);
    with_middleware(routes, tracing, limits)
}

/// The middleware stack around any routes (tests add their own routes).
pub fn with_middleware(routes: Router, tracing: RequestTracing, limits: Limits) -> Router {
    let stack = ServiceBuilder::new()
        // Outermost first: the span sees the final status of everything.
        .layer(tracing)
        // tower-http and axum answer 504, 413 and 405 with bare bodies.
        .map_response(json_errors)
        .layer(CatchPanicLayer::custom(error::panic_response))
        .layer(RequestBodyLimitLayer::new(limits.max_body_bytes))
        // A handler that runs out of time is the server's failure, not the
        // client's: 504, counted with the other 5xx.
        .layer(TimeoutLayer::with_status_code(
            StatusCode::GATEWAY_TIMEOUT,
            limits.request_timeout,
        ))
        // The limit above is the only one: axum's extractors would otherwise
        // apply their own default limit whatever was configured.
        .layer(DefaultBodyLimit::disable());
    routes.layer(stack)
}

fn json_errors<B>(response: Response<B>) -> Response
where
    B: HttpBody<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    error::ensure_json_error(response.map(Body::new))
}

pub async fn not_found() -> AppError {
    AppError::NotFound("no route for this path".to_owned())
}
