//! One file per resource, each handler next to its route.

pub mod database;
pub mod events;
pub mod external;
pub mod health;
pub mod root;
pub mod users;

/// Waits like a remote call would; zero means no await at all (benchmarks use it).
async fn simulate_latency(latency: std::time::Duration) {
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
}
