//! What handlers share: settings from `Config`, the outgoing HTTP client,
//! the AWS configuration and clients, the users store and the SQL pool.

use std::{sync::Arc, time::Duration};

use crate::{
    config::{Config, Target},
    db::Db,
    events::EventsQueue,
    telemetry::{http::client::TraceCalls, metrics::Metrics, propagation::Propagation},
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
    pub external_timeout: Duration,
    /// The one client for outgoing HTTP calls: each call is traced and measured.
    pub http_client: reqwest_middleware::ClientWithMiddleware,
    pub propagation: Propagation,
    pub metrics: Metrics,
    /// The one `aws-config` load, present when anything needs AWS: build
    /// further clients from it with `aws::client`.
    pub aws: Option<aws_config::SdkConfig>,
    /// The SQS queue of `POST /api/events`, when `EVENTS_QUEUE_URL` is set.
    pub events: Option<EventsQueue>,
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
            None,
        )
    }

    pub fn with_users(
        config: &Config,
        users: SharedUserStore,
        db: Db,
        metrics: Metrics,
        aws: Option<&aws_config::SdkConfig>,
    ) -> Result<Self, StateError> {
        let propagation = Propagation::new(&config.telemetry.propagators);
        let client = reqwest::Client::builder()
            .tls_backend_preconfigured(crate::tls::client_config())
            .timeout(config.routes.external_timeout)
            .connect_timeout(config.routes.external_timeout)
            .pool_idle_timeout(Duration::from_secs(30))
            .build()?;
        let http_client = TraceCalls {
            propagation: propagation.clone(),
            metrics: metrics.clone(),
        }
        .wrap(client);
        Ok(Self(Arc::new(Inner {
            service_name: crate::telemetry::service_name(config),
            target: config.target,
            users,
            db,
            external_url: config.routes.external_url.clone(),
            external_timeout: config.routes.external_timeout,
            http_client,
            propagation,
            events: EventsQueue::from_config(config, aws, metrics.clone()),
            metrics,
            aws: aws.cloned(),
        })))
    }
}
