//! Every sampled span accounted for: handed to the exporter, dropped because
//! the queue was full, exported, failed, or still queued at shutdown.
//!
//! The SDK's batch processor drops spans on a full queue and reports only a
//! total at shutdown. [`Bounded`] makes the drop decision itself, before the
//! SDK's queue can fill: it forwards a span only while fewer than the queue
//! size are waiting (ended but not yet handed to the exporter). The spans the
//! processor has taken off its queue for the next batch still count as
//! waiting here, so the SDK's own queue never overflows and every drop is
//! counted, as `otel.sdk.processor.span.processed` with `error.type`
//! `queue_full`.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use opentelemetry::Context;
use opentelemetry_sdk::{
    Resource,
    error::OTelSdkResult,
    trace::{Span, SpanData, SpanProcessor},
};

use crate::telemetry::metrics::{LateMetrics, catalog::QUEUE_FULL};

/// The span counts, shared by [`Bounded`] and the exporter guard.
#[derive(Debug, Default)]
pub(crate) struct SpanCounts {
    forwarded: AtomicU64,
    handed: AtomicU64,
    exported: AtomicU64,
    failed: AtomicU64,
    dropped: AtomicU64,
    metrics: LateMetrics,
}

/// What became of the spans so far.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct SpanTally {
    pub(crate) exported: u64,
    pub(crate) failed: u64,
    pub(crate) dropped: u64,
    /// Forwarded to the SDK and never exported or failed: still queued, or
    /// in an export that had not finished.
    pub(crate) unsent: u64,
}

impl SpanTally {
    pub(crate) fn lost(&self) -> u64 {
        self.failed + self.dropped + self.unsent
    }
}

impl SpanCounts {
    pub(crate) fn new(metrics: LateMetrics) -> Self {
        Self {
            metrics,
            ..Self::default()
        }
    }

    /// `spans` go to the exporter now.
    pub(crate) fn handed(&self, spans: u64) {
        self.handed.fetch_add(spans, Ordering::AcqRel);
        if let Some(m) = self.metrics.get() {
            m.record_spans_processed(spans, None);
        }
    }

    /// The export of `spans` finished; `error_type` if it failed.
    pub(crate) fn exported(&self, spans: u64, error_type: Option<&'static str>) {
        let counter = match error_type {
            None => &self.exported,
            Some(_) => &self.failed,
        };
        counter.fetch_add(spans, Ordering::AcqRel);
        if let Some(m) = self.metrics.get() {
            m.record_spans_exported(spans, error_type);
        }
    }

    pub(crate) fn tally(&self) -> SpanTally {
        let exported = self.exported.load(Ordering::Acquire);
        let failed = self.failed.load(Ordering::Acquire);
        SpanTally {
            exported,
            failed,
            dropped: self.dropped.load(Ordering::Acquire),
            unsent: self
                .forwarded
                .load(Ordering::Acquire)
                .saturating_sub(exported + failed),
        }
    }

    /// Whether one more span may join the waiting ones (fewer than
    /// `queue_size`); a span refused is counted as dropped.
    fn admit(&self, queue_size: u64) -> bool {
        let mut forwarded = self.forwarded.load(Ordering::Acquire);
        loop {
            // `handed` only grows: a stale value overestimates, never lets one too many in.
            let waiting = forwarded.saturating_sub(self.handed.load(Ordering::Acquire));
            if waiting >= queue_size {
                if self.dropped.fetch_add(1, Ordering::AcqRel) == 0 {
                    tracing::warn!(
                        queue_size,
                        "span queue full: dropping spans (counted in otel.sdk.processor.span.processed)"
                    );
                }
                if let Some(m) = self.metrics.get() {
                    m.record_spans_processed(1, Some(QUEUE_FULL));
                }
                return false;
            }
            match self.forwarded.compare_exchange_weak(
                forwarded,
                forwarded + 1,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return true,
                Err(now) => forwarded = now,
            }
        }
    }
}

/// The SDK's batch processor behind a queue bound of our own that counts
/// what it drops.
#[derive(Debug)]
pub(crate) struct Bounded<P> {
    inner: P,
    queue_size: u64,
    counts: Arc<SpanCounts>,
}

impl<P> Bounded<P> {
    pub(crate) fn new(inner: P, queue_size: usize, counts: Arc<SpanCounts>) -> Self {
        Self {
            inner,
            queue_size: queue_size as u64,
            counts,
        }
    }
}

impl<P: SpanProcessor> SpanProcessor for Bounded<P> {
    fn on_start(&self, span: &mut Span, cx: &Context) {
        self.inner.on_start(span, cx);
    }

    fn on_end(&self, span: SpanData) {
        if self.counts.admit(self.queue_size) {
            self.inner.on_end(span);
        }
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_past_the_queue_bound_are_dropped_and_counted() {
        let counts = SpanCounts::default();
        assert!(counts.admit(2));
        assert!(counts.admit(2));
        assert!(!counts.admit(2), "two waiting: the third is dropped");
        counts.handed(2);
        assert!(counts.admit(2), "handed to the exporter: room again");
        counts.exported(1, None);
        counts.exported(1, Some("timeout"));
        // The third forwarded span was never exported.
        assert_eq!(
            counts.tally(),
            SpanTally {
                exported: 1,
                failed: 1,
                dropped: 1,
                unsent: 1
            }
        );
        assert_eq!(counts.tally().lost(), 3);
    }
}
