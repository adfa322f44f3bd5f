//! Credentials for signing, kept fresh by a task on the Tokio runtime.
//!
//! Spans are exported on a thread of their own, outside the app's runtime,
//! and the credential providers (ECS, STS) need that runtime: so a task loads the
//! credentials, reloads them before they expire (or when X-Ray refuses them),
//! and the signing client reads the latest without waiting. Only before the
//! first load does a signer wait, and never longer than it is told.

use std::{
    sync::{Arc, Condvar, Mutex},
    time::{Duration, Instant, SystemTime},
};

use aws_credential_types::{
    Credentials,
    provider::{ProvideCredentials, SharedCredentialsProvider},
};
use tokio::sync::Notify;

/// Reload this long before expiry (the SDK's own caches use minutes too).
const EXPIRY_MARGIN: Duration = Duration::from_secs(5 * 60);
/// Credentials without an expiry (static keys) are still re-read this often.
const STATIC_RELOAD: Duration = Duration::from_secs(3600);
/// Bounds on the pace of reloads, whatever asks for them.
const MIN_RELOAD_INTERVAL: Duration = Duration::from_secs(1);
const MAX_RETRY: Duration = Duration::from_secs(60);

#[derive(Default)]
struct State {
    credentials: Option<Credentials>,
    /// Why the last load failed, while it is the latest news.
    error: Option<String>,
    loads: u64,
}

#[derive(Default)]
struct Shared {
    state: Mutex<State>,
    loaded: Condvar,
    reload: Notify,
}

/// A handle on the current credentials; cheap to clone.
#[derive(Clone)]
pub(crate) struct CredentialsCache(Arc<Shared>);

/// Stops the reload task when dropped.
pub(crate) struct Reloader(tokio::task::JoinHandle<()>);

impl Drop for Reloader {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl std::fmt::Debug for CredentialsCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CredentialsCache").finish_non_exhaustive()
    }
}

impl CredentialsCache {
    /// Starts loading from `provider` on the current Tokio runtime.
    pub(crate) fn spawn(provider: SharedCredentialsProvider) -> (Self, Reloader) {
        let shared = Arc::new(Shared::default());
        let task = tokio::spawn(reload_loop(provider, Arc::clone(&shared)));
        (Self(shared), Reloader(task))
    }

    /// The current credentials; before the first load completes, waits up
    /// to `wait` for it. Expired credentials are not handed out.
    pub(crate) fn current(&self, wait: Duration) -> Result<Credentials, String> {
        let state = self.0.state.lock().unwrap_or_else(|p| p.into_inner());
        let (state, _) = self
            .0
            .loaded
            .wait_timeout_while(state, wait, |s| s.loads == 0)
            .unwrap_or_else(|p| p.into_inner());
        match &state.credentials {
            Some(c) if c.expiry().is_none_or(|at| at > SystemTime::now()) => Ok(c.clone()),
            Some(_) => Err(format!(
                "credentials expired and not renewed ({})",
                state.error.as_deref().unwrap_or("reload pending")
            )),
            None => Err(state
                .error
                .clone()
                .unwrap_or_else(|| format!("credentials not loaded within {wait:?}"))),
        }
    }

    /// Asks for a reload now (X-Ray refused these credentials); paced by the task.
    pub(crate) fn reload_soon(&self) {
        self.0.reload.notify_one();
    }
}

async fn reload_loop(provider: SharedCredentialsProvider, shared: Arc<Shared>) {
    let mut retry = MIN_RELOAD_INTERVAL;
    loop {
        let started = Instant::now();
        let wait = match provider.provide_credentials().await {
            Ok(credentials) => {
                retry = MIN_RELOAD_INTERVAL;
                let wait = reload_after(credentials.expiry(), SystemTime::now());
                tracing::debug!(reload_in = ?wait, "signing credentials loaded");
                store(&shared, Some(credentials), None);
                wait
            }
            Err(e) => {
                let wait = retry;
                retry = (retry * 2).min(MAX_RETRY);
                // Keep what we had: it may still be valid.
                store(&shared, None, Some(format!("{:#}", DisplayChain(&e))));
                wait
            }
        };
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = shared.reload.notified() => {
                let since = started.elapsed();
                if since < MIN_RELOAD_INTERVAL {
                    tokio::time::sleep(MIN_RELOAD_INTERVAL - since).await;
                }
            }
        }
    }
}

fn store(shared: &Shared, credentials: Option<Credentials>, error: Option<String>) {
    let mut state = shared.state.lock().unwrap_or_else(|p| p.into_inner());
    if credentials.is_some() {
        state.credentials = credentials;
    }
    state.error = error;
    state.loads += 1;
    drop(state);
    shared.loaded.notify_all();
}

/// How long to keep credentials that expire at `expiry`: until the margin
/// before expiry, or for half their remaining life when they have less than
/// twice the margin left.
fn reload_after(expiry: Option<SystemTime>, now: SystemTime) -> Duration {
    let Some(expiry) = expiry else {
        return STATIC_RELOAD;
    };
    let left = expiry.duration_since(now).unwrap_or_default();
    left.saturating_sub(EXPIRY_MARGIN)
        .max(left / 2)
        .max(MIN_RELOAD_INTERVAL)
}

/// An error with its sources, on one line.
struct DisplayChain<'a>(&'a dyn std::error::Error);

impl std::fmt::Display for DisplayChain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(e) = source {
            write!(f, ": {e}")?;
            source = e.source();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_reloaded_before_they_expire() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let hours = |h: u64| Some(now + Duration::from_secs(h * 3600));
        // Six-hour task role credentials: five minutes before expiry.
        assert_eq!(
            reload_after(hours(6), now),
            Duration::from_secs(6 * 3600 - 300)
        );
        // Short-lived ones: half their life, at least a second.
        assert_eq!(
            reload_after(Some(now + Duration::from_secs(4)), now),
            Duration::from_secs(2)
        );
        assert_eq!(reload_after(Some(now), now), MIN_RELOAD_INTERVAL);
        assert_eq!(reload_after(None, now), STATIC_RELOAD);
    }
}
