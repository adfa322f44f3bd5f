//! The benchmark floor: the service's benchmarked routes and response bodies
//! on plain axum, with no middleware and no tracing. `bench/run.sh` measures
//! the real service against it.
//!
//! `PORT` (default 8080, 0 for a free port); logs the same `listening` JSON
//! line as the service so the bench harness starts both the same way.

use std::io::Write;

use axum::{Json, Router, extract::Path, routing::get};
use serde::Serialize;
use serde_json::{Value, json};

#[derive(Serialize)]
struct User {
    id: u64,
    name: String,
    email: String,
}

async fn root() -> Json<Value> {
    Json(json!({
        "message": "Hello from axum with OpenTelemetry!",
        "service": "bare-axum",
        "version": env!("CARGO_PKG_VERSION"),
        "target": "http",
    }))
}

async fn health() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

async fn user(Path(id): Path<u64>) -> Json<User> {
    Json(User {
        id,
        name: format!("User {id}"),
        email: format!("user{id}@example.com"),
    })
}

async fn database() -> Json<Value> {
    Json(json!({
        "query": "SELECT * FROM users",
        "results": [{"id": 1, "name": "Alice"}, {"id": 2, "name": "Bob"}],
        "execution_time_ms": 0,
    }))
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let port: u16 = std::env::var("PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(8080);
    let app = Router::new()
        .route("/", get(root))
        .route("/health", get(health))
        .route("/api/users/{id}", get(user))
        .route("/api/database", get(database));
    let listener = tokio::net::TcpListener::bind(("0.0.0.0", port)).await?;
    let address = listener.local_addr()?;
    // On stdout like the service's log line, so one harness reads both.
    let line = json!({ "message": "listening", "address": address.to_string() });
    writeln!(std::io::stdout(), "{line}")?;
    axum::serve(listener, app).await
}
