//! `/api/database` against real databases (the embedded SQLite and a real
//! PostgreSQL server), on both targets: each query is a CLIENT span inside
//! the handler's own `#[instrument]` span, X-Ray gets its `sql` block, log
//! lines inside the handler span carry its id, the query is measured, and a
//! database that is down or silent answers 503 in time while `/health`
//! stays up.

mod support;

use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use serde_json::{Value, json};
use support::{
    TestResult, client,
    lambda_api::{Invocation, Outcome, RuntimeApi, event},
    otlp::{Received, Receiver},
    postgres::Postgres,
    process::{App, command},
    xray::{document_of, translate},
};

const QUERY: &str = "SELECT id, name FROM users ORDER BY id LIMIT $1";
const ROWS: [(i64, &str); 2] = [(1, "Alice"), (2, "Bob")];

fn env(receiver: &Receiver, extra: &[(&'static str, String)]) -> Vec<(&'static str, String)> {
    let mut env = vec![
        ("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.http_endpoint()),
        ("OTEL_BSP_SCHEDULE_DELAY", "20".to_owned()),
    ];
    env.extend(extra.iter().cloned());
    env
}

async fn get(app: &App, path: &str) -> TestResult<(u16, Value)> {
    let response = client().get(app.url(path)).send().await?;
    let status = response.status().as_u16();
    Ok((status, serde_json::from_slice(&response.bytes().await?)?))
}

fn assert_rows(body: &Value) {
    let expected: Vec<Value> = ROWS
        .iter()
        .map(|(id, name)| json!({"id": id, "name": name}))
        .collect();
    assert_eq!(body["results"], Value::from(expected), "{body}");
    assert_eq!(body["query"], QUERY);
}

/// The request's SERVER span, the handler's span under it and the query's
/// CLIENT span under that.
fn chain(spans: &[Received]) -> (&Received, &Received, &Received) {
    let server = spans
        .iter()
        .find(|s| s.is_server() && s.span.name == "GET /api/database")
        .unwrap_or_else(|| panic!("no request span: {spans:#?}"));
    let handler = spans
        .iter()
        .find(|s| s.span.name == "list_users")
        .unwrap_or_else(|| panic!("no handler span: {spans:#?}"));
    let query = spans
        .iter()
        .find(|s| s.is_client() && s.span.name == "SELECT users")
        .unwrap_or_else(|| panic!("no query span: {spans:#?}"));
    assert_eq!(
        handler.parent_id(),
        server.span_id(),
        "handler under request"
    );
    assert_eq!(query.parent_id(), handler.span_id(), "query under handler");
    assert_eq!(handler.trace_id(), server.trace_id());
    assert_eq!(query.trace_id(), server.trace_id());
    assert_eq!(handler.int("limit"), Some(10));
    (server, handler, query)
}

/// The semconv and legacy keys every query span has, the text with its
/// placeholder and never a value.
fn assert_query_span(query: &Received, system: &str, namespace: &str) {
    assert_eq!(query.attr("db.system.name").as_deref(), Some(system));
    assert_eq!(query.attr("db.system").as_deref(), Some(system));
    assert_eq!(query.attr("db.namespace").as_deref(), Some(namespace));
    assert_eq!(query.attr("db.name").as_deref(), Some(namespace));
    assert_eq!(query.attr("db.operation.name").as_deref(), Some("SELECT"));
    assert_eq!(query.attr("db.collection.name").as_deref(), Some("users"));
    assert_eq!(query.attr("db.query.text").as_deref(), Some(QUERY));
    assert_eq!(query.attr("db.statement").as_deref(), Some(QUERY));
    assert_eq!(query.span.status.as_ref().map_or(0, |s| s.code), 0);
}

/// The `db.client.operation.duration` points the receiver got, as their
/// attributes (key=value, sorted) with their counts.
fn db_points(receiver: &mut Receiver) -> Vec<(Vec<String>, u64)> {
    let mut points = Vec::new();
    for received in receiver.drain_metrics() {
        if received.metric.name != "db.client.operation.duration" {
            continue;
        }
        assert_eq!(received.metric.unit, "s");
        let Some(Data::Histogram(h)) = &received.metric.data else {
            panic!("a histogram: {received:?}");
        };
        for point in &h.data_points {
            let mut attributes: Vec<String> = point
                .attributes
                .iter()
                .map(|kv| {
                    format!(
                        "{}={:?}",
                        kv.key,
                        kv.value.as_ref().and_then(|v| v.value.as_ref())
                    )
                })
                .collect();
            attributes.sort();
            points.push((attributes, point.count));
        }
    }
    points
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_queries_are_spans_under_the_handler_span_with_the_sql_block() -> TestResult {
    let mut receiver = Receiver::start().await?;
    let mut app = App::start_http(&env(&receiver, &[]))?;
    let (status, body) = get(&app, "/api/database").await?;
    assert_eq!(status, 200, "{body}");
    assert_rows(&body);
    let line = app
        .wait_for_log(|v| v["message"] == "users listed")
        .expect("the handler's log line");
    app.terminate(Duration::from_secs(25));
    let spans = receiver.drain();
    let (server, handler, query) = chain(&spans);

    // The log line inside the handler's span carries that span's ids.
    assert_eq!(line["span_id"], handler.span_id(), "{line}");
    let trace = server.trace_id();
    assert_eq!(
        line["trace_id"],
        format!("1-{}-{}", &trace[..8], &trace[8..]),
        "{line}"
    );
    assert_eq!(line["count"], 2);

    assert_query_span(query, "sqlite", "axum-xray-otel");
    assert_eq!(query.attr("server.address"), None);

    let docs = translate(&spans);
    let handler_doc = document_of(&docs, handler);
    assert_eq!(handler_doc.str("/type"), Some("subsegment"));
    assert_eq!(
        handler_doc.str("/parent_id"),
        Some(server.span_id().as_str())
    );
    let doc = document_of(&docs, query);
    assert_eq!(doc.str("/parent_id"), Some(handler.span_id().as_str()));
    assert_eq!(doc.str("/sql/database_type"), Some("sqlite"));
    assert_eq!(doc.str("/sql/sanitized_query"), Some(QUERY));
    assert_eq!(
        doc.collector_sql,
        Some(json!({
            "url": "SELECT users",
            "connection_string": "localhost/axum-xray-otel",
            "database_type": "sqlite",
            "user": "",
            "sanitized_query": QUERY,
        }))
    );

    let points = db_points(&mut receiver);
    assert_eq!(
        points,
        vec![(
            vec![
                "db.collection.name=Some(StringValue(\"users\"))".to_owned(),
                "db.namespace=Some(StringValue(\"axum-xray-otel\"))".to_owned(),
                "db.operation.name=Some(StringValue(\"SELECT\"))".to_owned(),
                "db.system.name=Some(StringValue(\"sqlite\"))".to_owned(),
            ],
            1
        )],
        "{points:#?}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_queries_name_the_server_and_never_the_password() -> TestResult {
    let postgres = Postgres::start()?;
    let mut receiver = Receiver::start().await?;
    let mut app = App::start_http(&env(&receiver, &[("DATABASE_URL", postgres.url())]))?;
    // Twice: the migrations ran once, at start-up.
    for _ in 0..2 {
        let (status, body) = get(&app, "/api/database").await?;
        assert_eq!(status, 200, "{body}");
        assert_rows(&body);
    }
    app.terminate(Duration::from_secs(25));
    let output = app.output().join("\n");
    assert!(!output.contains("pg-secret-pw"), "{output}");
    let spans = receiver.drain();
    let (_, _, query) = chain(&spans);
    assert_query_span(query, "postgresql", "app");
    assert_eq!(query.attr("server.address").as_deref(), Some("127.0.0.1"));
    assert_eq!(query.int("server.port"), Some(i64::from(postgres.port)));
    assert_eq!(query.attr("db.user").as_deref(), Some("app"));
    for span in &spans {
        assert!(!format!("{span:?}").contains("pg-secret-pw"), "{span:#?}");
    }

    let docs = translate(&spans);
    let doc = document_of(&docs, query);
    assert_eq!(doc.str("/sql/database_type"), Some("postgresql"));
    assert_eq!(doc.str("/sql/sanitized_query"), Some(QUERY));
    assert_eq!(
        doc.collector_sql,
        Some(json!({
            "url": "SELECT users",
            "connection_string": format!("postgresql://127.0.0.1:{}/app", postgres.port),
            "database_type": "postgresql",
            "user": "app",
            "sanitized_query": QUERY,
        }))
    );
    Ok(())
}

/// The query's answer and how long it took, then `/health`.
async fn unavailable(app: &App) -> TestResult<Duration> {
    let started = Instant::now();
    let (status, body) = get(app, "/api/database").await?;
    let took = started.elapsed();
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"], "service_unavailable");
    let (status, _) = get(app, "/health").await?;
    assert_eq!(status, 200);
    Ok(took)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_down_or_silent_answers_503_within_the_timeout() -> TestResult {
    const TIMEOUT_MS: u64 = 400;
    // Accepts connections and never answers: a database that hangs.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let silent_port = silent.local_addr()?.port();
    let held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            open.push(socket);
        }
    });
    // Nothing listens there: a database that is down.
    let down_port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();

    for (port, error_type) in [(down_port, None), (silent_port, Some("timeout"))] {
        let mut receiver = Receiver::start().await?;
        let url = format!("postgres://app:pw@127.0.0.1:{port}/app");
        let mut app = App::start_http(&env(
            &receiver,
            &[
                ("DATABASE_URL", url),
                ("DATABASE_TIMEOUT_MS", TIMEOUT_MS.to_string()),
            ],
        ))?;
        let took = unavailable(&app).await?;
        assert!(
            took < Duration::from_millis(TIMEOUT_MS + 1500),
            "{port}: {took:?}"
        );
        if error_type.is_some() {
            assert!(took >= Duration::from_millis(TIMEOUT_MS), "{took:?}");
        }
        app.terminate(Duration::from_secs(25));
        let spans = receiver.drain();
        let query = spans
            .iter()
            .find(|s| s.is_client() && s.span.name == "SELECT users")
            .unwrap_or_else(|| panic!("no query span: {spans:#?}"));
        assert_eq!(query.span.status.as_ref().map(|s| s.code), Some(2), "error");
        let got = query.attr("error.type").expect("error.type");
        if let Some(expected) = error_type {
            assert_eq!(got, expected);
        }
    }
    held.abort();
    Ok(())
}

const SECRET_ARN: &str = "arn:aws:secretsmanager:us-east-1:123456789012:secret:db-AbCdEf";

/// A Secrets Manager endpoint that answers `GetSecretValue` for
/// [`SECRET_ARN`] with `url`; any other request gets a 400.
async fn secrets_manager(url: String) -> TestResult<String> {
    use axum::{http::HeaderMap, routing::post};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let endpoint = format!("http://{}", listener.local_addr()?);
    let app = axum::Router::new().route(
        "/",
        post(move |headers: HeaderMap, body: String| async move {
            let target = headers.get("x-amz-target").and_then(|v| v.to_str().ok());
            let request: Value = serde_json::from_str(&body).unwrap_or_default();
            let signed = headers.contains_key("authorization");
            if target == Some("secretsmanager.GetSecretValue")
                && request["SecretId"] == SECRET_ARN
                && signed
            {
                let answer = json!({"ARN": SECRET_ARN, "Name": "db", "SecretString": url, "VersionId": "v1"});
                (axum::http::StatusCode::OK, [("content-type", "application/x-amz-json-1.1")], answer.to_string())
            } else {
                let answer = json!({"__type": "ResourceNotFoundException", "message": "no such secret"});
                (axum::http::StatusCode::BAD_REQUEST, [("content-type", "application/x-amz-json-1.1")], answer.to_string())
            }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(endpoint)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_lambda_the_database_url_comes_from_its_secret() -> TestResult {
    let postgres = Postgres::start()?;
    let endpoint = secrets_manager(postgres.url()).await?;
    let mut receiver = Receiver::start().await?;
    let mut api = RuntimeApi::start(receiver.counter()).await?;
    let mut env = api.lambda_env();
    env.extend([
        ("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.http_endpoint()),
        ("OTEL_BSP_SCHEDULE_DELAY", "60000".to_owned()),
        ("DATABASE_URL_SECRET_ARN", SECRET_ARN.to_owned()),
        ("AWS_ENDPOINT_URL_SECRETS_MANAGER", endpoint),
        ("AWS_REGION", "us-east-1".to_owned()),
        ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE".to_owned()),
        ("AWS_SECRET_ACCESS_KEY", "secret".to_owned()),
    ]);
    let mut app = App::spawn(command(&env))?;
    api.push(Invocation {
        request_id: "req-secret".to_owned(),
        trace_header: None,
        body: event("apigw-http.json"),
    });
    let body = match api.next_outcome().await {
        Some(Outcome::Response { body, .. }) => body,
        other => panic!("expected a response, got {other:?}"),
    };
    assert_eq!(body["statusCode"], 200, "{body}");
    app.terminate(Duration::from_secs(25));
    api.stop();
    let output = app.output().join("\n");
    assert!(!output.contains("pg-secret-pw"), "{output}");
    let spans = receiver.drain();
    let (_, _, query) = chain(&spans);
    assert_query_span(query, "postgresql", "app");
    assert_eq!(query.int("server.port"), Some(i64::from(postgres.port)));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_lambda_the_handler_span_and_its_query_nest_under_the_request() -> TestResult {
    let mut receiver = Receiver::start().await?;
    let mut api = RuntimeApi::start(receiver.counter()).await?;
    let mut env = api.lambda_env();
    env.extend([
        ("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.http_endpoint()),
        ("OTEL_BSP_SCHEDULE_DELAY", "60000".to_owned()),
    ]);
    let mut app = App::spawn(command(&env))?;
    api.push(Invocation {
        request_id: "req-db".to_owned(),
        trace_header: Some(format!(
            "Root={};Parent={};Sampled=1",
            support::XRAY_ROOT,
            support::XRAY_PARENT
        )),
        body: event("apigw-http.json"),
    });
    let body = match api.next_outcome().await {
        Some(Outcome::Response { body, .. }) => body,
        other => panic!("expected a response, got {other:?}"),
    };
    assert_eq!(body["statusCode"], 200, "{body}");
    let inner: Value = serde_json::from_str(body["body"].as_str().unwrap_or_default())?;
    assert_rows(&inner);
    let line = app
        .wait_for_log(|v| v["message"] == "users listed")
        .expect("the handler's log line");
    app.terminate(Duration::from_secs(25));
    api.stop();
    let spans = receiver.drain();
    let (server, handler, query) = chain(&spans);
    assert_eq!(server.parent_id(), support::XRAY_PARENT);
    assert_eq!(line["span_id"], handler.span_id(), "{line}");
    assert_eq!(line["request_id"], "req-db", "{line}");
    assert_query_span(query, "sqlite", "axum-xray-otel");
    Ok(())
}
