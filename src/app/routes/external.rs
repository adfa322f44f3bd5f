//! `/api/external`: one call to `EXTERNAL_URL` through the shared client,
//! which traces and measures it.

use axum::{Json, extract::State};
use serde_json::{Value, json};

use crate::app::{AppError, AppState};

/// Upstream bodies larger than this are treated as garbage, not buffered.
const MAX_UPSTREAM_BODY: usize = 1 << 20;

pub async fn get(State(state): State<AppState>) -> Result<Json<Value>, AppError> {
    let failed = |error: reqwest_middleware::Error| {
        if error.is_timeout() {
            AppError::GatewayTimeout(state.external_timeout.as_millis())
        } else {
            AppError::BadGateway(error.to_string())
        }
    };
    let mut response = state
        .http_client
        .get(&state.external_url)
        .send()
        .await
        .map_err(failed)?;
    let status = response.status();
    if !status.is_success() {
        return Err(AppError::BadGateway(format!("upstream answered {status}")));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| failed(e.into()))? {
        if body.len() + chunk.len() > MAX_UPSTREAM_BODY {
            return Err(AppError::BadGateway("upstream body too large".to_owned()));
        }
        body.extend_from_slice(&chunk);
    }
    let body: Value = serde_json::from_slice(&body)
        .map_err(|e| AppError::BadGateway(format!("upstream body is not JSON: {e}")))?;
    Ok(Json(
        json!({ "external_response": body, "status": "success" }),
    ))
}
