//! Serves the Router on the configured target. The only module that knows
//! ECS Fargate from Lambda.

mod budget;
pub mod http;
mod idle;
pub mod init_error;
pub mod lambda;
mod lambda_flush;

use std::sync::Arc;

pub use budget::Budget;

use crate::{
    app::{self, AppState, Limits},
    config::{Config, Target},
    db::{self, Db},
    telemetry::{Telemetry, http::RequestTracing},
    users,
};

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("{0}")]
    State(#[from] app::state::StateError),
    #[error("cannot listen on port {port}: {source}")]
    Bind { port: u16, source: std::io::Error },
    #[error("server failed: {0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    DatabaseSecret(#[from] db::secret::SecretError),
    #[error("lambda runtime failed: {0}")]
    Lambda(String),
}

/// Builds the Router from `config` and serves it until shutdown; returns
/// what is left of the shutdown budget for the telemetry flushes.
/// `aws` is the process's one AWS configuration, when anything needs it.
pub async fn run(
    config: &Config,
    telemetry: Arc<Telemetry>,
    aws: Option<&aws_config::SdkConfig>,
) -> Result<Budget, ServeError> {
    let metrics = telemetry.metrics();
    let mut database = config.database.clone();
    if let (Some(arn), Some(sdk)) = (&database.url_secret_arn, aws) {
        database.url = db::secret::database_url(sdk, arn).await?;
    }
    let db = Db::from_database(&database, metrics.clone()).map_err(app::state::StateError::from)?;
    // Normally the schema is ready before the first request; a database
    // that is down now gets its migrations before its first query instead.
    if let Err(error) = db.migrate().await {
        tracing::warn!(%error, "database not ready at start-up; its routes answer 503 until it is");
    }
    let state = AppState::with_users(
        config,
        users::from_config(config, aws, metrics.clone()),
        db,
        metrics.clone(),
        aws,
    )?;
    let tracer = telemetry.tracer();
    let client_addr = tracer.is_some();
    let tracing = RequestTracing {
        propagation: state.propagation.clone(),
        tracer,
        trace_health_checks: config.telemetry.traces.health_checks,
        metrics,
    };
    let limits = Limits {
        request_timeout: config.server.request_timeout,
        max_body_bytes: config.server.max_body_bytes,
        max_in_flight: config.server.max_in_flight_requests,
    };
    let router = app::router(state, tracing, limits);
    match config.target {
        Target::Http => {
            let listener = tokio::net::TcpListener::bind(("0.0.0.0", config.server.port))
                .await
                .map_err(|source| ServeError::Bind {
                    port: config.server.port,
                    source,
                })?;
            let settings = http::Connections {
                header_read: config.server.header_read_timeout,
                idle: config.server.idle_timeout,
                shutdown_budget: config.server.shutdown_timeout,
                client_addr,
            };
            Ok(http::run(listener, router, http::shutdown_signal(), settings).await?)
        }
        Target::Lambda => {
            lambda::run(router, telemetry, config).await?;
            Ok(Budget::starting_now(config.server.shutdown_timeout))
        }
    }
}
