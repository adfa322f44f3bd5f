use axum::{Json, extract::State};
use serde_json::{Value, json};

use crate::{app::AppState, telemetry::db};

const QUERY: &str = "SELECT * FROM users";

pub async fn get(State(state): State<AppState>) -> Json<Value> {
    let latency = super::simulate_latency(state.database_latency);
    db::query("SELECT users", "SELECT", QUERY, latency).await;
    Json(json!({
        "query": QUERY,
        "results": [{"id": 1, "name": "Alice"}, {"id": 2, "name": "Bob"}],
        "execution_time_ms": state.database_latency.as_millis(),
    }))
}
