//! The one Router both targets serve, with its middleware stack.

pub mod error;
mod routes;
pub mod state;

use std::time::Duration;

use axum::{Router, http::StatusCode, response::Response, routing::get};
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
        .map_response(json_errors)
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            limits.request_timeout,
        ))
        .layer(RequestBodyLimitLayer::new(limits.max_body_bytes));
    routes.layer(stack)
}

fn json_errors<B>(response: http::Response<B>) -> Response
where
    B: axum::body::HttpBody<Data = axum::body::Bytes> + Send + 'static,
    B::Error: Into<axum::BoxError>,
{
    error::ensure_json_error(response.map(axum::body::Body::new))
}

pub async fn not_found() -> AppError {
    AppError::NotFound("no route for this path".to_owned())
}

fn panic_response(panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let detail = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("panic");
    axum::response::IntoResponse::into_response(AppError::Internal(format!(
        "handler panicked: {detail}"
    )))
}
