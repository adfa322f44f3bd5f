//! The traced SQL pool handlers query through: one line per query, each a
//! CLIENT span and a `db.client.operation.duration` measurement.
//!
//! ```ignore
//! let rows: Vec<(i64, String)> = state.db.query_as("SELECT id, name FROM users LIMIT $1")
//!     .bind(2_i64)
//!     .fetch_all()
//!     .await?;
//! ```
//!
//! One sqlx `Any` pool serves the embedded SQLite database (the default) or
//! PostgreSQL (`DATABASE_URL=postgres://…`); SQL is written with `$1`
//! placeholders, which both engines read. The schema comes from the
//! migrations in `migrations/`, run at start-up and again before a query if
//! the database was down then. Every query, the wait for a connection
//! included, is bounded by `DATABASE_TIMEOUT_MS`: a database that is down or
//! slow answers [`DbError::Unavailable`] (503) in that time.

mod query;
pub mod secret;
mod server;
pub mod statement;
mod trace;

use std::{sync::Arc, time::Duration};

use sqlx::{AnyPool, any::AnyPoolOptions, migrate::Migrator};
use tokio::sync::OnceCell;

pub use query::{TracedQuery, TracedQueryAs};
pub use server::Server;

use crate::{
    config::{Config, Database, database::Engine},
    telemetry::metrics::Metrics,
};

static MIGRATIONS: Migrator = sqlx::migrate!();

/// Why a query gave no answer.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// Down, unreachable, too slow or out of connections: a 503.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// The database refused the query or its rows did not decode: a 500.
    #[error("database error: {0}")]
    Query(String),
}

/// The traced pool; cheap to clone.
#[derive(Clone, Debug)]
pub struct Db(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    pool: AnyPool,
    server: Server,
    timeout: Duration,
    migrated: OnceCell<()>,
    metrics: Metrics,
}

impl Db {
    /// The pool for `config`; connects on first use, so start-up never
    /// waits on the database.
    pub fn from_config(config: &Config, metrics: Metrics) -> Result<Self, DbError> {
        Self::from_database(&config.database, metrics)
    }

    /// The pool for these settings (with the URL a secret gave, say).
    pub fn from_database(database: &Database, metrics: Metrics) -> Result<Self, DbError> {
        sqlx::any::install_default_drivers();
        let options = AnyPoolOptions::new()
            .max_connections(database.max_connections)
            .acquire_timeout(database.timeout);
        let options = match database.url.engine {
            // The in-memory database lives as long as one connection does.
            Engine::Sqlite => options
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None),
            Engine::Postgres => options,
        };
        let pool = options
            .connect_lazy(database.url.expose())
            .map_err(|e| DbError::Query(e.to_string()))?;
        Ok(Self(Arc::new(Inner {
            pool,
            server: Server::from_url(&database.url),
            timeout: database.timeout,
            migrated: OnceCell::new(),
            metrics,
        })))
    }

    /// Runs the migrations not yet applied, within the query timeout.
    pub async fn migrate(&self) -> Result<(), DbError> {
        match tokio::time::timeout(self.0.timeout, self.ensure_migrated()).await {
            Ok(done) => done.map_err(|e| trace::classify(e).error),
            Err(_) => Err(DbError::Unavailable("migrations timed out".to_owned())),
        }
    }

    async fn ensure_migrated(&self) -> Result<(), sqlx::Error> {
        self.0
            .migrated
            .get_or_try_init(|| async {
                MIGRATIONS.run(&self.0.pool).await.map_err(|e| match e {
                    sqlx::migrate::MigrateError::Execute(e) => e,
                    other => sqlx::Error::Migrate(Box::new(other)),
                })
            })
            .await
            .map(|_| ())
    }

    /// A traced query returning rows as `O` (a tuple or a `sqlx::FromRow`).
    pub fn query_as<O>(&self, sql: &'static str) -> TracedQueryAs<'_, O>
    where
        O: for<'r> sqlx::FromRow<'r, sqlx::any::AnyRow> + Send + Unpin + 'static,
    {
        TracedQueryAs::new(self, sql, sqlx::query_as(sql))
    }

    /// A traced statement returning no rows (`execute` gives the rows affected).
    pub fn query(&self, sql: &'static str) -> TracedQuery<'_> {
        TracedQuery::new(self, sql, sqlx::query::<sqlx::Any>(sql))
    }

    /// What spans say about the database.
    pub fn server(&self) -> &Server {
        &self.0.server
    }
}
