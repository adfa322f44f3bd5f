use axum::{Json, extract::State};
use serde_json::{Value, json};
use tracing::{Instrument, info_span};

use crate::{app::AppState, telemetry::db};

const QUERY: &str = "SELECT * FROM users";

pub async fn get(State(state): State<AppState>) -> Json<Value> {
    let span = info_span!(
        "SELECT users",
        otel.kind = "client",
        { db::SYSTEM } = db::SIMULATED_SYSTEM,
        { db::SYSTEM_LEGACY } = db::SIMULATED_SYSTEM,
        { db::OPERATION } = "SELECT",
        { db::QUERY } = QUERY,
    );
    super::simulate_latency(state.database_latency)
        .instrument(span)
        .await;
    Json(json!({
        "query": QUERY,
        "results": [{"id": 1, "name": "Alice"}, {"id": 2, "name": "Bob"}],
        "execution_time_ms": state.database_latency.as_millis(),
    }))
}
