//! Load shedding against the real binary: with `MAX_IN_FLIGHT_REQUESTS`
//! requests held inside handlers, a flood of more gets 503 with `Retry-After`
//! in our JSON shape at once, `/health` still answers 200, the held requests
//! complete, and the refusals are counted in the metrics.

mod support;

use std::time::Duration;

use opentelemetry_proto::tonic::metrics::v1::{metric::Data, number_data_point::Value as Number};
use serde_json::{Value, json};
use support::{
    TestResult, client,
    otlp::{ReceivedMetric, Receiver},
    process::App,
    upstream::{Behaviour, Upstream},
};

const LIMIT: usize = 8;
const FLOOD: usize = 200;

/// A counter's total over every (delta) export.
fn counter_total(metrics: &[ReceivedMetric], name: &str) -> i64 {
    metrics
        .iter()
        .filter(|m| m.metric.name == name)
        .filter_map(|m| match &m.metric.data {
            Some(Data::Sum(sum)) => Some(sum.data_points.iter()),
            _ => None,
        })
        .flatten()
        .map(|p| match p.value {
            Some(Number::AsInt(n)) => n,
            Some(Number::AsDouble(d)) => d as i64,
            None => 0,
        })
        .sum()
}

/// Requests of `http.server.request.duration` with status `status`.
fn requests_with_status(metrics: &[ReceivedMetric], status: i64) -> u64 {
    metrics
        .iter()
        .filter(|m| m.metric.name == "http.server.request.duration")
        .filter_map(|m| match &m.metric.data {
            Some(Data::Histogram(h)) => Some(h.data_points.iter()),
            _ => None,
        })
        .flatten()
        .filter(|p| {
            p.attributes.iter().any(|kv| {
                kv.key == "http.response.status_code"
                    && kv.value.as_ref().and_then(|v| v.value.as_ref())
                        == Some(
                            &opentelemetry_proto::tonic::common::v1::any_value::Value::IntValue(
                                status,
                            ),
                        )
            })
        })
        .map(|p| p.count)
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_past_the_in_flight_limit_get_503_and_health_still_answers() -> TestResult {
    let mut receiver = Receiver::start().await?;
    let mut upstream = Upstream::start(Behaviour::Gated).await?;
    let mut app = App::start_http(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.http_endpoint()),
        ("OTEL_TRACES_EXPORTER", "none".to_owned()),
        ("OTEL_METRIC_EXPORT_INTERVAL", "600000".to_owned()),
        ("USERS_LATENCY_MS", "0".to_owned()),
        ("EXTERNAL_URL", upstream.url()),
        ("EXTERNAL_TIMEOUT_MS", "15000".to_owned()),
        ("MAX_IN_FLIGHT_REQUESTS", LIMIT.to_string()),
    ])?;

    // The limit filled with requests held inside the handler.
    let mut held = tokio::task::JoinSet::new();
    for _ in 0..LIMIT {
        let url = app.url("/api/external");
        held.spawn(async move { client().get(url).send().await.map(|r| r.status().as_u16()) });
    }
    for _ in 0..LIMIT {
        tokio::time::timeout(support::DEADLINE, upstream.requests.recv())
            .await?
            .ok_or("upstream closed")?;
    }

    // A flood beyond it, all at once, with health checks among it.
    let mut flood = tokio::task::JoinSet::new();
    for i in 0..FLOOD {
        let path = if i % 20 == 0 {
            "/health"
        } else {
            "/api/users/1"
        };
        let url = app.url(path);
        flood.spawn(async move {
            let response = client().get(url).send().await?;
            let status = response.status().as_u16();
            let retry_after = response
                .headers()
                .get("retry-after")
                .map(|v| v.to_str().unwrap_or_default().to_owned());
            let body: Value = serde_json::from_slice(&response.bytes().await?)?;
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>((path, status, retry_after, body))
        });
    }
    let (mut shed, mut health) = (0, 0);
    while let Some(result) = flood.join_next().await {
        let (path, status, retry_after, body) = result??;
        if path == "/health" {
            assert_eq!(status, 200, "/health while saturated: {body}");
            health += 1;
        } else {
            assert_eq!(status, 503, "{body}");
            assert_eq!(retry_after.as_deref(), Some("1"));
            assert_eq!(
                body,
                json!({"error": "service_unavailable", "message": "Service Unavailable"})
            );
            shed += 1;
        }
    }
    assert_eq!((shed, health), (FLOOD - FLOOD / 20, FLOOD / 20));

    // The held requests finish, and the limit frees again.
    upstream.open_gate();
    while let Some(status) = held.join_next().await {
        assert_eq!(status??, 200);
    }
    let after = client().get(app.url("/api/users/1")).send().await?;
    assert_eq!(after.status().as_u16(), 200);

    app.terminate(Duration::from_secs(25));
    let output = app.output();
    assert!(
        !output.iter().any(|l| l.contains("panicked")),
        "{output:#?}"
    );
    let metrics = receiver.drain_metrics();
    assert_eq!(counter_total(&metrics, "app.requests.shed"), shed as i64);
    assert_eq!(requests_with_status(&metrics, 503), shed as u64);
    eprintln!(
        "shed: {shed} refused with 503, {health} health checks 200, {LIMIT} held requests 200"
    );
    Ok(())
}
