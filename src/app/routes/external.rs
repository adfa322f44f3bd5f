use std::{sync::Mutex, time::Instant};

use axum::{Json, extract::State};
use serde_json::{Value, json};
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::{
    app::{AppError, AppState},
    telemetry::http::client,
};

/// Upstream bodies larger than this are treated as garbage, not buffered.
const MAX_UPSTREAM_BODY: usize = 1 << 20;

pub async fn get(State(state): State<AppState>) -> Result<Json<Value>, AppError> {
    let span = state.external_target.span("GET");
    let started = Instant::now();
    let outcome = Mutex::new(Err("_OTHER"));
    let result = call_upstream(&state, &span, &outcome)
        .instrument(span.clone())
        .await;
    state.metrics.record_client(
        &http::Method::GET,
        &state.external_target.server_address,
        outcome.into_inner().unwrap_or_else(|p| p.into_inner()),
        started.elapsed(),
    );
    Ok(Json(
        json!({ "external_response": result?, "status": "success" }),
    ))
}

/// `outcome` gets the answer's status, or the `error.type` of a call that got none.
async fn call_upstream(
    state: &AppState,
    span: &tracing::Span,
    outcome: &Mutex<Result<u16, &'static str>>,
) -> Result<Value, AppError> {
    let failed = |error: reqwest::Error| {
        let error_type = client::error_type(&error);
        client::record_error(span, error_type);
        let mut outcome = outcome.lock().unwrap_or_else(|p| p.into_inner());
        if outcome.is_err() {
            *outcome = Err(error_type);
        }
        if error.is_timeout() {
            AppError::GatewayTimeout(state.external_timeout.as_millis())
        } else {
            AppError::BadGateway(error.to_string())
        }
    };
    let mut request = state
        .http_client
        .get(&state.external_url)
        .build()
        .map_err(&failed)?;
    // The CLIENT span's id becomes the Parent the upstream service sees.
    state
        .propagation
        .inject(&span.context(), request.headers_mut());
    let mut response = state.http_client.execute(request).await.map_err(&failed)?;
    let status = response.status();
    client::record_status(span, status);
    *outcome.lock().unwrap_or_else(|p| p.into_inner()) = Ok(status.as_u16());
    if !status.is_success() {
        return Err(AppError::BadGateway(format!("upstream answered {status}")));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(&failed)? {
        if body.len() + chunk.len() > MAX_UPSTREAM_BODY {
            client::record_error(span, "response_too_large");
            return Err(AppError::BadGateway("upstream body too large".to_owned()));
        }
        body.extend_from_slice(&chunk);
    }
    serde_json::from_slice(&body).map_err(|e| {
        client::record_error(span, "invalid_response");
        AppError::BadGateway(format!("upstream body is not JSON: {e}"))
    })
}
