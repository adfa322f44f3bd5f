//! Wraps the metric exporter so a failing export is counted
//! (`otel.sdk.exporter.metric_data_point.exported` with `error.type`, sent
//! with the next export that gets through) and logged as a warning at most
//! once per interval, with the number of data points lost; recovery is
//! announced. The SDK's periodic reader only logs failures at debug level.

use std::{
    sync::{
        Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use opentelemetry_sdk::{
    error::{OTelSdkError, OTelSdkResult},
    metrics::{
        Temporality,
        data::{AggregatedMetrics, MetricData, ResourceMetrics},
        exporter::PushMetricExporter,
    },
};

use super::LateMetrics;

const WARN_INTERVAL: Duration = Duration::from_secs(30);

pub(super) struct Guarded<E> {
    inner: E,
    metrics: LateMetrics,
    failures: AtomicU64,
    points_lost: AtomicU64,
    warned: Mutex<Option<Instant>>,
}

impl<E> Guarded<E> {
    pub(super) fn new(inner: E, metrics: LateMetrics) -> Self {
        Self {
            inner,
            metrics,
            failures: AtomicU64::new(0),
            points_lost: AtomicU64::new(0),
            warned: Mutex::new(None),
        }
    }

    fn record(&self, result: &OTelSdkResult, points: u64) {
        let error_type = result.as_ref().err().map(|e| match e {
            OTelSdkError::Timeout(_) => "timeout",
            _ => "export_failed",
        });
        if let Some(m) = self.metrics.get() {
            m.record_points_exported(points, error_type);
        }
        let Err(error) = result else {
            let failures = self.failures.swap(0, Ordering::Relaxed);
            if failures > 0 {
                let lost = self.points_lost.swap(0, Ordering::Relaxed);
                tracing::warn!(
                    failed_exports = failures,
                    data_points_lost = lost,
                    "metric export recovered"
                );
                *self.warned.lock().unwrap_or_else(|p| p.into_inner()) = None;
            }
            return;
        };
        let failures = self.failures.fetch_add(1, Ordering::Relaxed) + 1;
        let lost = self.points_lost.fetch_add(points, Ordering::Relaxed) + points;
        let now = Instant::now();
        let mut warned = self.warned.lock().unwrap_or_else(|p| p.into_inner());
        if warned.is_some_and(|at| now.duration_since(at) < WARN_INTERVAL) {
            return;
        }
        *warned = Some(now);
        drop(warned);
        tracing::warn!(
            %error,
            failed_exports = failures,
            data_points_lost = lost,
            "metric export failing"
        );
    }
}

impl<E: PushMetricExporter> PushMetricExporter for Guarded<E> {
    async fn export(&self, metrics: &ResourceMetrics) -> OTelSdkResult {
        let points = data_points(metrics);
        let result = self.inner.export(metrics).await;
        self.record(&result, points);
        result
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn temporality(&self) -> Temporality {
        self.inner.temporality()
    }
}

/// The number of data points in one export.
fn data_points(metrics: &ResourceMetrics) -> u64 {
    fn count<T>(data: &MetricData<T>) -> usize {
        match data {
            MetricData::Gauge(g) => g.data_points().count(),
            MetricData::Sum(s) => s.data_points().count(),
            MetricData::Histogram(h) => h.data_points().count(),
            MetricData::ExponentialHistogram(h) => h.data_points().count(),
        }
    }
    metrics
        .scope_metrics()
        .flat_map(|scope| scope.metrics())
        .map(|metric| match metric.data() {
            AggregatedMetrics::F64(d) => count(d),
            AggregatedMetrics::U64(d) => count(d),
            AggregatedMetrics::I64(d) => count(d),
        })
        .sum::<usize>() as u64
}
