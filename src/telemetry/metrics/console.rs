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
                let name = metric.name();
                match metric.data() {
                    AggregatedMetrics::F64(MetricData::Histogram(h)) => {
                        for p in h.data_points() {
                            tracing::info!(
                                metric = name,
                                unit = metric.unit(),
                                count = p.count(),
                                sum = p.sum(),
                                attributes = joined(p.attributes()),
                                "metric"
                            );
                        }
                    }
                    AggregatedMetrics::U64(MetricData::Sum(s)) => {
                        for p in s.data_points() {
                            tracing::info!(
                                metric = name,
                                unit = metric.unit(),
                                value = p.value(),
                                attributes = joined(p.attributes()),
                                "metric"
                            );
                        }
                    }
                    _ => {}
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

/// `key=value` pairs, comma-separated.
fn joined<'a>(attributes: impl Iterator<Item = &'a opentelemetry::KeyValue>) -> String {
    attributes
        .map(|kv| format!("{}={}", kv.key, kv.value))
        .collect::<Vec<_>>()
        .join(",")
}
