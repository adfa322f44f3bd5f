//! `POST /api/events`: any JSON body, sent to the events queue (202), or
//! 404 when no queue is configured.

use axum::{Json, extract::State, http::StatusCode};
use serde_json::{Value, json};

use crate::app::{AppError, AppState, error::AppJson};

pub async fn post(
    State(state): State<AppState>,
    AppJson(body): AppJson<Value>,
) -> Result<(StatusCode, Json<Value>), AppError> {
    let Some(events) = &state.events else {
        return Err(AppError::NotFound(
            "no events queue is configured".to_owned(),
        ));
    };
    let message_id = events.send(body.to_string()).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({ "message_id": message_id })),
    ))
}
