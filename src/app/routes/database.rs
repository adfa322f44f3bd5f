//! `/api/database`: rows from the SQL database, through the traced pool,
//! inside a handler's own `#[instrument]` span.

use std::time::Instant;

use axum::{Json, extract::State};
use serde_json::{Value, json};

use crate::{
    app::{AppError, AppState},
    db::{Db, DbError},
};

const QUERY: &str = "SELECT id, name FROM users ORDER BY id LIMIT $1";
const LIMIT: i64 = 10;

pub async fn get(State(state): State<AppState>) -> Result<Json<Value>, AppError> {
    let started = Instant::now();
    let users = list_users(&state.db).await?;
    let results: Vec<Value> = users
        .into_iter()
        .map(|(id, name)| json!({"id": id, "name": name}))
        .collect();
    Ok(Json(json!({
        "query": QUERY,
        "results": results,
        "execution_time_ms": started.elapsed().as_millis(),
    })))
}

/// A span of its own (a subsegment in X-Ray), with the query's span inside.
#[tracing::instrument(skip_all, fields(limit = LIMIT))]
async fn list_users(db: &Db) -> Result<Vec<(i64, String)>, DbError> {
    let users = db.query_as(QUERY).bind(LIMIT).fetch_all().await?;
    tracing::info!(count = users.len() as i64, "users listed");
    Ok(users)
}
