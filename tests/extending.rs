//! docs/extending.md, proven: a route added through the crate's public API
//! only, whose handler makes an outgoing HTTP call through the shared
//! client, an SQS call through `aws::client` (against moto's server) and a
//! SQL query through the traced pool, each in one line, as the guide shows.
//! Its spans reach a real OTLP receiver and X-Ray's view of them is checked:
//! a `remote` subsegment with URL and status, an `aws` subsegment named SQS,
//! and the `sql` block.

mod support;

use std::{sync::Arc, time::Duration};

use aws_credential_types::Credentials;
use axum::{Extension, Json, Router, extract::State, routing::get};
use axum_xray_otel::{
    app::{self, AppError, AppState, Limits},
    aws,
    config::Config,
    db::Db,
    telemetry::{self, http::RequestTracing},
    users::MemoryUsers,
};
use serde_json::{Value, json};
use support::{
    TestResult, client,
    moto::Moto,
    otlp::Receiver,
    upstream::{Behaviour, Upstream},
    xray::{document_of, fresh_root, translate},
};

const REGION: &str = "us-east-1";

/// The queue the handler writes to (a team's own setting).
#[derive(Clone)]
struct ReportQueue(String);

/// The handler a team writes: three traced calls, no tracing code.
async fn report(
    State(state): State<AppState>,
    Extension(ReportQueue(queue)): Extension<ReportQueue>,
) -> Result<Json<Value>, AppError> {
    // An outgoing HTTP call: the shared client traces and measures it.
    let upstream = state
        .http_client
        .get(&state.external_url)
        .send()
        .await
        .map_err(|e| AppError::BadGateway(e.to_string()))?
        .status()
        .as_u16();
    // A SQL query through the traced pool.
    let users: Vec<(i64, String)> = state
        .db
        .query_as("SELECT id, name FROM users ORDER BY id LIMIT $1")
        .bind(2_i64)
        .fetch_all()
        .await?;
    // A call to another AWS service through the one builder.
    let sdk = state
        .aws
        .as_ref()
        .ok_or_else(|| AppError::Internal("no AWS configuration".into()))?;
    let sqs: aws_sdk_sqs::Client = aws::client(
        sdk,
        &aws::Settings {
            timeout: Duration::from_secs(10),
            metrics: state.metrics.clone(),
        },
    );
    sqs.send_message()
        .queue_url(queue)
        .message_body(json!({ "users": users.len() }).to_string())
        .send()
        .await
        .map_err(|e| AppError::Internal(e.to_string()))?;
    Ok(Json(json!({ "upstream": upstream, "users": users.len() })))
}

fn config(receiver: &Receiver, upstream: &Upstream) -> Config {
    let env: std::collections::HashMap<&str, String> = [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.http_endpoint()),
        ("OTEL_METRICS_EXPORTER", "none".to_owned()),
        ("EXTERNAL_URL", upstream.url()),
        ("AWS_REGION", REGION.to_owned()),
        ("USERS_LATENCY_MS", "0".to_owned()),
    ]
    .into_iter()
    .collect();
    Config::from_lookup(|k| env.get(k).cloned()).expect("valid config")
}

/// The process's AWS configuration, as `aws::sdk_config` makes it, with
/// moto's endpoint and static credentials (a test may not set the environment).
async fn sdk_config(endpoint: &str) -> aws_config::SdkConfig {
    use aws_smithy_http_client::{
        Builder,
        tls::{Provider, rustls_provider::CryptoMode},
    };
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(
            Builder::new()
                .tls_provider(Provider::rustls(CryptoMode::Ring))
                .build_https(),
        )
        .region(aws_config::Region::new(REGION))
        .endpoint_url(endpoint)
        .credentials_provider(Credentials::new("AKIDTEST", "secret", None, None, "test"))
        .load()
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_route_added_through_the_public_api_is_traced_end_to_end() -> TestResult {
    telemetry::install_crypto_provider();
    let mut receiver = Receiver::start().await?;
    let upstream = Upstream::start(Behaviour::Json).await?;
    let moto = Moto::start()?;
    let queue_url = moto.create_queue("extending").await?;
    let config = config(&receiver, &upstream);
    let sdk = sdk_config(&moto.endpoint()).await;
    let telemetry = Arc::new(telemetry::init(&config, Some(&sdk)).await?);

    let metrics = telemetry.metrics();
    let db = Db::from_config(&config, metrics.clone())?;
    db.migrate().await?;
    let state = AppState::with_users(
        &config,
        Arc::new(MemoryUsers::seeded(Duration::ZERO)),
        db,
        metrics.clone(),
        Some(&sdk),
    )?;
    let tracing = RequestTracing {
        propagation: state.propagation.clone(),
        tracer: telemetry.tracer(),
        trace_health_checks: false,
        metrics,
    };
    let limits = Limits {
        request_timeout: config.server.request_timeout,
        max_body_bytes: config.server.max_body_bytes,
        max_in_flight: config.server.max_in_flight_requests,
    };
    let routes = Router::new()
        .route("/api/report", get(report))
        .layer(Extension(ReportQueue(queue_url.clone())))
        .with_state(state);
    let router = app::with_middleware(routes, tracing, limits);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let server = tokio::spawn(async move { axum::serve(listener, router).await });

    let root = fresh_root(90);
    let response = client()
        .get(format!("http://{addr}/api/report"))
        .header("x-amzn-trace-id", format!("Root={root}"))
        .send()
        .await?;
    assert_eq!(response.status(), 200, "{:?}", response.text().await);
    assert!(
        telemetry.flush(Duration::from_secs(10)),
        "spans not flushed"
    );
    server.abort();
    assert_eq!(moto.receive(&queue_url).await?.len(), 1, "the message");

    let spans = receiver.drain();
    let trace = root.replace('-', "")[1..].to_owned();
    let server_span = spans
        .iter()
        .find(|s| s.is_server() && s.trace_id() == trace)
        .ok_or("the request's SERVER span")?;
    assert_eq!(server_span.span.name, "GET /api/report");
    let child = |name: &str| {
        spans
            .iter()
            .find(|s| s.span.name == name && s.trace_id() == trace)
            .ok_or_else(|| format!("no {name} span in {:#?}", names(&spans)))
    };
    let http = child("GET")?;
    let sql = child("SELECT users")?;
    let sqs = child("SQS.SendMessage")?;
    for span in [http, sql, sqs] {
        assert!(span.is_client(), "{} is not a CLIENT span", span.span.name);
        assert_eq!(span.parent_id(), server_span.span_id());
    }

    let docs = translate(&spans);
    let remote = document_of(&docs, http);
    assert_eq!(remote.str("/namespace"), Some("remote"), "{remote:#?}");
    assert_eq!(
        remote.str("/http/request/url"),
        Some(upstream.url().as_str())
    );
    assert_eq!(remote.get("/http/response/status"), Some(&json!(200)));
    let aws_doc = document_of(&docs, sqs);
    assert_eq!(aws_doc.str("/namespace"), Some("aws"), "{aws_doc:#?}");
    assert_eq!(aws_doc.str("/name"), Some("SQS"));
    assert_eq!(aws_doc.str("/aws/queue_url"), Some(queue_url.as_str()));
    let sql_doc = document_of(&docs, sql);
    assert_eq!(sql_doc.str("/sql/database_type"), Some("sqlite"));
    assert_eq!(
        sql_doc.str("/sql/sanitized_query"),
        Some("SELECT id, name FROM users ORDER BY id LIMIT $1")
    );
    Ok(())
}

fn names(spans: &[support::otlp::Received]) -> Vec<&str> {
    spans.iter().map(|s| s.span.name.as_str()).collect()
}
