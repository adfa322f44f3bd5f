//! Wraps the real exporter so collector trouble stays contained: failures are
//! counted and reported at most once per cause per interval (with what to do,
//! when the signing client knows the cause), and recovery is announced. The
//! SDK's batch processor only logs each failure; an operator needs the cause,
//! the advice and the count of spans lost.

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use opentelemetry_sdk::{
    Resource,
    error::{OTelSdkError, OTelSdkResult},
    trace::{SpanData, SpanExporter},
};

use super::{
    cause::{Failure, LastFailure},
    counted::SpanCounts,
};

const WARN_INTERVAL: Duration = Duration::from_secs(30);

/// Said with the first failure only: what a new user running `cargo run`
/// without a collector can do about it.
const FIRST_FAILURE_HINT: &str = "nothing accepts spans there: run `docker compose up` \
for a local collector, set OTEL_TRACES_EXPORTER=console to print spans, \
or point OTEL_EXPORTER_OTLP_ENDPOINT at your collector";

pub(crate) struct Guarded<E> {
    inner: E,
    reporter: Reporter,
}

/// Export failures counted and reported, at most once per cause per
/// interval; recovery announced.
pub(crate) struct Reporter {
    /// Where spans go, for the failure messages (`None` for stdout).
    endpoint: Option<String>,
    hinted: AtomicBool,
    failures: AtomicU64,
    spans_lost: AtomicU64,
    last_failure: LastFailure,
    counts: Arc<SpanCounts>,
    /// When each cause was last reported.
    warned: Mutex<HashMap<&'static str, Instant>>,
}

impl<E> std::fmt::Debug for Guarded<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Guarded").finish_non_exhaustive()
    }
}

impl<E> Guarded<E> {
    pub(crate) fn new(inner: E, reporter: Reporter) -> Self {
        Self { inner, reporter }
    }
}

impl Reporter {
    /// `endpoint` names where spans go (`None` for stdout); `last_failure` is
    /// where the exporter's HTTP client leaves the cause of a refusal, if it
    /// knows one.
    pub(crate) fn new(
        endpoint: Option<String>,
        last_failure: LastFailure,
        counts: Arc<SpanCounts>,
    ) -> Self {
        Self {
            endpoint,
            hinted: AtomicBool::new(false),
            failures: AtomicU64::new(0),
            spans_lost: AtomicU64::new(0),
            last_failure,
            counts,
            warned: Mutex::new(HashMap::new()),
        }
    }

    /// The span counts this reporter adds to.
    pub(crate) fn counts(&self) -> Arc<SpanCounts> {
        Arc::clone(&self.counts)
    }

    pub(crate) fn record(&self, result: &OTelSdkResult, spans: u64) {
        match result {
            Ok(()) => {
                self.counts.exported(spans, None);
                let failures = self.failures.swap(0, Ordering::Relaxed);
                if failures > 0 {
                    let lost = self.spans_lost.swap(0, Ordering::Relaxed);
                    tracing::warn!(
                        failed_exports = failures,
                        spans_lost = lost,
                        "span export recovered"
                    );
                    self.warned
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .clear();
                }
            }
            Err(error) => {
                let failures = self.failures.fetch_add(1, Ordering::Relaxed) + 1;
                let lost = self.spans_lost.fetch_add(spans, Ordering::Relaxed) + spans;
                let failure = self.last_failure.take();
                let key = failure.as_ref().map_or("export", |f| f.cause.as_str());
                self.counts.exported(spans, Some(error_type(error, key)));
                let mut warned = self.warned.lock().unwrap_or_else(|p| p.into_inner());
                if !due(&mut warned, key, Instant::now()) {
                    return;
                }
                drop(warned);
                let endpoint = self.endpoint.as_deref().unwrap_or("stdout");
                match failure {
                    Some(Failure { cause, detail }) => tracing::warn!(
                        %error,
                        endpoint,
                        cause = cause.as_str(),
                        advice = cause.advice(),
                        detail,
                        failed_exports = failures,
                        spans_lost = lost,
                        "span export failing"
                    ),
                    None => {
                        tracing::warn!(%error, endpoint, failed_exports = failures, spans_lost = lost, hint = self.first_hint(), "span export failing")
                    }
                }
            }
        }
    }
}

impl Reporter {
    /// The advice for a first run without a collector, given once per process.
    fn first_hint(&self) -> Option<&'static str> {
        let first = self.endpoint.is_some() && !self.hinted.swap(true, Ordering::Relaxed);
        first.then_some(FIRST_FAILURE_HINT)
    }
}

/// A failed export's `error.type`: the SDK's timeout, else the cause the
/// HTTP client found (`forbidden`, `throttled`, ...), else `export_failed`.
fn error_type(error: &OTelSdkError, cause: &'static str) -> &'static str {
    match error {
        OTelSdkError::Timeout(_) => "timeout",
        OTelSdkError::AlreadyShutdown => "shutdown",
        _ if cause == "export" => "export_failed",
        _ => cause,
    }
}

/// Whether `key` may be reported at `now`, at most once per [`WARN_INTERVAL`].
fn due(warned: &mut HashMap<&'static str, Instant>, key: &'static str, now: Instant) -> bool {
    match warned.get(key) {
        Some(at) if now.duration_since(*at) < WARN_INTERVAL => false,
        _ => {
            warned.insert(key, now);
            true
        }
    }
}

impl<E: SpanExporter> SpanExporter for Guarded<E> {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let spans = batch.len() as u64;
        self.reporter.counts.handed(spans);
        let result = self.inner.export(batch).await;
        self.reporter.record(&result, spans);
        result
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_run_hint_is_given_once_and_only_for_a_collector() {
        let none = LastFailure::default;
        let counts = Arc::<SpanCounts>::default;
        let otlp = Reporter::new(Some("http://x".into()), none(), counts());
        assert_eq!(otlp.first_hint(), Some(FIRST_FAILURE_HINT));
        assert_eq!(otlp.first_hint(), None);
        let console = Reporter::new(None, none(), counts());
        assert_eq!(console.first_hint(), None);
    }

    #[test]
    fn each_cause_is_reported_at_most_once_per_interval() {
        let mut warned = HashMap::new();
        let t0 = Instant::now();
        assert!(due(&mut warned, "forbidden", t0));
        assert!(!due(&mut warned, "forbidden", t0 + Duration::from_secs(29)));
        // Another cause is news even within the interval.
        assert!(due(&mut warned, "throttled", t0 + Duration::from_secs(1)));
        assert!(due(&mut warned, "forbidden", t0 + WARN_INTERVAL));
    }
}
