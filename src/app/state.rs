//! What handlers share: settings from `Config`, the outgoing HTTP client,
//! the users store and the SQL pool.

use std::{sync::Arc, time::Duration};

use crate::{
    config::{Config, Target},
    db::Db,
    telemetry::{http::client::ClientTarget, metrics::Metrics, propagation::Propagation},
    users::{MemoryUsers, SharedUserStore},
};

/// Why the state could not be built.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("cannot build the HTTP client: {0}")]
    Client(#[from] reqwest::Error),
    #[error("cannot set up the database pool: {0}")]
    Db(#[from] crate::db::DbError),
}

#[derive(Clone)]
pub struct AppState(Arc<Inner>);

pub struct Inner {
    pub service_name: String,
    pub target: Target,
    pub users: SharedUserStore,
    pub db: Db,
    pub external_url: String,
    /// How spans show `external_url`.
    pub external_target: ClientTarget,
    pub external_timeout: Duration,
    pub http_client: reqwest::Client,
    pub propagation: Propagation,
    pub metrics: Metrics,
}

impl std::ops::Deref for AppState {
    type Target = Inner;

    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl AppState {
    /// With the in-process users store.
    pub fn from_config(config: &Config, metrics: Metrics) -> Result<Self, StateError> {
        let db = Db::from_config(config, metrics.clone())?;
        Self::with_users(
            config,
            Arc::new(MemoryUsers::seeded(config.routes.users_latency)),
            db,
            metrics,
        )
    }

    pub fn with_users(
        config: &Config,
        users: SharedUserStore,
        db: Db,
        metrics: Metrics,
    ) -> Result<Self, StateError> {
        let http_client = reqwest::Client::builder()
            .tls_backend_preconfigured(crate::tls::client_config())
            .timeout(config.routes.external_timeout)
            .connect_timeout(config.routes.external_timeout)
            .pool_idle_timeout(Duration::from_secs(30))
            .build()?;
        Ok(Self(Arc::new(Inner {
            service_name: crate::telemetry::service_name(config),
            target: config.target,
            users,
            db,
            external_url: config.routes.external_url.clone(),
            external_target: ClientTarget::new(&config.routes.external_url)
                .expect("config accepts only http(s) URLs with a host"),
            external_timeout: config.routes.external_timeout,
            http_client,
            propagation: Propagation::new(&config.telemetry.propagators),
            metrics,
        })))
    }
}
