//! The compiled binary as a Lambda function, against the Runtime API double
//! and a real OTLP receiver: routing for every event source, the invocation's
//! X-Ray parent, faas attributes, flushing before the next event, errors.

mod support;

use std::time::{Duration, Instant};

use serde_json::Value;
use support::{
    TestResult, XRAY_PARENT, XRAY_ROOT, XRAY_TRACE_HEX,
    lambda_api::{Invocation, Outcome, RuntimeApi, event},
    otlp::{Mode, Received, Receiver},
    process::{App, command},
};

async fn start(
    receiver: &Receiver,
    extra: &[(&'static str, &str)],
) -> TestResult<(RuntimeApi, App)> {
    let api = RuntimeApi::start(receiver.counter()).await?;
    let mut env = api.lambda_env();
    env.extend([
        ("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.http_endpoint()),
        // Only the per-invocation flush may deliver spans in time.
        ("OTEL_BSP_SCHEDULE_DELAY", "60000".to_owned()),
        ("USERS_LATENCY_MS", "0".to_owned()),
    ]);
    env.extend(extra.iter().map(|(k, v)| (*k, (*v).to_owned())));
    let app = App::spawn(command(&env))?;
    Ok((api, app))
}

fn invocation(id: &str, file: &str, trace: Option<String>) -> Invocation {
    Invocation {
        request_id: id.to_owned(),
        trace_header: trace,
        body: event(file),
    }
}

/// The HTTP response inside a Lambda proxy response.
fn http_response(outcome: Option<Outcome>) -> (u64, Value) {
    match outcome {
        Some(Outcome::Response { body, .. }) => {
            let status = body["statusCode"].as_u64().unwrap_or_default();
            let inner = body["body"]
                .as_str()
                .and_then(|b| serde_json::from_str(b).ok())
                .unwrap_or(Value::Null);
            (status, inner)
        }
        other => panic!("expected a response, got {other:?}"),
    }
}

fn trace_header(root: &str, sampled: u8) -> Option<String> {
    Some(format!(
        "Root={root};Parent={XRAY_PARENT};Sampled={sampled}"
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invocations_nest_under_the_function_segment_and_flush_before_next() -> TestResult {
    let mut receiver = Receiver::start().await?;
    let (mut api, mut app) = start(
        &receiver,
        &[("RUST_LOG", "info,axum_xray_otel::users=debug")],
    )
    .await?;
    let second_root = "1-5759e988-00000000000000000000beef";
    api.push(invocation(
        "req-1",
        "function-url.json",
        trace_header(XRAY_ROOT, 1),
    ));
    api.push(invocation(
        "req-2",
        "function-url.json",
        trace_header(second_root, 1),
    ));
    api.push(invocation(
        "req-3",
        "function-url.json",
        trace_header("1-5759e988-00000000000000000000dead", 0),
    ));
    for _ in 0..3 {
        let (status, body) = http_response(api.next_outcome().await);
        assert_eq!((status, body["id"].clone()), (200, Value::from(7)));
    }
    // Event 3 was handed out, so the runtime's first three `/next` calls are recorded.
    let counts = api.span_counts_at_next();
    assert!(counts.len() >= 3, "{counts:?}");
    // Invocation 1 made 2 spans (server + user lookup): both reached the
    // collector before the runtime asked for event 2, and so on.
    assert!(
        counts[1] >= 2,
        "spans of invocation 1 not flushed before the next event: {counts:?}"
    );
    assert!(
        counts[2] >= 4,
        "spans of invocation 2 not flushed before the next event: {counts:?}"
    );

    let spans: Vec<Received> = receiver.drain();
    let servers: Vec<&Received> = spans.iter().filter(|s| s.is_server()).collect();
    assert_eq!(
        servers.len(),
        2,
        "Sampled=0 must not be exported: {spans:#?}"
    );
    let first = servers
        .iter()
        .find(|s| s.trace_id() == XRAY_TRACE_HEX)
        .expect("invocation 1 span");
    assert_eq!(
        first.parent_id(),
        XRAY_PARENT,
        "the function segment is the parent"
    );
    assert_eq!(first.span.name, "GET /api/users/{id}");
    assert_eq!(first.attr("faas.trigger").as_deref(), Some("http"));
    assert_eq!(first.attr("aws.span.kind").as_deref(), Some("LOCAL_ROOT"));
    assert_eq!(
        first.attr("aws.local.operation").as_deref(),
        Some("GET /api/users/{id}")
    );
    assert_eq!(
        first.attr("aws.local.environment").as_deref(),
        Some("lambda:default")
    );
    assert_eq!(first.attr("faas.invocation_id").as_deref(), Some("req-1"));
    assert_eq!(first.attr("faas.coldstart").as_deref(), Some("true"));
    assert_eq!(first.attr("http.route").as_deref(), Some("/api/users/{id}"));
    assert_eq!(
        first.attr("client.address").as_deref(),
        Some("198.51.100.23")
    );
    assert_eq!(
        first.resource_attr("cloud.platform").as_deref(),
        Some("aws_lambda")
    );
    assert_eq!(
        first.resource_attr("faas.name").as_deref(),
        Some("axum-xray-otel-test")
    );
    assert_eq!(first.resource_attr("faas.version").as_deref(), Some("7"));
    assert_eq!(
        first.resource_attr("faas.max_memory").as_deref(),
        Some("268435456")
    );
    assert_eq!(
        first.resource_attr("cloud.region").as_deref(),
        Some("eu-west-1")
    );
    let lookup = spans
        .iter()
        .find(|s| s.parent_id() == first.span_id())
        .expect("user lookup child");
    assert_eq!(lookup.span.name, "SELECT users");
    let second = servers
        .iter()
        .find(|s| s.trace_id() != XRAY_TRACE_HEX)
        .expect("invocation 2 span");
    assert_eq!(
        second.trace_id(),
        second_root.replace('-', "")[1..].to_owned()
    );
    assert_eq!(second.attr("faas.coldstart").as_deref(), Some("false"));
    assert_eq!(second.attr("faas.invocation_id").as_deref(), Some("req-2"));
    // Log lines inside an invocation carry its X-Ray trace id and request id,
    // and the id of the innermost span (the lookup's subsegment), so a log
    // line can be found from what X-Ray shows.
    let line = app
        .wait_for_log(|v| v["message"] == "user found" && v["request_id"] == "req-1")
        .expect("a log line of invocation 1");
    assert_eq!(line["trace_id"], XRAY_ROOT);
    assert_eq!(line["span_id"], lookup.span_id());
    assert_ne!(lookup.span_id(), first.span_id());
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_event_source_reaches_its_route() -> TestResult {
    let receiver = Receiver::start().await?;
    let (mut api, _app) = start(&receiver, &[]).await?;
    for (file, key, expected) in [
        ("alb.json", "id", Value::from(42)),
        ("function-url.json", "id", Value::from(7)),
        ("apigw-rest.json", "id", Value::from(5)),
        (
            "apigw-http.json",
            "query",
            Value::from("SELECT id, name FROM users ORDER BY id LIMIT $1"),
        ),
        ("health.json", "status", Value::from("ok")),
    ] {
        api.push(invocation(file, file, None));
        let (status, body) = http_response(api.next_outcome().await);
        assert_eq!((status, body[key].clone()), (200, expected), "{file}");
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_events_are_reported_and_the_next_one_is_served() -> TestResult {
    let receiver = Receiver::start().await?;
    let (mut api, _app) = start(&receiver, &[]).await?;
    for (body, says) in [
        ("this is not json", "failed to deserialize"),
        (
            r#"{"detail-type": "Scheduled Event", "source": "aws.events"}"#,
            "doesn't match any of those services' events",
        ),
    ] {
        api.push(Invocation {
            request_id: "bad".into(),
            trace_header: None,
            body: body.into(),
        });
        match api.next_outcome().await {
            Some(Outcome::Error {
                request_id,
                error_type,
                body,
            }) => {
                assert_eq!(request_id, "bad");
                assert_eq!(
                    error_type, "unhandled",
                    "Lambda-Runtime-Function-Error-Type"
                );
                assert!(
                    body["errorType"]
                        .as_str()
                        .is_some_and(|t| t.ends_with("DeserializeError")),
                    "{body}"
                );
                assert!(
                    body["errorMessage"]
                        .as_str()
                        .is_some_and(|m| m.contains(says)),
                    "{body}"
                );
            }
            other => panic!("expected an error report, got {other:?}"),
        }
        api.push(invocation("good", "function-url.json", None));
        assert_eq!(http_response(api.next_outcome().await).0, 200);
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_collector_cannot_hold_invocations() -> TestResult {
    let receiver = Receiver::start().await?;
    receiver.set_mode(Mode::Hang);
    let (mut api, mut app) = start(&receiver, &[("LAMBDA_FLUSH_TIMEOUT_MS", "200")]).await?;
    api.push(invocation(
        "a",
        "function-url.json",
        trace_header(XRAY_ROOT, 1),
    ));
    assert_eq!(http_response(api.next_outcome().await).0, 200);
    let start = Instant::now();
    api.push(invocation(
        "b",
        "function-url.json",
        trace_header(XRAY_ROOT, 1),
    ));
    assert_eq!(http_response(api.next_outcome().await).0, 200);
    // "b" is handed out only after "a"'s flush gave up: at least the 200 ms
    // bound, and far less than the exporter's own 10 s timeout.
    let elapsed = start.elapsed();
    eprintln!("hanging collector: next invocation answered after {elapsed:?} (flush bound 200 ms)");
    assert!(
        elapsed >= Duration::from_millis(200) && elapsed < Duration::from_millis(1500),
        "flush not bounded by LAMBDA_FLUSH_TIMEOUT_MS: {elapsed:?}"
    );
    let warning = app.wait_for_log(|v| v["message"] == "span flush timed out");
    assert_eq!(warning.map(|w| w["timeout_ms"].clone()), Some(200.into()));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_flushes_and_exits_0() -> TestResult {
    let mut receiver = Receiver::start().await?;
    let (mut api, mut app) = start(&receiver, &[]).await?;
    api.push(invocation(
        "a",
        "function-url.json",
        trace_header(XRAY_ROOT, 1),
    ));
    assert_eq!(http_response(api.next_outcome().await).0, 200);
    app.terminate(Duration::from_secs(10));
    let spans = receiver.drain();
    assert!(
        spans
            .iter()
            .any(|s| s.is_server() && s.trace_id() == XRAY_TRACE_HEX),
        "{spans:#?}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vanished_runtime_api_stops_the_process_with_a_clear_message() -> TestResult {
    let receiver = Receiver::start().await?;
    let (mut api, mut app) = start(&receiver, &[]).await?;
    api.push(invocation("a", "function-url.json", None));
    assert_eq!(http_response(api.next_outcome().await).0, 200);
    api.stop();
    let status = app.wait_exit(Duration::from_secs(15));
    let output = app.output();
    assert_eq!(status.and_then(|s| s.code()), Some(1), "{output:#?}");
    assert!(
        output
            .iter()
            .any(|l| l.contains("axum-xray-otel: lambda runtime failed")),
        "{output:#?}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_setting_is_reported_as_an_init_error_and_exits_non_zero() -> TestResult {
    let receiver = Receiver::start().await?;
    let (mut api, mut app) = start(&receiver, &[("REQUEST_TIMEOUT_SECS", "soon")]).await?;
    let Some(Outcome::InitError { error_type, body }) = api.next_outcome().await else {
        panic!("no init error: {:#?}", app.output());
    };
    let message =
        "invalid configuration: REQUEST_TIMEOUT_SECS: 'soon' is not an integer from 1 to 3600";
    assert_eq!(error_type, "Runtime.ConfigError");
    assert_eq!(
        body,
        serde_json::json!({
            "errorMessage": message,
            "errorType": "Runtime.ConfigError",
            "stackTrace": [],
        })
    );
    let status = tokio::task::block_in_place(|| app.wait_exit(Duration::from_secs(10)));
    let output = app.output();
    assert_eq!(status.and_then(|s| s.code()), Some(2), "{output:#?}");
    assert_eq!(output, vec![format!("stderr: axum-xray-otel: {message}")]);
    // It never asked for an event.
    assert!(api.next_times().is_empty());
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_flush_never_runs_past_the_invocation_deadline() -> TestResult {
    const NEAR: Duration = Duration::from_millis(400);
    let receiver = Receiver::start().await?;
    receiver.set_mode(Mode::Hang);
    // A flush bound far past the deadline: only the deadline can stop it.
    let (mut api, _app) = start(&receiver, &[("LAMBDA_FLUSH_TIMEOUT_MS", "5000")]).await?;
    api.set_deadline_in(NEAR);
    api.push(invocation(
        "near",
        "function-url.json",
        trace_header(XRAY_ROOT, 1),
    ));
    assert_eq!(http_response(api.next_outcome().await).0, 200);
    // The runtime asks for the next event once the flush has given up.
    assert!(api.wait_for_nexts(2).await, "no second /next");
    let deadline = api.deadlines()[0];
    let next = api.next_times()[1];
    eprintln!(
        "near deadline: next event asked for {} ms before the deadline",
        deadline as i128 - next as i128
    );
    assert!(next < deadline, "/next at {next}, deadline {deadline}");
    Ok(())
}
