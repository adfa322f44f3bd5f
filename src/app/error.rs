//! The one error type handlers return, and the one JSON shape every error has:
//! `{"error": "<code>", "message": "<text>"}`.
//!
//! `into_response` has no side effects. For 5xx it sends a generic message and
//! keeps the real cause in a response extension ([`ErrorDetail`]), which the
//! request-span middleware records; internals never reach the client.

use std::{any::Any, time::Duration};

use axum::{
    Json,
    extract::{FromRequest, rejection::JsonRejection},
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde_json::json;

pub use crate::telemetry::http::ErrorDetail;
use crate::{db::DbError, users::StoreError};

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    /// Well-formed JSON with fields that are missing, mistyped or invalid.
    #[error("{0}")]
    Unprocessable(String),
    /// A body the JSON extractor refused (syntax 400, media type 415, size 413).
    #[error("{1}")]
    Rejected(StatusCode, String),
    /// A dependency cannot answer now (documented 503); `Retry-After` when known.
    #[error("dependency unavailable: {detail}")]
    Unavailable {
        detail: String,
        retry_after: Option<Duration>,
    },
    #[error("upstream request failed: {0}")]
    BadGateway(String),
    #[error("upstream did not answer within {0} ms")]
    GatewayTimeout(u128),
    #[error("{0}")]
    Internal(String),
}

impl AppError {
    fn status(&self) -> StatusCode {
        match self {
            AppError::BadRequest(_) => StatusCode::BAD_REQUEST,
            AppError::NotFound(_) => StatusCode::NOT_FOUND,
            AppError::Conflict(_) => StatusCode::CONFLICT,
            AppError::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            AppError::Rejected(status, _) => *status,
            AppError::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            AppError::BadGateway(_) => StatusCode::BAD_GATEWAY,
            AppError::GatewayTimeout(_) => StatusCode::GATEWAY_TIMEOUT,
            AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            let mut response = error_response(status, None);
            if let AppError::Unavailable {
                retry_after: Some(after),
                ..
            } = &self
            {
                let seconds = after.as_secs().max(1);
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
            }
            response
                .extensions_mut()
                .insert(ErrorDetail(self.to_string()));
            response
        } else {
            error_response(status, Some(self.to_string()))
        }
    }
}

impl From<DbError> for AppError {
    fn from(e: DbError) -> Self {
        match e {
            DbError::Unavailable(detail) => AppError::Unavailable {
                detail,
                retry_after: None,
            },
            DbError::Query(detail) => AppError::Internal(detail),
        }
    }
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Throttled(detail, after) => AppError::Unavailable {
                detail,
                retry_after: Some(after),
            },
            StoreError::Unavailable(detail) => AppError::Unavailable {
                detail,
                retry_after: None,
            },
        }
    }
}

/// `Json` whose rejections get our error shape: bad syntax 400, wrong or
/// missing fields 422, not JSON 415, too large 413.
#[derive(Debug)]
pub struct AppJson<T>(pub T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned> FromRequest<S> for AppJson<T> {
    type Rejection = AppError;

    async fn from_request(request: axum::extract::Request, state: &S) -> Result<Self, AppError> {
        let Json(value) = Json::<T>::from_request(request, state).await?;
        Ok(AppJson(value))
    }
}

impl From<JsonRejection> for AppError {
    fn from(rejection: JsonRejection) -> Self {
        let status = rejection.status();
        let message = match &rejection {
            JsonRejection::JsonDataError(_) => {
                return AppError::Unprocessable(rejection.body_text());
            }
            JsonRejection::JsonSyntaxError(_) => "request body is not valid JSON".to_owned(),
            JsonRejection::MissingJsonContentType(_) => {
                "expected a body with content-type: application/json".to_owned()
            }
            _ => rejection.body_text(),
        };
        AppError::Rejected(status, message)
    }
}

/// Our JSON error body for `status`; `message` defaults to a generic text.
pub fn error_response(status: StatusCode, message: Option<String>) -> Response {
    let code = code_for(status);
    let message =
        message.unwrap_or_else(|| status.canonical_reason().unwrap_or("Error").to_owned());
    (status, Json(json!({ "error": code, "message": message }))).into_response()
}

fn code_for(status: StatusCode) -> &'static str {
    match status {
        StatusCode::BAD_REQUEST => "bad_request",
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::CONFLICT => "conflict",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        StatusCode::UNPROCESSABLE_ENTITY => "unprocessable_entity",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::REQUEST_TIMEOUT => "request_timeout",
        StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => "headers_too_large",
        StatusCode::INTERNAL_SERVER_ERROR => "internal_error",
        StatusCode::BAD_GATEWAY => "bad_gateway",
        StatusCode::SERVICE_UNAVAILABLE => "service_unavailable",
        StatusCode::GATEWAY_TIMEOUT => "gateway_timeout",
        s if s.is_client_error() => "client_error",
        _ => "server_error",
    }
}

/// Gives error responses made outside our handlers (405 and extractor
/// rejections from axum, 408 and 413 from tower-http) our JSON shape.
/// Responses that are already JSON pass.
pub fn ensure_json_error(response: Response) -> Response {
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error())
        || response.headers().get(header::CONTENT_TYPE)
            == Some(&HeaderValue::from_static("application/json"))
    {
        return response;
    }
    let (parts, _) = response.into_parts();
    let mut fixed = error_response(status, None);
    for (name, value) in &parts.headers {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            fixed.headers_mut().insert(name, value.clone());
        }
    }
    fixed.extensions_mut().extend(parts.extensions);
    fixed
}

/// A handler panic's 500, its message kept for the span and the logs (never
/// the client).
pub fn panic_response(panic: Box<dyn Any + Send + 'static>) -> Response {
    let detail = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("panic");
    AppError::Internal(format!("handler panicked: {detail}")).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    async fn body(r: Response) -> serde_json::Value {
        serde_json::from_slice(&r.into_body().collect().await.unwrap().to_bytes()).unwrap()
    }

    #[tokio::test]
    async fn server_errors_hide_their_cause_but_keep_it_for_the_logs() {
        let r = AppError::Internal("db password wrong".into()).into_response();
        assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(
            r.extensions().get::<ErrorDetail>().unwrap().0,
            "db password wrong"
        );
        let b = body(r).await;
        assert_eq!(
            b,
            json!({"error": "internal_error", "message": "Internal Server Error"})
        );
    }

    #[tokio::test]
    async fn client_errors_say_what_was_wrong() {
        let r = AppError::NotFound("user 2000 not found".into()).into_response();
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
        assert_eq!(
            body(r).await,
            json!({"error": "not_found", "message": "user 2000 not found"})
        );
    }

    #[tokio::test]
    async fn throttling_is_a_503_with_retry_after_and_no_detail() {
        let r = AppError::from(StoreError::Throttled(
            "ProvisionedThroughputExceededException".into(),
            Duration::from_secs(1),
        ))
        .into_response();
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(r.headers()[header::RETRY_AFTER], "1");
        assert_eq!(
            body(r).await,
            json!({"error": "service_unavailable", "message": "Service Unavailable"})
        );
        let r = AppError::from(StoreError::Unavailable("timeout".into())).into_response();
        assert!(r.headers().get(header::RETRY_AFTER).is_none());
    }

    #[tokio::test]
    async fn a_panic_is_a_generic_500_its_message_kept_for_the_logs() {
        let r = panic_response(Box::new("secret detail"));
        assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(
            r.extensions().get::<ErrorDetail>().unwrap().0,
            "handler panicked: secret detail"
        );
        assert_eq!(
            body(r).await,
            json!({"error": "internal_error", "message": "Internal Server Error"})
        );
    }

    #[tokio::test]
    async fn foreign_error_responses_get_our_shape() {
        let r = (StatusCode::PAYLOAD_TOO_LARGE, "length limit exceeded").into_response();
        let r = ensure_json_error(r);
        assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(
            body(r).await,
            json!({"error": "payload_too_large", "message": "Payload Too Large"})
        );
    }
}
