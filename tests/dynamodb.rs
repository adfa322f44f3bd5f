//! Users in a real DynamoDB implementation (DynamoDB Local, AWS's own engine,
//! on 127.0.0.1) through the real binary: reads, creates, 404/409, the 503s
//! (missing table, access denied, throttling, unreachable, hanging) within
//! the timeout, the CLIENT span of each AWS call, and the `X-Amzn-Trace-Id`
//! each AWS request carries, seen by a recording proxy in front of the
//! database. The Lambda target too.

mod support;

use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::{
    common::v1::any_value::Value as Proto, metrics::v1::metric::Data,
};
use serde_json::{Value, json};
use support::{
    TestResult, XRAY_PARENT, XRAY_ROOT,
    aws_proxy::{AwsProxy, Mode, assert_lambda_call_traced},
    client,
    dynamodb::{DynamoDbLocal, REGION, TABLE, aws_env, seed},
    lambda_api::{Invocation, Outcome, RuntimeApi, event},
    otlp::{ClosedPort, Receiver, typed},
    process::{App, command},
    xray::{document_of, fresh_root, translate},
};

/// The app's environment: DynamoDB at `endpoint`, spans to `receiver` (or none).
fn env(endpoint: &str, receiver: Option<&Receiver>) -> Vec<(&'static str, String)> {
    let mut env = aws_env(endpoint);
    // A JVM warming up is slow; the timeout itself has its own test.
    env.push(("DYNAMODB_TIMEOUT_MS", "10000".to_owned()));
    match receiver {
        Some(r) => env.extend([
            ("OTEL_EXPORTER_OTLP_ENDPOINT", r.http_endpoint()),
            ("OTEL_BSP_SCHEDULE_DELAY", "20".to_owned()),
        ]),
        None => env.push(("OTEL_TRACES_EXPORTER", "none".to_owned())),
    }
    env
}

fn with(
    mut env: Vec<(&'static str, String)>,
    extra: &[(&'static str, &str)],
) -> Vec<(&'static str, String)> {
    env.extend(extra.iter().map(|(k, v)| (*k, (*v).to_owned())));
    env
}

/// Status, `Retry-After` and JSON body of one request.
async fn call(
    app: &App,
    method: &str,
    path: &str,
    body: Option<Value>,
    trace: Option<&str>,
) -> TestResult<(u16, Option<String>, Value)> {
    let mut request = client().request(method.parse()?, app.url(path));
    if let Some(body) = body {
        request = request
            .header("content-type", "application/json")
            .body(body.to_string());
    }
    if let Some(trace) = trace {
        request = request.header("x-amzn-trace-id", trace);
    }
    let response = request.send().await?;
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = serde_json::from_slice(&response.bytes().await?)?;
    Ok((status, retry_after, body))
}

fn unavailable() -> Value {
    json!({"error": "service_unavailable", "message": "Service Unavailable"})
}

/// Counts log lines whose message starts with `prefix`, after the app exited.
fn count_logs(app: &mut App, prefix: &str) -> usize {
    app.output()
        .iter()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|v| v["message"].as_str().is_some_and(|m| m.starts_with(prefix)))
        .count()
}

/// SIGTERM, exit 0, and every output line read (the last one is the drain's).
fn stop(app: &mut App) {
    app.terminate(Duration::from_secs(25));
    let _ = app.wait_for_log(|v| v["message"] == "all connections closed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_are_read_and_created_in_dynamodb_local() -> TestResult {
    let db = DynamoDbLocal::start()?;
    let said = seed(&db.endpoint(), 5)?;
    assert!(
        said.contains("seeded users 1 to 5 into table users"),
        "{said}"
    );
    // Idempotent: the same users again, the existing table kept.
    seed(&db.endpoint(), 5)?;
    let app = App::start_http(&env(&db.endpoint(), None))?;

    let (status, _, body) = call(&app, "GET", "/api/users/3", None, None).await?;
    assert_eq!(status, 200);
    assert_eq!(
        body,
        json!({"id": 3, "name": "User 3", "email": "user3@example.com"})
    );
    let (status, _, body) = call(&app, "GET", "/api/users/6", None, None).await?;
    assert_eq!((status, body["error"].as_str()), (404, Some("not_found")));

    let ada = json!({"name": "Ada", "email": "ada@example.com"});
    let (status, _, body) = call(&app, "PUT", "/api/users/600", Some(ada.clone()), None).await?;
    assert_eq!(status, 201);
    assert_eq!(
        body,
        json!({"id": 600, "name": "Ada", "email": "ada@example.com"})
    );
    let (status, _, stored) = call(&app, "GET", "/api/users/600", None, None).await?;
    assert_eq!((status, stored), (200, body));
    for id in ["600", "3"] {
        let (status, _, body) = call(
            &app,
            "PUT",
            &format!("/api/users/{id}"),
            Some(ada.clone()),
            None,
        )
        .await?;
        assert_eq!(status, 409, "{id}");
        assert_eq!(
            body,
            json!({"error": "conflict", "message": format!("user {id} already exists")})
        );
    }
    let (status, _, body) = call(
        &app,
        "PUT",
        "/api/users/601",
        Some(json!({"name": "Ada"})),
        None,
    )
    .await?;
    assert_eq!(
        (status, body["error"].as_str()),
        (422, Some("unprocessable_entity"))
    );
    let (status, _, _) = call(&app, "GET", "/api/users/601", None, None).await?;
    assert_eq!(status, 404, "a refused body writes nothing");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_dynamodb_call_is_one_client_span_and_carries_its_trace_header() -> TestResult {
    let db = DynamoDbLocal::start()?;
    seed(&db.endpoint(), 5)?;
    let proxy = AwsProxy::start(Some(db.endpoint()), Mode::Forward).await?;
    let mut receiver = Receiver::start().await?;
    // The SDK's own spans are enabled for logs here: they must still not be exported.
    let env = with(
        env(&proxy.endpoint(), Some(&receiver)),
        &[(
            "RUST_LOG",
            "info,aws_smithy_runtime=debug,aws_sdk_dynamodb=debug",
        )],
    );
    let mut app = App::start_http(&env)?;
    // A fresh Root: X-Ray (and the translator below) refuse month-old traces.
    let root = fresh_root(14);
    // Only the version prefix goes: the epoch part may end in "1" too.
    let trace_hex = root.strip_prefix("1-").unwrap_or(&root).replace('-', "");
    let sampled = format!("Root={root};Parent={XRAY_PARENT};Sampled=1");
    let (status, _, _) = call(&app, "GET", "/api/users/3", None, Some(&sampled)).await?;
    assert_eq!(status, 200);
    let taken = json!({"name": "Ada", "email": "ada@example.com"});
    let (status, _, _) = call(&app, "PUT", "/api/users/3", Some(taken), Some(&sampled)).await?;
    assert_eq!(status, 409);
    let unsampled_root = "1-5759e988-00000000000000000000dead";
    let unsampled = format!("Root={unsampled_root};Parent={XRAY_PARENT};Sampled=0");
    let (status, _, _) = call(&app, "GET", "/api/users/4", None, Some(&unsampled)).await?;
    assert_eq!(status, 200);
    stop(&mut app);
    let spans = receiver.drain();

    // Every call's duration is a metric too (sampled or not), by operation;
    // the conditional put that failed carries its error's kind.
    let mut calls = std::collections::BTreeMap::<(String, String), u64>::new();
    for received in receiver.drain_metrics() {
        if received.metric.name != "rpc.client.call.duration" {
            continue;
        }
        assert_eq!(received.metric.unit, "s");
        let Some(Data::Histogram(histogram)) = &received.metric.data else {
            panic!("rpc.client.call.duration must be a histogram");
        };
        for point in &histogram.data_points {
            let attrs = typed(&point.attributes);
            let text = |k: &str| match attrs.get(k) {
                Some(Proto::StringValue(v)) => v.clone(),
                _ => String::new(),
            };
            assert_eq!(text("rpc.service"), "DynamoDB");
            *calls
                .entry((text("rpc.method"), text("error.type")))
                .or_default() += point.count;
        }
    }
    assert_eq!(
        calls,
        [
            (("GetItem".to_owned(), String::new()), 2),
            (
                (
                    "PutItem".to_owned(),
                    "ConditionalCheckFailedException".to_owned()
                ),
                1
            ),
        ]
        .into(),
    );

    let names: Vec<&str> = spans.iter().map(|s| s.span.name.as_str()).collect();
    let mut sorted = names.clone();
    sorted.sort_unstable();
    assert_eq!(
        sorted,
        [
            "DynamoDB.GetItem",
            "DynamoDB.PutItem",
            "GET /api/users/{id}",
            "PUT /api/users/{id}"
        ],
        "one CLIENT span per call and none of the SDK's own: {names:?}"
    );
    let server = |name: &str| spans.iter().find(|s| s.span.name == name).unwrap();
    let get = server("DynamoDB.GetItem");
    let put = server("DynamoDB.PutItem");
    for (client_span, server_span) in [
        (get, server("GET /api/users/{id}")),
        (put, server("PUT /api/users/{id}")),
    ] {
        assert!(client_span.is_client(), "{client_span:?}");
        assert_eq!(client_span.trace_id(), trace_hex);
        assert_eq!(client_span.parent_id(), server_span.span_id());
        assert_eq!(client_span.attr("rpc.system").as_deref(), Some("aws-api"));
        assert_eq!(client_span.attr("rpc.service").as_deref(), Some("DynamoDB"));
        assert_eq!(client_span.attr("cloud.region").as_deref(), Some(REGION));
        // The collector's awsxray translator reads the region from aws.region.
        assert_eq!(client_span.attr("aws.region").as_deref(), Some(REGION));
        let tables = client_span.value("aws.dynamodb.table_names");
        let Some(Proto::ArrayValue(tables)) = tables else {
            panic!("table names must be an array: {tables:?}");
        };
        let tables: Vec<_> = tables
            .values
            .iter()
            .filter_map(|v| v.value.clone())
            .collect();
        assert_eq!(tables, [Proto::StringValue(TABLE.to_owned())]);
        assert!(
            client_span.attr("db.name").is_none(),
            "db.name would win the X-Ray name"
        );
    }
    assert_eq!(get.attr("rpc.method").as_deref(), Some("GetItem"));
    assert_eq!(get.int("http.response.status_code"), Some(200));
    assert_eq!(get.attr("error.type"), None);
    assert_ne!(get.span.status.as_ref().map(|s| s.code), Some(2));
    assert_eq!(put.attr("rpc.method").as_deref(), Some("PutItem"));
    assert_eq!(put.int("http.response.status_code"), Some(400));
    assert_eq!(
        put.attr("error.type").as_deref(),
        Some("ConditionalCheckFailedException")
    );
    assert_eq!(
        put.span.status.as_ref().map(|s| s.code),
        Some(2),
        "error status"
    );

    let records = proxy.records();
    assert_eq!(records.len(), 3, "{records:#?}");
    assert_eq!(records[0].target, "DynamoDB_20120810.GetItem");
    assert_eq!(records[1].target, "DynamoDB_20120810.PutItem");
    // DynamoDB's own request id is the span's.
    assert_eq!(get.attr("aws.request_id"), records[0].request_id);
    assert_eq!(put.attr("aws.request_id"), records[1].request_id);
    assert!(records[0].request_id.is_some());
    for (record, span) in [(&records[0], get), (&records[1], put)] {
        assert_eq!(
            record.trace_header.as_deref(),
            Some(format!("Root={root};Parent={};Sampled=1", span.span_id()).as_str()),
            "Parent must be the CLIENT span"
        );
    }
    // What the X-Ray console shows: a DynamoDB node, with the call's facts.
    let docs = translate(&spans);
    for (span, operation, record) in [(get, "GetItem", &records[0]), (put, "PutItem", &records[1])]
    {
        let doc = document_of(&docs, span);
        assert_eq!(doc.str("/type"), Some("subsegment"), "{doc:#?}");
        assert_eq!(doc.str("/namespace"), Some("aws"), "{doc:#?}");
        assert_eq!(doc.str("/name"), Some("DynamoDB"), "{doc:#?}");
        assert_eq!(doc.str("/aws/operation"), Some(operation), "{doc:#?}");
        assert_eq!(doc.str("/aws/table_name"), Some(TABLE), "{doc:#?}");
        assert_eq!(doc.str("/aws/region"), Some(REGION), "{doc:#?}");
        assert_eq!(
            doc.str("/aws/request_id"),
            record.request_id.as_deref(),
            "{doc:#?}"
        );
    }
    assert_eq!(
        document_of(&docs, get).collector_flags,
        (false, false, false)
    );
    // A taken id is the caller's error (4xx), not a fault of ours.
    assert_eq!(
        document_of(&docs, put).collector_flags,
        (true, false, false)
    );
    // Not sampled: no spans, but the decision still travels with the trace.
    let header = records[2].trace_header.as_deref().unwrap_or_default();
    assert!(
        header.starts_with(&format!("Root={unsampled_root};Parent=")),
        "{header}"
    );
    assert!(header.ends_with(";Sampled=0"), "{header}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_table_is_503_and_logged_once_with_the_fix() -> TestResult {
    let db = DynamoDbLocal::start()?;
    let mut app = App::start_http(&env(&db.endpoint(), None))?;
    for path in ["/api/users/1", "/api/users/2"] {
        let (status, retry_after, body) = call(&app, "GET", path, None, None).await?;
        assert_eq!(
            (status, retry_after, body),
            (503, None, unavailable()),
            "{path}"
        );
    }
    let ada = json!({"name": "Ada", "email": "ada@example.com"});
    assert_eq!(
        call(&app, "PUT", "/api/users/9", Some(ada), None).await?.0,
        503
    );
    assert_eq!(call(&app, "GET", "/health", None, None).await?.0, 200);
    stop(&mut app);
    let fix = "users table unusable: the table does not exist";
    assert_eq!(count_logs(&mut app, fix), 1, "{:#?}", app.output());
    let line = app
        .output()
        .into_iter()
        .find(|l| l.contains(fix))
        .unwrap_or_default();
    assert!(line.contains("seed-users --create-table"), "{line}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttling_is_503_with_retry_after_and_access_denied_is_logged_once() -> TestResult {
    // DynamoDB answers both as the proxy does; no database behind it.
    let proxy = AwsProxy::start(None, Mode::Fail("ProvisionedThroughputExceededException")).await?;
    let mut receiver = Receiver::start().await?;
    let env = with(
        env(&proxy.endpoint(), Some(&receiver)),
        &[("AWS_MAX_ATTEMPTS", "2")],
    );
    let mut app = App::start_http(&env)?;
    let (status, retry_after, body) = call(&app, "GET", "/api/users/1", None, None).await?;
    assert_eq!(
        (status, retry_after.as_deref(), body),
        (503, Some("1"), unavailable())
    );
    assert_eq!(proxy.records().len(), 2, "AWS_MAX_ATTEMPTS=2 is honoured");

    proxy.set_mode(Mode::Fail("AccessDeniedException"));
    for _ in 0..2 {
        let (status, retry_after, body) = call(&app, "GET", "/api/users/1", None, None).await?;
        assert_eq!((status, retry_after, body), (503, None, unavailable()));
    }
    stop(&mut app);
    assert_eq!(
        count_logs(&mut app, "users table unusable: access denied"),
        1,
        "{:#?}",
        app.output()
    );
    let spans = receiver.drain();
    let errors: Vec<Option<String>> = spans
        .iter()
        .filter(|s| s.span.name == "DynamoDB.GetItem")
        .map(|s| s.attr("error.type"))
        .collect();
    assert_eq!(
        errors,
        [
            Some("ProvisionedThroughputExceededException".to_owned()),
            Some("AccessDeniedException".to_owned()),
            Some("AccessDeniedException".to_owned()),
        ]
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_or_hanging_dynamodb_is_503_within_the_timeout() -> TestResult {
    let closed = ClosedPort::new()?;
    let hanging = AwsProxy::start(None, Mode::Hang).await?;
    // Well below the request timeout: a 408 would mean the bound did not hold.
    let limits = [
        ("DYNAMODB_TIMEOUT_MS", "500"),
        ("REQUEST_TIMEOUT_SECS", "10"),
    ];
    for endpoint in [closed.endpoint(), hanging.endpoint()] {
        let app = App::start_http(&with(env(&endpoint, None), &limits))?;
        let started = Instant::now();
        let (status, retry_after, body) = call(&app, "GET", "/api/users/1", None, None).await?;
        let took = started.elapsed();
        assert_eq!(
            (status, retry_after, body),
            (503, None, unavailable()),
            "{endpoint}"
        );
        assert!(took < Duration::from_secs(5), "{endpoint}: took {took:?}");
        let calls = hanging.records().len();
        assert_eq!(call(&app, "GET", "/health", None, None).await?.0, 200);
        assert_eq!(
            hanging.records().len(),
            calls,
            "/health must not call DynamoDB"
        );
    }
    assert!(
        !hanging.records().is_empty(),
        "the hanging proxy was called"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lambda_invocations_read_dynamodb_under_the_function_segment() -> TestResult {
    let db = DynamoDbLocal::start()?;
    seed(&db.endpoint(), 10)?;
    let proxy = AwsProxy::start(Some(db.endpoint()), Mode::Forward).await?;
    let mut receiver = Receiver::start().await?;
    let mut api = RuntimeApi::start(receiver.counter()).await?;
    let mut env = api.lambda_env();
    env.extend(aws_env(&proxy.endpoint()));
    env.extend([
        ("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.http_endpoint()),
        ("OTEL_BSP_SCHEDULE_DELAY", "60000".to_owned()),
    ]);
    let _app = App::spawn(command(&env))?;
    api.push(Invocation {
        request_id: "req-1".to_owned(),
        trace_header: Some(format!("Root={XRAY_ROOT};Parent={XRAY_PARENT};Sampled=1")),
        body: event("function-url.json"),
    });
    let Some(Outcome::Response { body, .. }) = api.next_outcome().await else {
        panic!("no response");
    };
    assert_eq!(body["statusCode"], 200);
    let user: Value = serde_json::from_str(body["body"].as_str().unwrap_or_default())?;
    assert_eq!(
        user,
        json!({"id": 7, "name": "User 7", "email": "user7@example.com"})
    );

    assert_lambda_call_traced(&mut receiver, &proxy, "DynamoDB.GetItem").await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_are_resolved_on_the_first_call_not_at_start_up() -> TestResult {
    let proxy = AwsProxy::start(None, Mode::Fail("ResourceNotFoundException")).await?;
    // No credentials anywhere (no keys, no profile, no ECS, no instance metadata).
    let env: Vec<_> = env(&proxy.endpoint(), None)
        .into_iter()
        .filter(|(k, _)| !k.starts_with("AWS_ACCESS_KEY") && !k.starts_with("AWS_SECRET"))
        .collect();
    let mut app = App::start_http(&env)?;
    assert_eq!(call(&app, "GET", "/health", None, None).await?.0, 200);
    for _ in 0..2 {
        let (status, _, body) = call(&app, "GET", "/api/users/1", None, None).await?;
        assert_eq!((status, body), (503, unavailable()));
    }
    assert!(proxy.records().is_empty(), "an unsigned request went out");
    stop(&mut app);
    assert_eq!(
        count_logs(
            &mut app,
            "users table unusable: the request could not be built"
        ),
        1,
        "{:#?}",
        app.output()
    );
    Ok(())
}
