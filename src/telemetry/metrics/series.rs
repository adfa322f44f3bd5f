//! `http.server.request.duration`, recorded through handles bound once per
//! attribute set.
//!
//! The SDK's `Histogram::record` looks its attribute set up on every call,
//! SipHashing each key and value: measured with callgrind, about 2,500
//! instructions a request. A request's set follows from four facts (method,
//! route, status, scheme), so a small map keyed by them, with a fast hasher
//! and no allocation on a hit, finds the SDK's bound handle instead. A bound
//! handle writes into the same aggregate as an unbound record of the same
//! set, and the SDK keeps it across delta collections (a series with no
//! requests is simply not exported).

use std::{
    hash::{Hash, Hasher},
    sync::{PoisonError, RwLock},
};

use hashbrown::{Equivalent, HashMap};
use opentelemetry::{
    KeyValue,
    metrics::{BoundHistogram, Histogram},
};
use opentelemetry_semantic_conventions::attribute as semconv;

use super::{ServerFacts, catalog, scheme};
use crate::telemetry::http::known_method;

/// Series bound at most; beyond, requests are recorded unbound (the SDK's own
/// cardinality limit still applies). Routes are the Router's and methods and
/// schemes are folded to known values, so only odd status codes add series.
const MAX_BOUND: usize = 512;

#[derive(Debug)]
pub(super) struct ServerDuration {
    histogram: Histogram<f64>,
    bound: RwLock<HashMap<SeriesKey, BoundHistogram<f64>>>,
}

impl ServerDuration {
    pub(super) fn new(histogram: Histogram<f64>) -> Self {
        Self {
            histogram,
            bound: RwLock::default(),
        }
    }

    pub(super) fn record(&self, facts: &ServerFacts<'_>) {
        let seconds = facts.duration.as_secs_f64();
        let query = Series::of(facts);
        if let Some(handle) = self.read().get(&query) {
            handle.record(seconds);
            return;
        }
        let attributes = attributes(&query);
        let mut bound = self.bound.write().unwrap_or_else(PoisonError::into_inner);
        if let Some(handle) = bound.get(&query) {
            handle.record(seconds);
        } else if bound.len() < MAX_BOUND {
            let handle = self.histogram.bind(&attributes);
            handle.record(seconds);
            bound.insert(query.to_key(), handle);
        } else {
            drop(bound);
            self.histogram.record(seconds, &attributes);
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<SeriesKey, BoundHistogram<f64>>> {
        self.bound.read().unwrap_or_else(PoisonError::into_inner)
    }
}

/// What decides a request's attribute set, borrowed from the request.
#[derive(Clone, Copy, Debug)]
struct Series<'a> {
    method: &'static str,
    route: Option<&'a str>,
    status: u16,
    scheme: &'static str,
}

impl<'a> Series<'a> {
    fn of(facts: &ServerFacts<'a>) -> Self {
        Self {
            method: known_method(facts.method),
            route: facts.route,
            status: facts.status,
            scheme: scheme(facts.scheme),
        }
    }

    fn to_key(self) -> SeriesKey {
        SeriesKey {
            method: self.method,
            route: self.route.map(Box::from),
            status: self.status,
            scheme: self.scheme,
        }
    }
}

/// [`Series`] owned, as the map keeps it.
#[derive(Debug, PartialEq, Eq)]
struct SeriesKey {
    method: &'static str,
    route: Option<Box<str>>,
    status: u16,
    scheme: &'static str,
}

// One hash for both forms, so a borrowed `Series` finds its `SeriesKey`. The
// route and status tell series apart well enough; equality checks the rest.
fn hash_series<H: Hasher>(state: &mut H, route: Option<&str>, status: u16) {
    route.hash(state);
    status.hash(state);
}

impl Hash for Series<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        hash_series(state, self.route, self.status);
    }
}

impl Hash for SeriesKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        hash_series(state, self.route.as_deref(), self.status);
    }
}

impl Equivalent<SeriesKey> for Series<'_> {
    fn equivalent(&self, key: &SeriesKey) -> bool {
        self.method == key.method
            && self.route == key.route.as_deref()
            && self.status == key.status
            && self.scheme == key.scheme
    }
}

/// The semconv attributes of `http.server.request.duration`, and the status
/// class CloudWatch alarms on.
fn attributes(series: &Series<'_>) -> Vec<KeyValue> {
    let mut attributes = Vec::with_capacity(6);
    attributes.push(KeyValue::new(semconv::HTTP_REQUEST_METHOD, series.method));
    if let Some(route) = series.route {
        attributes.push(KeyValue::new(semconv::HTTP_ROUTE, route.to_owned()));
    }
    attributes.push(KeyValue::new(
        semconv::HTTP_RESPONSE_STATUS_CODE,
        i64::from(series.status),
    ));
    attributes.push(KeyValue::new(
        catalog::STATUS_CLASS,
        catalog::status_class(series.status),
    ));
    attributes.push(KeyValue::new(semconv::URL_SCHEME, series.scheme));
    if series.status >= 500 {
        // Semconv: a server error's type is its status code.
        attributes.push(KeyValue::new(
            semconv::ERROR_TYPE,
            series.status.to_string(),
        ));
    }
    attributes
}

#[cfg(test)]
mod tests {
    use std::{sync::Arc, time::Duration};

    use opentelemetry::metrics::MeterProvider as _;
    use opentelemetry_sdk::metrics::{
        ManualReader, SdkMeterProvider, Temporality,
        data::{AggregatedMetrics, MetricData, ResourceMetrics},
        reader::MetricReader as _,
    };

    use super::*;
    use crate::telemetry::metrics::SharedReader;

    fn duration() -> (ServerDuration, Arc<ManualReader>, SdkMeterProvider) {
        let reader = Arc::new(
            ManualReader::builder()
                .with_temporality(Temporality::Delta)
                .build(),
        );
        let provider = SdkMeterProvider::builder()
            .with_reader(SharedReader(Arc::clone(&reader)))
            .build();
        let histogram = provider
            .meter("test")
            .f64_histogram(catalog::SERVER_DURATION)
            .build();
        (ServerDuration::new(histogram), reader, provider)
    }

    fn facts(route: Option<&str>, status: u16) -> ServerFacts<'_> {
        ServerFacts {
            method: &http::Method::GET,
            route,
            status,
            scheme: "HTTPS",
            duration: Duration::from_millis(3),
        }
    }

    /// (attributes as `key=value`, sorted; count) of every exported point.
    fn points(reader: &ManualReader) -> Vec<(Vec<String>, u64)> {
        let mut collected = ResourceMetrics::default();
        reader.collect(&mut collected).unwrap();
        let mut points = Vec::new();
        for scope in collected.scope_metrics() {
            for metric in scope.metrics() {
                let AggregatedMetrics::F64(MetricData::Histogram(h)) = metric.data() else {
                    panic!("not a histogram: {}", metric.name());
                };
                for p in h.data_points() {
                    let mut attributes: Vec<String> = p
                        .attributes()
                        .map(|kv| format!("{}={}", kv.key, kv.value))
                        .collect();
                    attributes.sort();
                    points.push((attributes, p.count()));
                }
            }
        }
        points.sort();
        points
    }

    #[test]
    fn bound_series_carry_the_request_attributes_and_count_every_request() {
        let (duration, reader, _provider) = duration();
        for _ in 0..3 {
            duration.record(&facts(Some("/api/users/{id}"), 200));
        }
        duration.record(&facts(None, 503));
        assert_eq!(
            points(&reader),
            [
                (
                    vec![
                        "error.type=503".to_owned(),
                        "http.request.method=GET".to_owned(),
                        "http.response.status_class=5xx".to_owned(),
                        "http.response.status_code=503".to_owned(),
                        "url.scheme=https".to_owned(),
                    ],
                    1
                ),
                (
                    vec![
                        "http.request.method=GET".to_owned(),
                        "http.response.status_class=2xx".to_owned(),
                        "http.response.status_code=200".to_owned(),
                        "http.route=/api/users/{id}".to_owned(),
                        "url.scheme=https".to_owned(),
                    ],
                    3
                ),
            ]
        );
        // Delta: a bound series without requests since the last collection is left out.
        duration.record(&facts(None, 503));
        let second = points(&reader);
        assert_eq!(second.len(), 1);
        assert_eq!(second[0].1, 1);
        assert!(second[0].0.contains(&"error.type=503".to_owned()));
    }

    #[test]
    fn series_beyond_the_bound_limit_are_still_recorded() {
        let (duration, reader, _provider) = duration();
        let statuses = 100..(100 + MAX_BOUND as u16 + 50);
        for status in statuses.clone() {
            duration.record(&facts(Some("/"), status));
            duration.record(&facts(Some("/"), status));
        }
        assert_eq!(duration.read().len(), MAX_BOUND);
        let points = points(&reader);
        assert_eq!(points.len(), statuses.len());
        assert!(points.iter().all(|(_, count)| *count == 2));
    }
}
