//! The in-process store: users 1 to [`SEEDED`] exist from the start (the
//! same ones `seed-users` writes), the rest can be created, nothing persists.

use std::{collections::HashMap, sync::RwLock, time::Duration};

use super::{Created, StoreFuture, User, UserStore, seed};
use crate::telemetry::db;

/// How many users the process starts with.
pub const SEEDED: u64 = 100;

pub struct MemoryUsers {
    users: RwLock<HashMap<u64, User>>,
    /// Simulated query time (`USERS_LATENCY_MS`), so traces show a lookup.
    latency: Duration,
}

impl MemoryUsers {
    pub fn seeded(latency: Duration) -> Self {
        let users = (1..=SEEDED).map(|id| (id, seed::user(id))).collect();
        Self {
            users: RwLock::new(users),
            latency,
        }
    }

    /// The simulated query time, inside the caller's query span.
    async fn wait(&self) {
        if !self.latency.is_zero() {
            tokio::time::sleep(self.latency).await;
        }
    }
}

impl UserStore for MemoryUsers {
    fn get(&self, id: u64) -> StoreFuture<'_, Option<User>> {
        Box::pin(db::query(
            "SELECT users",
            "SELECT",
            "SELECT id, name, email FROM users WHERE id = $1",
            async move {
                self.wait().await;
                let user = self
                    .users
                    .read()
                    .unwrap_or_else(|p| p.into_inner())
                    .get(&id)
                    .cloned();
                if user.is_some() {
                    tracing::debug!(user_id = id, "user found");
                }
                Ok(user)
            },
        ))
    }

    fn create(&self, user: User) -> StoreFuture<'_, Created> {
        Box::pin(db::query(
            "INSERT users",
            "INSERT",
            "INSERT INTO users (id, name, email) VALUES ($1, $2, $3)",
            async move {
                self.wait().await;
                let mut users = self.users.write().unwrap_or_else(|p| p.into_inner());
                if users.contains_key(&user.id) {
                    return Ok(Created::AlreadyExists);
                }
                users.insert(user.id, user);
                Ok(Created::Yes)
            },
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn seeded_users_exist_and_new_ids_can_be_created_once() {
        let store = MemoryUsers::seeded(Duration::ZERO);
        assert_eq!(store.get(7).await, Ok(Some(seed::user(7))));
        assert_eq!(store.get(SEEDED + 1).await, Ok(None));
        let user = User {
            id: SEEDED + 1,
            name: "Ada".into(),
            email: "ada@example.com".into(),
        };
        assert_eq!(store.create(user.clone()).await, Ok(Created::Yes));
        assert_eq!(store.get(SEEDED + 1).await, Ok(Some(user.clone())));
        assert_eq!(store.create(user).await, Ok(Created::AlreadyExists));
        assert_eq!(
            store.create(seed::user(1)).await,
            Ok(Created::AlreadyExists)
        );
    }
}
