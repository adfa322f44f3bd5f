//! Where users live: one small [`UserStore`] trait, an in-process store
//! (the default, so `cargo run` needs nothing) and a DynamoDB table
//! (`USERS_TABLE`). The routes only see the trait.

pub mod dynamodb;
pub mod memory;
pub mod seed;

use std::{future::Future, pin::Pin, sync::Arc, time::Duration};

use serde::{Deserialize, Serialize};

pub use dynamodb::DynamoDbUsers;
pub use memory::MemoryUsers;

/// Ids are 1 to this; the in-process store and `seed-users` stay within it.
pub const MAX_USER_ID: u64 = 1000;

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct User {
    pub id: u64,
    pub name: String,
    pub email: String,
}

/// What `create` did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Created {
    Yes,
    /// A user with this id exists; nothing was written.
    AlreadyExists,
}

/// Why the store could not answer. Each maps to a 503; the message is for
/// the logs, never the client.
#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
pub enum StoreError {
    /// Throttled: the client may retry after this long.
    #[error("throttled: {0}")]
    Throttled(String, Duration),
    /// Timed out, unreachable, misconfigured or otherwise failed.
    #[error("{0}")]
    Unavailable(String),
}

pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

/// A place users are read from and created in.
pub trait UserStore: Send + Sync {
    /// The user with this id, `None` when there is none.
    fn get(&self, id: u64) -> StoreFuture<'_, Option<User>>;
    /// Writes `user` unless its id is taken.
    fn create(&self, user: User) -> StoreFuture<'_, Created>;
}

pub type SharedUserStore = Arc<dyn UserStore>;

/// The store `config` asks for: DynamoDB when `USERS_TABLE` is set (with a
/// client from `sdk`, the one aws-config load, recording its calls' duration
/// in `metrics`), else the in-process store.
pub fn from_config(
    config: &crate::config::Config,
    sdk: Option<&aws_config::SdkConfig>,
    metrics: crate::telemetry::metrics::Metrics,
) -> SharedUserStore {
    match (&config.aws.users_table, sdk) {
        (Some(table), Some(sdk)) => {
            let settings = crate::aws::Settings {
                timeout: config.aws.dynamodb_timeout,
                metrics,
            };
            let client = crate::aws::client(sdk, &settings);
            Arc::new(DynamoDbUsers::new(client, table.clone()))
        }
        _ => Arc::new(MemoryUsers::seeded(config.routes.users_latency)),
    }
}
