//! Serves the Router on the configured target. The only module that knows
//! ECS Fargate from Lambda.

pub mod http;
pub mod lambda;

use std::sync::Arc;

use crate::{
    app::{self, AppState, Limits},
    config::{Config, Target},
    telemetry::{Telemetry, http::RequestTracing},
    users,
};

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("cannot build the HTTP client: {0}")]
    Client(#[from] reqwest::Error),
    #[error("cannot listen on port {port}: {source}")]
    Bind { port: u16, source: std::io::Error },
    #[error("server failed: {0}")]
    Io(#[from] std::io::Error),
    #[error("lambda runtime failed: {0}")]
    Lambda(String),
}

/// Builds the Router from `config` and serves it until shutdown.
/// `aws` is the process's one AWS configuration, when anything needs it.
pub async fn run(
    config: &Config,
    telemetry: Arc<Telemetry>,
    aws: Option<&aws_config::SdkConfig>,
) -> Result<(), ServeError> {
    let metrics = telemetry.metrics();
    let state = AppState::with_users(
        config,
        users::from_config(config, aws, metrics.clone()),
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
                drain: config.server.shutdown_timeout,
                client_addr,
            };
            http::run(listener, router, http::shutdown_signal(), settings).await?;
            Ok(())
        }
        Target::Lambda => lambda::run(router, telemetry, config).await,
    }
}
