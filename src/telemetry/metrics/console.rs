//! `OTEL_METRICS_EXPORTER=console`: each data point as a log line, for
//! looking at metrics locally.

use std::time::Duration;

use opentelemetry_sdk::{
    error::OTelSdkResult,
    metrics::{
        Temporality,
        data::{AggregatedMetrics, MetricData, ResourceMetrics},
        exporter::PushMetricExporter,
    },
};

pub(super) struct ConsoleExporter;

impl PushMetricExporter for ConsoleExporter {
    async fn export(&self, metrics: &ResourceMetrics) -> OTelSdkResult {
        for scope in metrics.scope_metrics() {
            for metric in scope.metrics() {
                let (name, unit) = (metric.name(), metric.unit());
                match metric.data() {
                    AggregatedMetrics::F64(data) => log(name, unit, data),
                    AggregatedMetrics::U64(data) => log(name, unit, data),
                    AggregatedMetrics::I64(data) => log(name, unit, data),
                }
            }
        }
        Ok(())
    }

    fn force_flush(&self) -> OTelSdkResult {
        Ok(())
    }

    fn shutdown_with_timeout(&self, _timeout: Duration) -> OTelSdkResult {
        Ok(())
    }

    fn temporality(&self) -> Temporality {
        Temporality::Delta
    }
}

/// One line per data point: a counter's or gauge's value, a histogram's
/// count and sum.
fn log<T: Copy + tracing::Value>(metric: &str, unit: &str, data: &MetricData<T>) {
    let number = |value: T, attributes| {
        tracing::info!(metric, unit, value, attributes, "metric");
    };
    let histogram = |count: usize, sum: T, attributes| {
        tracing::info!(metric, unit, count, sum, attributes, "metric");
    };
    match data {
        MetricData::Gauge(g) => g
            .data_points()
            .for_each(|p| number(p.value(), joined(p.attributes()))),
        MetricData::Sum(s) => s
            .data_points()
            .for_each(|p| number(p.value(), joined(p.attributes()))),
        MetricData::Histogram(h) => h.data_points().for_each(|p| {
            histogram(p.count() as usize, p.sum(), joined(p.attributes()));
        }),
        MetricData::ExponentialHistogram(h) => h.data_points().for_each(|p| {
            histogram(p.count(), p.sum(), joined(p.attributes()));
        }),
    }
}

/// `key=value` pairs, comma-separated.
fn joined<'a>(attributes: impl Iterator<Item = &'a opentelemetry::KeyValue>) -> String {
    attributes
        .map(|kv| format!("{}={}", kv.key, kv.value))
        .collect::<Vec<_>>()
        .join(",")
}
