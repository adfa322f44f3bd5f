use axum::{Json, extract::State};
use serde_json::{Value, json};
use tracing::{Instrument, field::Empty, info_span};
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::app::{AppError, AppState};

/// Upstream bodies larger than this are treated as garbage, not buffered.
const MAX_UPSTREAM_BODY: usize = 1 << 20;

pub async fn get(State(state): State<AppState>) -> Result<Json<Value>, AppError> {
    let span = info_span!(
        "GET",
        otel.kind = "client",
        http.request.method = "GET",
        url.full = %state.external_url,
        http.response.status_code = Empty,
        otel.status_code = Empty,
    );
    let result = call_upstream(&state, &span).instrument(span.clone()).await;
    if result.is_err() {
        span.record("otel.status_code", "error");
    }
    Ok(Json(
        json!({ "external_response": result?, "status": "success" }),
    ))
}

async fn call_upstream(state: &AppState, span: &tracing::Span) -> Result<Value, AppError> {
    let mut request = state
        .http_client
        .get(&state.external_url)
        .build()
        .map_err(map_err(state))?;
    // The CLIENT span's id becomes the Parent the upstream service sees.
    state
        .propagation
        .inject(&span.context(), request.headers_mut());
    let mut response = state
        .http_client
        .execute(request)
        .await
        .map_err(map_err(state))?;
    let status = response.status();
    span.record("http.response.status_code", status.as_u16());
    if !status.is_success() {
        return Err(AppError::BadGateway(format!("upstream answered {status}")));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(map_err(state))? {
        if body.len() + chunk.len() > MAX_UPSTREAM_BODY {
            return Err(AppError::BadGateway("upstream body too large".to_owned()));
        }
        body.extend_from_slice(&chunk);
    }
    serde_json::from_slice(&body)
        .map_err(|e| AppError::BadGateway(format!("upstream body is not JSON: {e}")))
}

fn map_err(state: &AppState) -> impl Fn(reqwest::Error) -> AppError + '_ {
    move |e| {
        if e.is_timeout() {
            AppError::GatewayTimeout(state.external_timeout.as_millis())
        } else {
            AppError::BadGateway(e.to_string())
        }
    }
}
