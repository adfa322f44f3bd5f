//! CloudWatch Embedded Metric Format on stdout: Lambda's log pipeline, and
//! the awslogs driver on ECS, turn each line into metrics, so no collector
//! is needed.
//!
//! Each export writes the measurements since the last one (delta) as JSON
//! objects, one per line, following the specification
//! (docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html):
//! `_aws.Timestamp` in epoch milliseconds, one `CloudWatchMetrics` directive
//! per dimension-set list, at most 100 metrics per object (the rest goes to
//! further lines), dimension values ASCII and at most 1024 characters. One
//! Lambda invocation fits on one line.
//!
//! A histogram of more than one measurement is written as the object AWS's
//! own EMF writers use (aws-embedded-metrics' `Histogram`, the collector's
//! `awsemf`): `Values` and `Counts` of at most 100 bins, with the exact `Max`,
//! `Min`, `Count` and `Sum`. Its size follows the buckets, not the requests:
//! a plain array would repeat each value once per request.

use std::{
    collections::BTreeMap,
    io::Write,
    sync::atomic::{AtomicU64, Ordering},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use opentelemetry::{Key, KeyValue};
use opentelemetry_sdk::{
    Resource,
    error::{OTelSdkError, OTelSdkResult},
    metrics::{
        Temporality,
        data::{
            AggregatedMetrics, ExponentialBucket, ExponentialHistogramDataPoint, MetricData,
            ResourceMetrics,
        },
        exporter::PushMetricExporter,
    },
};
use opentelemetry_semantic_conventions::attribute as semconv;
use serde_json::{Map, Value, json};

use super::catalog::{self, EmfMetric};
use crate::config::Target;

const MAX_METRICS: usize = 100;
const MAX_VALUES: usize = 100;
const MAX_DIMENSION_VALUE: usize = 1024;

/// Where the lines go: stdout, or a test's buffer.
pub(super) type Sink = Box<dyn Fn(&[u8]) -> std::io::Result<()> + Send + Sync>;

pub(super) struct EmfExporter {
    namespace: String,
    /// `service` and `function_name` on Lambda; `service.name` on ECS.
    base: Vec<(&'static str, String)>,
    /// Attributes added to every data point: the function's version on Lambda.
    per_point: Vec<(&'static str, String)>,
    sink: Sink,
    /// Data points of instruments missing from the catalogue, so never
    /// written: they have no CloudWatch name, unit or dimension sets.
    unwritten: AtomicU64,
}

impl EmfExporter {
    pub(super) fn new(namespace: String, resource: &Resource, target: Target) -> Self {
        let get = |key: &'static str| {
            resource
                .get(&Key::from_static_str(key))
                .map(|v| v.to_string())
                .unwrap_or_default()
        };
        let service = get(semconv::SERVICE_NAME);
        let (base, per_point) = match target {
            Target::Lambda => (
                vec![
                    (catalog::LAMBDA_SERVICE, service),
                    (catalog::LAMBDA_FUNCTION, get(semconv::FAAS_NAME)),
                ],
                vec![(catalog::LAMBDA_VERSION, get(semconv::FAAS_VERSION))],
            ),
            Target::Http => (vec![(catalog::HTTP_SERVICE, service)], Vec::new()),
        };
        Self {
            namespace,
            base,
            per_point,
            // One locked write: log lines from other threads cannot cut into it.
            sink: Box::new(|text| std::io::stdout().lock().write_all(text)),
            unwritten: AtomicU64::new(0),
        }
    }

    #[cfg(test)]
    pub(super) fn with_sink(self, sink: Sink) -> Self {
        Self { sink, ..self }
    }

    #[cfg(test)]
    pub(super) fn unwritten(&self) -> u64 {
        self.unwritten.load(Ordering::Relaxed)
    }
}

impl PushMetricExporter for EmfExporter {
    async fn export(&self, metrics: &ResourceMetrics) -> OTelSdkResult {
        self.write(metrics)
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

impl EmfExporter {
    /// Writes `metrics` as EMF lines, on the calling thread.
    pub(super) fn write(&self, metrics: &ResourceMetrics) -> OTelSdkResult {
        let (mut points, uncatalogued) = points(metrics);
        for point in &mut points {
            for (key, value) in &self.per_point {
                point.attributes.insert((*key).to_owned(), value.clone());
            }
        }
        if !uncatalogued.is_empty() {
            let here: u64 = uncatalogued.iter().map(|(_, n)| *n as u64).sum();
            let total = self.unwritten.fetch_add(here, Ordering::Relaxed) + here;
            tracing::error!(
                metrics = ?uncatalogued,
                unwritten_points_total = total,
                "metrics missing from telemetry/metrics/catalog.rs are not written as EMF"
            );
        }
        if points.is_empty() {
            return Ok(());
        }
        let timestamp = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis() as u64;
        let mut text = String::new();
        for line in render(&self.namespace, &self.base, &points, timestamp) {
            text.push_str(&line);
            text.push('\n');
        }
        (self.sink)(text.as_bytes()).map_err(|e| OTelSdkError::InternalFailure(e.to_string()))
    }
}

/// One data point in our terms: its metric, attributes and measurement.
#[derive(Debug, Clone)]
pub(super) struct Point {
    pub metric: &'static EmfMetric,
    pub attributes: BTreeMap<String, String>,
    pub sample: Sample,
}

/// What one data point measured since the last export.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Sample {
    /// A counter's delta.
    Number(f64),
    /// A delta histogram of at least one measurement.
    Distribution(Distribution),
}

/// Bins `(value, count)`, at most [`MAX_VALUES`], with the exact statistics.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Distribution {
    pub bins: Vec<(f64, u64)>,
    pub min: f64,
    pub max: f64,
    pub sum: f64,
    pub count: u64,
}

impl Sample {
    fn to_json(&self) -> Value {
        match self {
            Sample::Number(value) => json!(value),
            Sample::Distribution(d) if d.count == 1 => json!(d.sum),
            Sample::Distribution(d) => json!({
                "Values": d.bins.iter().map(|(v, _)| *v).collect::<Vec<_>>(),
                "Counts": d.bins.iter().map(|(_, n)| *n).collect::<Vec<_>>(),
                "Max": d.max,
                "Min": d.min,
                "Count": d.count,
                "Sum": d.sum,
            }),
        }
    }
}

/// Every data point of a catalogued instrument, and the name and number of
/// points of each instrument the catalogue lacks.
fn points(metrics: &ResourceMetrics) -> (Vec<Point>, Vec<(&str, usize)>) {
    let (mut out, mut uncatalogued) = (Vec::new(), Vec::new());
    for scope in metrics.scope_metrics() {
        for metric in scope.metrics() {
            let samples = match metric.data() {
                AggregatedMetrics::F64(data) => samples(data),
                AggregatedMetrics::U64(data) => samples(data),
                AggregatedMetrics::I64(data) => samples(data),
            };
            match catalog::emf_metric(metric.name()) {
                Some(entry) => out.extend(samples.into_iter().map(|(attributes, sample)| Point {
                    metric: entry,
                    attributes,
                    sample,
                })),
                None => uncatalogued.push((metric.name(), samples.len())),
            }
        }
    }
    (out, uncatalogued)
}

/// The value types an instrument can record.
trait Number: Copy {
    fn to_f64(self) -> f64;
}

impl Number for f64 {
    fn to_f64(self) -> f64 {
        self
    }
}

impl Number for u64 {
    fn to_f64(self) -> f64 {
        self as f64
    }
}

impl Number for i64 {
    fn to_f64(self) -> f64 {
        self as f64
    }
}

type Attributes = BTreeMap<String, String>;

/// Each data point of every aggregation the SDK makes, in our terms: a
/// counter or gauge is a number, a histogram of either kind a distribution.
fn samples<T: Number>(data: &MetricData<T>) -> Vec<(Attributes, Sample)> {
    match data {
        MetricData::Gauge(g) => g
            .data_points()
            .map(|p| (attributes_of(p.attributes()), number(p.value())))
            .collect(),
        MetricData::Sum(s) => s
            .data_points()
            .map(|p| (attributes_of(p.attributes()), number(p.value())))
            .collect(),
        MetricData::Histogram(h) => h
            .data_points()
            .filter(|p| p.count() > 0)
            .map(|p| {
                let sample = distribution(
                    &p.bounds().collect::<Vec<_>>(),
                    &p.bucket_counts().collect::<Vec<_>>(),
                    stats(p.min(), p.max(), p.sum(), p.count()),
                );
                (attributes_of(p.attributes()), Sample::Distribution(sample))
            })
            .collect(),
        MetricData::ExponentialHistogram(h) => h
            .data_points()
            .filter(|p| p.count() > 0)
            .map(|p| {
                let sample = exponential(p);
                (attributes_of(p.attributes()), Sample::Distribution(sample))
            })
            .collect(),
    }
}

fn number<T: Number>(value: T) -> Sample {
    Sample::Number(value.to_f64())
}

fn attributes_of<'a>(attributes: impl Iterator<Item = &'a KeyValue>) -> Attributes {
    attributes
        .map(|kv| (kv.key.to_string(), kv.value.to_string()))
        .collect()
}

/// A histogram point's (min, max, sum, count) as `f64`.
type Stats = (Option<f64>, Option<f64>, f64, u64);

fn stats<T: Number>(min: Option<T>, max: Option<T>, sum: T, count: u64) -> Stats {
    (min.map(T::to_f64), max.map(T::to_f64), sum.to_f64(), count)
}

/// An exponential histogram of `count` > 0 measurements as bins, in
/// ascending order: negative buckets, the zero bucket, positive buckets.
/// Bucket `i` holds values in (base^i, base^(i+1)], base = 2^(2^-scale).
fn exponential<T: Number>(p: &ExponentialHistogramDataPoint<T>) -> Distribution {
    let stats = stats(p.min(), p.max(), p.sum(), p.count() as u64);
    let (min, max, sum, count) = stats;
    if count == 1 {
        return summarise(vec![(sum, 1)], stats);
    }
    let (low, high) = (min.unwrap_or(f64::MIN), max.unwrap_or(f64::MAX));
    let base = 2f64.powf(2f64.powi(-i32::from(p.scale())));
    // (index, count) of each non-empty bucket.
    let filled = |bucket: &ExponentialBucket| -> Vec<(i32, u64)> {
        (bucket.offset()..)
            .zip(bucket.counts())
            .filter(|(_, n)| *n > 0)
            .collect()
    };
    let middle = |lower: f64, upper: f64| (lower.max(low) + upper.min(high)) / 2.0;
    let mut bins: Vec<(f64, u64)> = filled(p.negative_bucket())
        .into_iter()
        .rev()
        .map(|(i, n)| (middle(-base.powi(i + 1), -base.powi(i)), n))
        .collect();
    if p.zero_count() > 0 {
        bins.push((
            middle(-p.zero_threshold(), p.zero_threshold()),
            p.zero_count(),
        ));
    }
    bins.extend(
        filled(p.positive_bucket())
            .into_iter()
            .map(|(i, n)| (middle(base.powi(i), base.powi(i + 1)), n)),
    );
    summarise(bins, stats)
}

/// A delta histogram of `count` > 0 measurements as bins: the exact value when
/// there is one, else each non-empty bucket's middle, kept within min and max.
fn distribution(bounds: &[f64], counts: &[u64], stats: Stats) -> Distribution {
    let (min, max, sum, count) = stats;
    let (low, high) = (min.unwrap_or(0.0), max.unwrap_or(sum));
    let bins: Vec<(f64, u64)> = if count == 1 {
        vec![(sum, 1)]
    } else {
        counts
            .iter()
            .enumerate()
            .filter(|(_, n)| **n > 0)
            .map(|(i, n)| {
                let lower = if i == 0 { low } else { bounds[i - 1].max(low) };
                let upper = bounds.get(i).map_or(high, |b| b.min(high));
                ((lower + upper) / 2.0, *n)
            })
            .collect()
    };
    summarise(bins, stats)
}

/// Ascending `bins` within CloudWatch's limit, with the exact statistics.
fn summarise(bins: Vec<(f64, u64)>, (min, max, sum, count): Stats) -> Distribution {
    let bins = within_limit(bins);
    let first = bins.first().map_or(0.0, |b| b.0);
    let last = bins.last().map_or(0.0, |b| b.0);
    Distribution {
        min: min.unwrap_or(first).min(first),
        max: max.unwrap_or(last).max(last),
        bins,
        sum,
        count,
    }
}

/// Neighbouring bins merged pairwise (at their weighted mean) until at most
/// [`MAX_VALUES`] remain: CloudWatch drops a histogram with more. The
/// catalogue's boundaries never need it; other views might.
fn within_limit(mut bins: Vec<(f64, u64)>) -> Vec<(f64, u64)> {
    while bins.len() > MAX_VALUES {
        bins = bins
            .chunks(2)
            .map(|pair| {
                let count: u64 = pair.iter().map(|(_, n)| n).sum();
                let total: f64 = pair.iter().map(|(v, n)| v * *n as f64).sum();
                (total / count as f64, count)
            })
            .collect();
    }
    bins
}

/// The JSON lines for `points`, each a valid EMF object.
pub(super) fn render(
    namespace: &str,
    base: &[(&'static str, String)],
    points: &[Point],
    timestamp: u64,
) -> Vec<String> {
    let mut objects: Vec<Object> = Vec::new();
    for point in points {
        let fields = dimension_fields(point);
        let value = point.sample.to_json();
        match objects
            .iter_mut()
            .find(|o| o.accepts(point.metric, &fields))
        {
            Some(object) => object.add(point.metric, &fields, value),
            None => {
                let mut object = Object::default();
                object.add(point.metric, &fields, value);
                objects.push(object);
            }
        }
    }
    objects
        .into_iter()
        .map(|o| o.to_json(namespace, base, timestamp).to_string())
        .collect()
}

/// The attributes a point's dimension sets use, cleaned to CloudWatch's
/// rules; an attribute that cannot be a dimension value is left out.
fn dimension_fields(point: &Point) -> BTreeMap<&'static str, String> {
    let mut fields = BTreeMap::new();
    for key in point
        .metric
        .extra_dimension_sets
        .iter()
        .flat_map(|s| s.iter())
    {
        if let Some(value) = point.attributes.get(*key).and_then(|v| dimension_value(v)) {
            fields.insert(*key, value);
        }
    }
    fields
}

fn dimension_value(raw: &str) -> Option<String> {
    let clean: String = raw
        .chars()
        .map(|c| {
            if c.is_ascii() && !c.is_ascii_control() {
                c
            } else {
                '_'
            }
        })
        .take(MAX_DIMENSION_VALUE)
        .collect();
    (!clean.trim().is_empty()).then_some(clean)
}

/// One EMF object being filled.
#[derive(Default)]
struct Object {
    fields: BTreeMap<&'static str, String>,
    metrics: Vec<(&'static EmfMetric, Value)>,
}

impl Object {
    fn accepts(&self, metric: &EmfMetric, fields: &BTreeMap<&'static str, String>) -> bool {
        self.metrics.len() < MAX_METRICS
            && !self.metrics.iter().any(|(m, _)| m.name == metric.name)
            && fields
                .iter()
                .all(|(k, v)| self.fields.get(k).is_none_or(|mine| mine == v))
            // A set another metric here relies on must not gain a key it lacks.
            && self.metrics.iter().all(|(m, _)| same_keys(m, metric, fields, &self.fields))
    }

    fn add(
        &mut self,
        metric: &'static EmfMetric,
        fields: &BTreeMap<&'static str, String>,
        value: Value,
    ) {
        self.fields
            .extend(fields.iter().map(|(k, v)| (*k, v.clone())));
        self.metrics.push((metric, value));
    }

    fn to_json(&self, namespace: &str, base: &[(&'static str, String)], timestamp: u64) -> Value {
        let base_keys: Vec<&str> = base
            .iter()
            .filter(|(_, v)| dimension_value(v).is_some())
            .map(|(k, _)| *k)
            .collect();
        // Metrics with the same dimension sets share one directive.
        let mut directives: Vec<(Vec<Vec<&str>>, Vec<Value>)> = Vec::new();
        for (metric, _) in &self.metrics {
            let sets: Vec<Vec<&str>> = metric
                .extra_dimension_sets
                .iter()
                .filter(|set| set.iter().all(|k| self.fields.contains_key(k)))
                .map(|set| base_keys.iter().chain(set.iter()).copied().collect())
                .collect();
            let definition = json!({ "Name": metric.name, "Unit": metric.unit });
            match directives.iter_mut().find(|(s, _)| *s == sets) {
                Some((_, metrics)) => metrics.push(definition),
                None => directives.push((sets, vec![definition])),
            }
        }
        let mut root = Map::new();
        for (key, value) in base {
            if let Some(value) = dimension_value(value) {
                root.insert((*key).to_owned(), Value::String(value));
            }
        }
        for (key, value) in &self.fields {
            root.insert((*key).to_owned(), Value::String(value.clone()));
        }
        for (metric, value) in &self.metrics {
            root.insert(metric.name.to_owned(), value.clone());
        }
        let directives: Vec<Value> = directives
            .into_iter()
            .map(|(sets, metrics)| {
                json!({ "Namespace": namespace, "Dimensions": sets, "Metrics": metrics })
            })
            .collect();
        root.insert(
            "_aws".to_owned(),
            json!({ "Timestamp": timestamp, "CloudWatchMetrics": directives }),
        );
        Value::Object(root)
    }
}

/// Adding `new` (with `fields`) to an object already holding `held` must not
/// give `held` a dimension set it did not have alone: both agree on every key
/// either of them uses.
fn same_keys(
    held: &EmfMetric,
    new: &EmfMetric,
    fields: &BTreeMap<&'static str, String>,
    object_fields: &BTreeMap<&'static str, String>,
) -> bool {
    let uses = |m: &EmfMetric, key: &str| m.extra_dimension_sets.iter().any(|s| s.contains(&key));
    fields
        .keys()
        .all(|k| !uses(held, k) || object_fields.contains_key(k))
        && object_fields
            .keys()
            .all(|k| !uses(new, k) || fields.contains_key(k))
}

#[cfg(test)]
#[path = "emf_tests.rs"]
mod tests;
