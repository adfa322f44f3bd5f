//! Wraps the real exporter so collector trouble stays contained: failures are
//! counted and reported at most once per interval, recovery is announced, and
//! a resource that arrives after start-up (ECS task metadata) is applied.

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use opentelemetry_sdk::{
    Resource,
    error::OTelSdkResult,
    trace::{SpanData, SpanExporter},
};

const WARN_INTERVAL: Duration = Duration::from_secs(30);

/// Said with the first failure only: what a new user running `cargo run`
/// without a collector can do about it.
const FIRST_FAILURE_HINT: &str = "nothing accepts spans there: run `docker compose up` \
for a local collector, set OTEL_TRACES_EXPORTER=console to print spans, \
or point OTEL_EXPORTER_OTLP_ENDPOINT at your collector";

/// A resource to switch to at the next export.
#[derive(Clone, Default)]
pub(crate) struct LateResource(Arc<Mutex<Option<Resource>>>);

impl LateResource {
    pub(crate) fn set(&self, resource: Resource) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = Some(resource);
    }

    fn take(&self) -> Option<Resource> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).take()
    }
}

pub(crate) struct Guarded<E> {
    // The SDK never calls `export` concurrently; the async lock only lets
    // `set_resource` (which needs `&mut`) run from `export`.
    inner: tokio::sync::Mutex<E>,
    late_resource: LateResource,
    /// Where spans go, for the failure messages (`None` for stdout).
    endpoint: Option<String>,
    hinted: AtomicBool,
    failures: AtomicU64,
    spans_lost: AtomicU64,
    last_warning: Mutex<Option<Instant>>,
}

impl<E> std::fmt::Debug for Guarded<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Guarded").finish_non_exhaustive()
    }
}

impl<E> Guarded<E> {
    pub(crate) fn new(inner: E, late_resource: LateResource, endpoint: Option<String>) -> Self {
        Self {
            inner: tokio::sync::Mutex::new(inner),
            late_resource,
            endpoint,
            hinted: AtomicBool::new(false),
            failures: AtomicU64::new(0),
            spans_lost: AtomicU64::new(0),
            last_warning: Mutex::new(None),
        }
    }

    fn record(&self, result: &OTelSdkResult, spans: u64) {
        match result {
            Ok(()) => {
                let failures = self.failures.swap(0, Ordering::Relaxed);
                if failures > 0 {
                    let lost = self.spans_lost.swap(0, Ordering::Relaxed);
                    tracing::warn!(
                        failed_exports = failures,
                        spans_lost = lost,
                        "span export recovered"
                    );
                    *self.last_warning.lock().unwrap_or_else(|p| p.into_inner()) = None;
                }
            }
            Err(error) => {
                let failures = self.failures.fetch_add(1, Ordering::Relaxed) + 1;
                let lost = self.spans_lost.fetch_add(spans, Ordering::Relaxed) + spans;
                let mut last = self.last_warning.lock().unwrap_or_else(|p| p.into_inner());
                if last.is_none_or(|at| at.elapsed() >= WARN_INTERVAL) {
                    *last = Some(Instant::now());
                    let endpoint = self.endpoint.as_deref().unwrap_or("stdout");
                    tracing::warn!(%error, endpoint, failed_exports = failures, spans_lost = lost, hint = self.first_hint(), "span export failing");
                }
            }
        }
    }
}

impl<E> Guarded<E> {
    /// The advice for a first run without a collector, given once per process.
    fn first_hint(&self) -> Option<&'static str> {
        let first = self.endpoint.is_some() && !self.hinted.swap(true, Ordering::Relaxed);
        first.then_some(FIRST_FAILURE_HINT)
    }
}

impl<E: SpanExporter> SpanExporter for Guarded<E> {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let spans = batch.len() as u64;
        let mut inner = self.inner.lock().await;
        if let Some(resource) = self.late_resource.take() {
            inner.set_resource(&resource);
        }
        let result = inner.export(batch).await;
        drop(inner);
        self.record(&result, spans);
        result
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        match self.inner.try_lock() {
            Ok(inner) => inner.shutdown_with_timeout(timeout),
            // An export is still running; the process is exiting anyway.
            Err(_) => Ok(()),
        }
    }

    fn force_flush(&self) -> OTelSdkResult {
        match self.inner.try_lock() {
            Ok(inner) => inner.force_flush(),
            Err(_) => Ok(()),
        }
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.get_mut().set_resource(resource);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_run_hint_is_given_once_and_only_for_a_collector() {
        let otlp = Guarded::new((), LateResource::default(), Some("http://x".into()));
        assert_eq!(otlp.first_hint(), Some(FIRST_FAILURE_HINT));
        assert_eq!(otlp.first_hint(), None);
        let console = Guarded::new((), LateResource::default(), None);
        assert_eq!(console.first_hint(), None);
    }
}
