use axum::{Json, extract::State};
use serde_json::{Value, json};

use crate::app::AppState;

pub async fn get(State(state): State<AppState>) -> Json<Value> {
    Json(json!({
        "message": "Hello from axum with OpenTelemetry!",
        "service": state.service_name,
        "version": env!("CARGO_PKG_VERSION"),
        "target": state.target.as_str(),
    }))
}
