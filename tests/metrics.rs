//! The real binary on a real port (the HTTP target) sending its metrics to a
//! real OTLP receiver, over http/protobuf and gRPC: instrument names, units,
//! delta temporality, bucket boundaries, attribute sets (typed) and counts
//! after a known set of requests, with traces switched off.

mod support;

use std::{collections::BTreeMap, time::Duration};

use opentelemetry_proto::tonic::{
    common::v1::{KeyValue, any_value::Value},
    metrics::v1::{AggregationTemporality, metric::Data},
};
use support::{
    TestResult, client,
    otlp::{ReceivedMetric, Receiver},
    process::App,
    upstream::{Behaviour, Upstream},
};

const BUCKETS: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
];

/// Attributes with their type visible: `200i` is an integer, `GET` a string.
type Attributes = BTreeMap<String, String>;

fn attributes(kvs: &[KeyValue]) -> Attributes {
    kvs.iter()
        .filter_map(|kv| {
            let value = match kv.value.as_ref()?.value.as_ref()? {
                Value::StringValue(s) => s.clone(),
                Value::IntValue(i) => format!("{i}i"),
                Value::BoolValue(b) => format!("{b}b"),
                Value::DoubleValue(d) => format!("{d}d"),
                other => format!("{other:?}"),
            };
            Some((kv.key.clone(), value))
        })
        .collect()
}

fn expect(pairs: &[(&str, &str)]) -> Attributes {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// A histogram's counts per attribute set, summed over every export (they
/// are deltas), after checking unit, temporality and boundaries.
fn histogram_counts(metrics: &[ReceivedMetric], name: &str) -> BTreeMap<Attributes, u64> {
    let mut counts = BTreeMap::new();
    let mut seen = false;
    for received in metrics.iter().filter(|m| m.metric.name == name) {
        seen = true;
        assert_eq!(received.metric.unit, "s", "{name} unit");
        let Some(Data::Histogram(histogram)) = &received.metric.data else {
            panic!("{name} is not a histogram: {:?}", received.metric.data);
        };
        assert_eq!(
            histogram.aggregation_temporality,
            AggregationTemporality::Delta as i32,
            "{name} temporality"
        );
        for point in &histogram.data_points {
            assert_eq!(point.explicit_bounds, BUCKETS, "{name} buckets");
            assert_eq!(point.bucket_counts.iter().sum::<u64>(), point.count);
            *counts.entry(attributes(&point.attributes)).or_default() += point.count;
        }
    }
    assert!(seen, "no {name} received");
    counts
}

async fn status(app: &App, path: &str) -> TestResult<u16> {
    Ok(client().get(app.url(path)).send().await?.status().as_u16())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_are_measured_over_http_protobuf_even_without_traces() -> TestResult {
    let mut receiver = Receiver::start().await?;
    let upstream = Upstream::start(Behaviour::Error).await?;
    // A database that accepts connections and never answers: its handler
    // outlives the request timeout.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let silent_port = silent.local_addr()?.port();
    let _held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            open.push(socket);
        }
    });
    let mut app = App::start_http(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.http_endpoint()),
        ("OTEL_TRACES_EXPORTER", "none".to_owned()),
        // Only the final export at shutdown sends anything.
        ("OTEL_METRIC_EXPORT_INTERVAL", "600000".to_owned()),
        ("USERS_LATENCY_MS", "0".to_owned()),
        ("EXTERNAL_URL", upstream.url()),
        // A handler past the request timeout is a 5xx: 504.
        (
            "DATABASE_URL",
            format!("postgres://app:pw@127.0.0.1:{silent_port}/app"),
        ),
        ("DATABASE_TIMEOUT_MS", "3000".to_owned()),
        ("REQUEST_TIMEOUT_SECS", "1".to_owned()),
    ])?;
    for _ in 0..3 {
        assert_eq!(status(&app, "/api/users/7").await?, 200);
    }
    for _ in 0..2 {
        assert_eq!(status(&app, "/no/such/path").await?, 404);
    }
    assert_eq!(status(&app, "/api/users/abc").await?, 400);
    assert_eq!(status(&app, "/api/external").await?, 502);
    assert_eq!(status(&app, "/api/database").await?, 504);
    app.terminate(Duration::from_secs(25));
    let metrics = receiver.drain_metrics();

    let server = histogram_counts(&metrics, "http.server.request.duration");
    let request = |route: Option<&str>, status: &str, class: &str| {
        let mut pairs = vec![
            ("http.request.method", "GET"),
            ("http.response.status_code", status),
            ("http.response.status_class", class),
            ("url.scheme", "http"),
        ];
        if let Some(route) = route {
            pairs.push(("http.route", route));
        }
        if class == "5xx" {
            pairs.push(("error.type", status.trim_end_matches('i')));
        }
        expect(&pairs)
    };
    let expected = BTreeMap::from([
        (request(Some("/api/users/{id}"), "200i", "2xx"), 3),
        (request(Some("/api/users/{id}"), "400i", "4xx"), 1),
        // An unmatched path has no route, never the raw path.
        (request(None, "404i", "4xx"), 2),
        (request(Some("/api/external"), "502i", "5xx"), 1),
        (request(Some("/api/database"), "504i", "5xx"), 1),
    ]);
    assert_eq!(server, expected);

    let upstream_host = upstream.addr.ip().to_string();
    let client = histogram_counts(&metrics, "http.client.request.duration");
    let expected = BTreeMap::from([(
        expect(&[
            ("http.request.method", "GET"),
            ("server.address", &upstream_host),
            ("http.response.status_code", "500i"),
            ("error.type", "500"),
        ]),
        1,
    )]);
    assert_eq!(client, expected);

    let resource = metrics[0].resource_attr("service.name");
    assert_eq!(resource.as_deref(), Some("axum-xray-otel"));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_are_measured_over_grpc() -> TestResult {
    let mut receiver = Receiver::start().await?;
    let mut app = App::start_http(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.http_endpoint()),
        ("OTEL_EXPORTER_OTLP_METRICS_PROTOCOL", "grpc".to_owned()),
        (
            "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
            receiver.grpc_endpoint(),
        ),
        ("OTEL_METRIC_EXPORT_INTERVAL", "600000".to_owned()),
    ])?;
    for _ in 0..2 {
        assert_eq!(status(&app, "/health").await?, 200);
    }
    app.terminate(Duration::from_secs(25));
    let server = histogram_counts(&receiver.drain_metrics(), "http.server.request.duration");
    let health = expect(&[
        ("http.request.method", "GET"),
        ("http.route", "/health"),
        ("http.response.status_code", "200i"),
        ("http.response.status_class", "2xx"),
        ("url.scheme", "http"),
    ]);
    assert_eq!(server, BTreeMap::from([(health, 2)]));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_metrics_collector_does_not_touch_requests() -> TestResult {
    let dead = support::otlp::ClosedPort::new()?;
    let mut app = App::start_http(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", dead.endpoint()),
        ("OTEL_TRACES_EXPORTER", "none".to_owned()),
        // Exports (failing) run all along while requests are served.
        ("OTEL_METRIC_EXPORT_INTERVAL", "10".to_owned()),
    ])?;
    for _ in 0..50 {
        assert_eq!(status(&app, "/health").await?, 200);
    }
    app.terminate(Duration::from_secs(25));
    Ok(())
}

/// A collector that refuses metric exports: each failure is logged as a
/// warning (not at debug), and once it accepts again the failed data points
/// arrive as `otel.sdk.exporter.metric_data_point.exported` with `error.type`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_metric_exports_are_logged_and_counted() -> TestResult {
    let mut receiver = Receiver::start().await?;
    receiver.set_mode(support::otlp::Mode::Refuse);
    let mut app = App::start_http(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.http_endpoint()),
        ("OTEL_TRACES_EXPORTER", "none".to_owned()),
        ("OTEL_METRIC_EXPORT_INTERVAL", "100".to_owned()),
    ])?;
    assert_eq!(status(&app, "/health").await?, 200);
    let failing = tokio::task::block_in_place(|| {
        app.wait_for_log(|v| v["message"] == "metric export failing")
    })
    .ok_or("no failure logged")?;
    assert_eq!(failing["level"], "WARN");
    receiver.set_mode(support::otlp::Mode::Accept);
    let recovered = tokio::task::block_in_place(|| {
        app.wait_for_log(|v| v["message"] == "metric export recovered")
    })
    .ok_or("no recovery logged")?;
    assert!(
        recovered["data_points_lost"].as_u64() > Some(0),
        "{recovered}"
    );
    app.terminate(Duration::from_secs(25));
    let metrics = receiver.drain_metrics();
    let mut failed = 0;
    for received in metrics
        .iter()
        .filter(|m| m.metric.name == "otel.sdk.exporter.metric_data_point.exported")
    {
        let Some(Data::Sum(sum)) = &received.metric.data else {
            panic!("not a sum: {:?}", received.metric.data);
        };
        for point in &sum.data_points {
            if attributes(&point.attributes)
                .get("error.type")
                .map(String::as_str)
                == Some("export_failed")
            {
                failed += match point.value {
                    Some(
                        opentelemetry_proto::tonic::metrics::v1::number_data_point::Value::AsInt(n),
                    ) => n,
                    _ => 0,
                };
            }
        }
    }
    assert!(failed > 0, "no failed data points counted");
    Ok(())
}
