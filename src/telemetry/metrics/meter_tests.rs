//! What the meter really produces, collected by the service's reader and
//! written by its EMF exporter: every instrument is in the catalogue and in
//! the EMF line, and every catalogue entry is produced.

use std::{
    collections::{BTreeMap, BTreeSet},
    sync::{
        Mutex,
        atomic::{AtomicU64, Ordering},
    },
};

use opentelemetry::metrics::MeterProvider as _;
use opentelemetry_sdk::{
    error::OTelSdkResult,
    metrics::{
        Aggregation, Instrument, Stream,
        data::{AggregatedMetrics, MetricData, ResourceMetrics},
    },
};
use serde_json::{Value, json};

use super::*;

/// The EMF exporter, noting what it is handed.
struct Noting {
    emf: emf::EmfExporter,
    seen: Arc<Seen>,
}

#[derive(Default)]
struct Seen {
    /// Each metric's name and its kind, as [`kind_of`] words it.
    metrics: Mutex<BTreeMap<String, String>>,
    lines: Mutex<Vec<Value>>,
    unwritten: AtomicU64,
}

impl PushMetricExporter for Noting {
    async fn export(&self, metrics: &ResourceMetrics) -> OTelSdkResult {
        for scope in metrics.scope_metrics() {
            for metric in scope.metrics() {
                let kind = format!("{} in {}", kind_of(metric.data()), metric.unit());
                let mut seen = self.seen.metrics.lock().unwrap();
                seen.insert(metric.name().to_owned(), kind);
            }
        }
        let written = self.emf.export(metrics).await;
        self.seen
            .unwritten
            .store(self.emf.unwritten(), Ordering::Relaxed);
        written
    }

    fn force_flush(&self) -> OTelSdkResult {
        Ok(())
    }

    fn shutdown_with_timeout(&self, _timeout: Duration) -> OTelSdkResult {
        Ok(())
    }

    fn temporality(&self) -> Temporality {
        self.emf.temporality()
    }
}

fn kind_of(data: &AggregatedMetrics) -> String {
    match data {
        AggregatedMetrics::F64(MetricData::Histogram(h)) => {
            let bounds: Vec<f64> = h.data_points().flat_map(|p| p.bounds()).collect();
            format!("f64 histogram {bounds:?}")
        }
        AggregatedMetrics::U64(MetricData::Sum(s)) if s.is_monotonic() => "u64 counter".to_owned(),
        other => format!("{other:?}"),
    }
}

/// What the catalogue says the meter makes of `entry` (one data point).
fn catalogued(entry: &catalog::Instrument) -> String {
    let kind = match entry.kind {
        catalog::Kind::Histogram(bounds) => format!("f64 histogram {bounds:?}"),
        catalog::Kind::Counter => "u64 counter".to_owned(),
    };
    format!("{kind} in {}", entry.unit)
}

/// A provider whose one reader is the service's Lambda EMF reader.
fn provider(
    view: impl Fn(&Instrument) -> Option<Stream> + Send + Sync + 'static,
) -> (SdkMeterProvider, Arc<Seen>) {
    let resource = Resource::builder_empty()
        .with_attributes([
            KeyValue::new(semconv::SERVICE_NAME, "shop"),
            KeyValue::new(semconv::FAAS_NAME, "shop-fn"),
        ])
        .build();
    let seen = Arc::new(Seen::default());
    let lines = Arc::clone(&seen);
    let sink: emf::Sink = Box::new(move |text| {
        let text = std::str::from_utf8(text).expect("UTF-8");
        let mut lines = lines.lines.lock().unwrap();
        lines.extend(
            text.lines()
                .map(|l| serde_json::from_str::<Value>(l).expect("JSON")),
        );
        Ok(())
    });
    let exporter = Noting {
        emf: emf::EmfExporter::new("Shop".into(), &resource, Target::Lambda).with_sink(sink),
        seen: Arc::clone(&seen),
    };
    let provider = SdkMeterProvider::builder()
        .with_resource(resource)
        .with_reader(emf_reader(exporter, Target::Lambda))
        .with_view(view)
        .build();
    (provider, seen)
}

/// One measurement through each public recording method.
fn record_each(metrics: &Metrics) {
    metrics.record_server(&ServerFacts {
        method: &http::Method::GET,
        route: Some("/api/users/{id}"),
        status: 503,
        scheme: "https",
        duration: Duration::from_millis(12),
    });
    metrics.record_client(
        &http::Method::GET,
        "upstream",
        Ok(200),
        Duration::from_millis(5),
    );
    metrics.record_aws_call("DynamoDB", "GetItem", None, Duration::from_millis(7));
    metrics.record_coldstart();
    metrics.record_shed();
    metrics.record_spans_processed(3, Some(catalog::QUEUE_FULL));
    metrics.record_spans_exported(2, None);
    metrics.record_points_exported(5, Some("timeout"));
    metrics.record_db(
        &[KeyValue::new(semconv::DB_OPERATION_NAME, "SELECT")],
        Some("timeout"),
        Duration::from_millis(3),
    );
}

/// The metric names the EMF lines declare, each with its value present.
fn declared(lines: &[Value]) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for line in lines {
        for directive in line["_aws"]["CloudWatchMetrics"].as_array().unwrap() {
            for metric in directive["Metrics"].as_array().unwrap() {
                let name = metric["Name"].as_str().unwrap();
                assert!(line.get(name).is_some(), "{name} has no value: {line}");
                names.insert(name.to_owned());
            }
        }
    }
    names
}

#[test]
fn every_instrument_produced_is_catalogued_and_written_as_emf_and_back() {
    let (provider, seen) = provider(|_| None);
    record_each(&Metrics::from_provider(&provider));
    provider.force_flush().unwrap();

    let produced = seen.metrics.lock().unwrap().clone();
    let catalogue: BTreeMap<String, String> = catalog::INSTRUMENTS
        .iter()
        .map(|i| (i.name.to_owned(), catalogued(i)))
        .collect();
    assert_eq!(produced, catalogue, "produced by the meter vs catalogue");

    let lines = seen.lines.lock().unwrap().clone();
    let emf_names: BTreeSet<String> = produced
        .keys()
        .map(|name| catalog::emf_metric(name).unwrap().name.to_owned())
        .collect();
    assert_eq!(declared(&lines), emf_names, "{lines:#?}");
    assert_eq!(seen.unwritten.load(Ordering::Relaxed), 0);
}

#[test]
fn an_instrument_missing_from_the_catalogue_is_counted_and_the_rest_written() {
    let (provider, seen) = provider(|_| None);
    let meter = provider.meter("test");
    let stray = meter.u64_counter("not.in.the.catalogue").build();
    stray.add(1, &[KeyValue::new("a", "x")]);
    stray.add(1, &[KeyValue::new("a", "y")]);
    Metrics::from_provider(&provider).record_coldstart();
    provider.force_flush().unwrap();

    assert_eq!(seen.unwritten.load(Ordering::Relaxed), 2);
    let lines = seen.lines.lock().unwrap().clone();
    assert_eq!(declared(&lines), BTreeSet::from(["ColdStart".to_owned()]));
}

#[test]
fn every_aggregation_the_sdk_makes_is_written() {
    // Catalogue names on other instrument kinds, and a view for the exponential histogram.
    let (provider, seen) = provider(|i: &Instrument| {
        let exponential = Aggregation::Base2ExponentialHistogram {
            max_size: 160,
            max_scale: 20,
            record_min_max: true,
        };
        (i.name() == catalog::SERVER_DURATION)
            .then(|| Stream::builder().with_aggregation(exponential).build().ok())
            .flatten()
    });
    let meter = provider.meter("test");
    let server = meter.f64_histogram(catalog::SERVER_DURATION).build();
    for seconds in [0.002, 0.003, 0.2] {
        server.record(seconds, &[]);
    }
    let client = meter.f64_gauge(catalog::CLIENT_DURATION).build();
    client.record(0.5, &[]);
    client.record(0.7, &[]);
    let aws = meter.u64_histogram(catalog::AWS_CALL_DURATION).build();
    aws.record(2, &[]);
    let coldstarts = meter.i64_up_down_counter(catalog::COLDSTARTS).build();
    coldstarts.add(3, &[]);
    provider.force_flush().unwrap();

    let lines = seen.lines.lock().unwrap().clone();
    assert_eq!(lines.len(), 1, "{lines:#?}");
    let line = &lines[0];
    let exponential = &line[catalog::SERVER_DURATION];
    assert_eq!(
        (
            &exponential["Count"],
            &exponential["Min"],
            &exponential["Max"]
        ),
        (&json!(3), &json!(0.002), &json!(0.2))
    );
    assert!((exponential["Sum"].as_f64().unwrap() - 0.205).abs() < 1e-9);
    let values: Vec<f64> = exponential["Values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    // Each bucket's middle, within a bucket's width (a few % here) of its value.
    assert_eq!(values.len(), 3, "{values:?}");
    for (value, recorded) in values.iter().zip([0.002, 0.003, 0.2]) {
        assert!((value / recorded - 1.0).abs() < 0.05, "{values:?}");
    }
    assert_eq!(
        exponential["Counts"].as_array().unwrap().len(),
        values.len()
    );
    assert_eq!(line[catalog::CLIENT_DURATION], json!(0.7));
    assert_eq!(line[catalog::AWS_CALL_DURATION], json!(2.0));
    assert_eq!(line["ColdStart"], json!(3.0));
    assert_eq!(seen.unwritten.load(Ordering::Relaxed), 0);
}
