use axum::Json;
use serde_json::{Value, json};

/// Cheap on purpose: ALB and container health checks call it every few seconds.
pub async fn get() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}
