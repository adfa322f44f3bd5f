//! The real binary on a real port (the HTTP target), exporting to a real OTLP
//! receiver: trace ids, parents, kinds, names, attributes, sampling, the ALB
//! case, malformed headers, logs and shutdown.

mod support;

use std::{
    collections::BTreeMap,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use serde_json::Value;
use support::{
    TestResult, XRAY_PARENT, XRAY_ROOT, XRAY_TRACE_HEX, client,
    otlp::{Received, Receiver},
    process::{App, command},
    upstream::{Behaviour, Upstream},
};

fn env(receiver: &Receiver, extra: &[(&'static str, &str)]) -> Vec<(&'static str, String)> {
    let mut env = vec![
        ("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.http_endpoint()),
        ("OTEL_BSP_SCHEDULE_DELAY", "20".to_owned()),
        ("USERS_LATENCY_MS", "0".to_owned()),
    ];
    env.extend(extra.iter().map(|(k, v)| (*k, (*v).to_owned())));
    env
}

async fn get(app: &App, path: &str, headers: &[(&str, &str)]) -> TestResult<(u16, Value)> {
    let mut request = client().get(app.url(path));
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    let response = request.send().await?;
    let status = response.status().as_u16();
    let body = response.bytes().await?;
    Ok((status, serde_json::from_slice(&body)?))
}

/// Stops the app with SIGTERM, checks it exits 0, and returns every span it exported.
async fn stop(mut app: App, receiver: &mut Receiver) -> Vec<Received> {
    app.terminate(Duration::from_secs(25));
    receiver.drain()
}

fn servers(spans: &[Received]) -> Vec<&Received> {
    spans.iter().filter(|s| s.is_server()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn propagates_incoming_xray_header() -> TestResult {
    let mut receiver = Receiver::start().await?;
    let app = App::start_http(&env(&receiver, &[]))?;
    let app_port = app.port;
    let header = format!("Root={XRAY_ROOT};Parent={XRAY_PARENT};Sampled=1");
    let (status, _) = get(
        &app,
        "/api/users/42",
        &[("x-amzn-trace-id", &header), ("user-agent", "probe/1.0")],
    )
    .await?;
    assert_eq!(status, 200);
    let spans = stop(app, &mut receiver).await;
    let server = servers(&spans);
    assert_eq!(server.len(), 1, "{spans:#?}");
    let server = server[0];
    assert_eq!(server.trace_id(), XRAY_TRACE_HEX);
    assert_eq!(server.parent_id(), XRAY_PARENT);
    assert_eq!(server.span.name, "GET /api/users/{id}");
    assert_eq!(server.attr("http.request.method").as_deref(), Some("GET"));
    assert_eq!(
        server.attr("http.route").as_deref(),
        Some("/api/users/{id}")
    );
    assert_eq!(server.attr("url.path").as_deref(), Some("/api/users/42"));
    assert_eq!(server.int("http.response.status_code"), Some(200));
    assert_eq!(server.attr("client.address").as_deref(), Some("127.0.0.1"));
    // No proxy in front: the listener's scheme and the Host header.
    assert_eq!(server.attr("url.scheme").as_deref(), Some("http"));
    assert_eq!(server.attr("server.address").as_deref(), Some("127.0.0.1"));
    assert_eq!(server.int("server.port"), Some(i64::from(app_port)));
    assert_eq!(
        server.attr("network.protocol.version").as_deref(),
        Some("1.1")
    );
    assert_eq!(server.attr("error.type"), None);
    assert_eq!(
        server.attr("user_agent.original").as_deref(),
        Some("probe/1.0")
    );
    assert_eq!(server.attr("aws.span.kind").as_deref(), Some("LOCAL_ROOT"));
    assert_eq!(
        server.attr("aws.local.operation").as_deref(),
        Some(server.span.name.as_str())
    );
    assert_eq!(
        server.attr("aws.local.environment").as_deref(),
        Some("generic:default")
    );
    assert_eq!(
        server.attr("aws.local.service"),
        server.resource_attr("service.name")
    );
    let lookup = spans
        .iter()
        .find(|s| s.span.name == "SELECT users")
        .expect("user lookup span");
    assert_eq!(lookup.trace_id(), XRAY_TRACE_HEX);
    assert_eq!(lookup.parent_id(), server.span_id());
    assert_eq!(
        lookup.attr("db.query.text").as_deref(),
        Some("SELECT id, name, email FROM users WHERE id = $1")
    );
    assert_eq!(lookup.attr("db.operation.name").as_deref(), Some("SELECT"));
    assert_eq!(lookup.attr("db.system.name").as_deref(), Some("other_sql"));
    assert_eq!(lookup.attr("db.system").as_deref(), Some("other_sql"));
    assert_eq!(lookup.attr("db.statement"), lookup.attr("db.query.text"));
    // The resource says who and where.
    assert_eq!(
        server.resource_attr("service.name").as_deref(),
        Some("axum-xray-otel")
    );
    assert_eq!(
        server.resource_attr("service.version").as_deref(),
        Some(env!("CARGO_PKG_VERSION"))
    );
    assert_eq!(
        server.resource_attr("cloud.provider").as_deref(),
        Some("aws")
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keeps_the_alb_root_as_trace_id_without_a_parent() -> TestResult {
    let mut receiver = Receiver::start().await?;
    let app = App::start_http(&env(&receiver, &[]))?;
    for header in [
        format!("Root={XRAY_ROOT}"),
        format!("Self=1-67891233-abcdef012345678912345678;Root={XRAY_ROOT}"),
    ] {
        assert_eq!(
            get(&app, "/api/database", &[("x-amzn-trace-id", &header)])
                .await?
                .0,
            200
        );
    }
    let spans = stop(app, &mut receiver).await;
    let server = servers(&spans);
    assert_eq!(server.len(), 2, "{spans:#?}");
    for span in server {
        assert_eq!(
            span.trace_id(),
            XRAY_TRACE_HEX,
            "the ALB's Root must be the trace id"
        );
        assert_eq!(
            span.parent_id(),
            "",
            "no parent: a fake one would show as a missing segment"
        );
        let child_of = |parent: &Received| {
            spans
                .iter()
                .find(|s| s.parent_id() == parent.span_id())
                .expect("a child span")
        };
        // The handler's span, then its query.
        let db = child_of(child_of(span));
        assert_eq!(db.trace_id(), XRAY_TRACE_HEX);
        assert_eq!(
            db.attr("db.query.text").as_deref(),
            Some("SELECT id, name FROM users ORDER BY id LIMIT $1")
        );
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_alb_root_is_sampled_by_our_sampler_and_sampled_1_by_the_header() -> TestResult {
    const SAMPLED_ROOT: &str = "1-6759e988-0123456789abcdef01234567";
    let mut receiver = Receiver::start().await?;
    let app = App::start_http(&env(
        &receiver,
        &[("OTEL_TRACES_SAMPLER", "parentbased_always_off")],
    ))?;
    let alb = format!("Root={XRAY_ROOT}");
    let decided = format!("Root={SAMPLED_ROOT};Sampled=1");
    for headers in [
        vec![("x-amzn-trace-id", alb.as_str())],
        vec![],
        vec![("x-amzn-trace-id", decided.as_str())],
    ] {
        assert_eq!(get(&app, "/api/database", &headers).await?.0, 200);
    }
    let spans = stop(app, &mut receiver).await;
    let server = servers(&spans);
    assert_eq!(
        server.len(),
        1,
        "only the request whose header says Sampled=1 is exported: {spans:#?}"
    );
    assert_eq!(server[0].trace_id(), "6759e9880123456789abcdef01234567");
    assert_eq!(server[0].parent_id(), "");
    assert_eq!(
        spans.len(),
        3,
        "the server span, the handler's and its query: {spans:#?}"
    );
    Ok(())
}

/// The totals of `names` in EMF lines, per `error.type` ("" when absent).
fn emf_totals(lines: &[String], names: &[&str]) -> BTreeMap<(String, String), f64> {
    let mut totals = BTreeMap::new();
    for object in support::emf::emf_objects(lines.iter().map(String::as_str)) {
        for name in names {
            if let Some(value) = object[*name].as_f64() {
                let error_type = object["error.type"].as_str().unwrap_or_default();
                *totals
                    .entry(((*name).to_owned(), error_type.to_owned()))
                    .or_default() += value;
            }
        }
    }
    totals
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_span_queue_drops_spans_counts_them_and_never_fails_requests() -> TestResult {
    let receiver = Receiver::start().await?;
    receiver.set_mode(support::otlp::Mode::Hang);
    let mut app = App::start_http(&env(
        &receiver,
        &[
            ("OTEL_BSP_MAX_QUEUE_SIZE", "8"),
            ("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "2"),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "500"),
            // The loss counters as EMF lines on stdout, written at shutdown.
            ("OTEL_METRICS_EXPORTER", "emf"),
            ("OTEL_METRIC_EXPORT_INTERVAL", "600000"),
        ],
    ))?;
    for _ in 0..30 {
        assert_eq!(get(&app, "/api/database", &[]).await?.0, 200);
    }
    let started = app.wait_for_log(|v| {
        v["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("span queue full"))
    });
    assert!(started.is_some(), "no drop warning: {:#?}", app.output());
    app.terminate(Duration::from_secs(25));
    let lost = app
        .wait_for_log(|v| v["message"] == "spans lost")
        .ok_or("no span tally at shutdown")?;
    let dropped = lost["spans_dropped_queue_full"]
        .as_u64()
        .ok_or("no count")?;
    // 90 spans made; at most the queue (8) plus the batches in flight were kept.
    assert!((60..=90).contains(&dropped), "{lost}");
    // The same losses as metrics, with the SDK's self-observability names.
    let totals = emf_totals(
        &app.output(),
        &[
            "otel.sdk.processor.span.processed",
            "otel.sdk.exporter.span.exported",
        ],
    );
    let total = |name: &str, error: &str| {
        totals
            .get(&(name.to_owned(), error.to_owned()))
            .copied()
            .unwrap_or_default()
    };
    assert_eq!(
        total("otel.sdk.processor.span.processed", "queue_full"),
        dropped as f64,
        "{totals:?}"
    );
    // Every span handed to the exporter failed (the collector hangs), each
    // with an `error.type`; none counted as exported.
    let handed = total("otel.sdk.processor.span.processed", "");
    let failed: f64 = totals
        .iter()
        .filter(|((name, error), _)| name == "otel.sdk.exporter.span.exported" && !error.is_empty())
        .map(|(_, n)| n)
        .sum();
    assert!(handed > 0.0, "{totals:?}");
    assert_eq!(failed, handed, "{totals:?}");
    assert_eq!(
        total("otel.sdk.exporter.span.exported", ""),
        0.0,
        "{totals:?}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn respects_sampled_0_and_passes_it_downstream() -> TestResult {
    let mut receiver = Receiver::start().await?;
    let mut upstream = Upstream::start(Behaviour::Json).await?;
    let app = App::start_http(&env(&receiver, &[("EXTERNAL_URL", &upstream.url())]))?;
    for header in [
        format!("Root={XRAY_ROOT};Parent={XRAY_PARENT};Sampled=0"),
        format!("Root={XRAY_ROOT};Sampled=0"),
    ] {
        assert_eq!(
            get(&app, "/api/external", &[("x-amzn-trace-id", &header)])
                .await?
                .0,
            200
        );
        let sent = upstream.requests.recv().await.expect("upstream called");
        let xray = sent["x-amzn-trace-id"].to_str()?;
        assert!(
            xray.starts_with(&format!("Root={XRAY_ROOT};Parent=")),
            "{xray}"
        );
        assert!(xray.ends_with(";Sampled=0"), "{xray}");
        assert!(sent["traceparent"].to_str()?.ends_with("-00"));
    }
    let spans = stop(app, &mut receiver).await;
    assert!(
        spans.is_empty(),
        "unsampled requests exported spans: {spans:#?}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outgoing_call_carries_the_client_span_as_parent() -> TestResult {
    let mut receiver = Receiver::start().await?;
    let mut upstream = Upstream::start(Behaviour::Json).await?;
    // Credentials and query values reach the upstream, never the span.
    let url = upstream.url().replace("http://", "http://bob:hunter2@") + "?token=s3cret&page=2";
    let app = App::start_http(&env(&receiver, &[("EXTERNAL_URL", &url)]))?;
    let header = format!("Root={XRAY_ROOT};Parent={XRAY_PARENT};Sampled=1");
    assert_eq!(
        get(&app, "/api/external", &[("x-amzn-trace-id", &header)])
            .await?
            .0,
        200
    );
    let sent = upstream.requests.recv().await.expect("upstream called");
    let spans = stop(app, &mut receiver).await;
    let client_span = spans.iter().find(|s| s.is_client()).expect("client span");
    let server = servers(&spans)[0];
    assert_eq!(client_span.parent_id(), server.span_id());
    assert_eq!(client_span.trace_id(), XRAY_TRACE_HEX);
    assert_eq!(
        sent["x-amzn-trace-id"].to_str()?,
        format!(
            "Root={XRAY_ROOT};Parent={};Sampled=1",
            client_span.span_id()
        )
    );
    assert_eq!(
        sent["traceparent"].to_str()?,
        format!("00-{XRAY_TRACE_HEX}-{}-01", client_span.span_id())
    );
    assert_eq!(client_span.int("http.response.status_code"), Some(200));
    assert_eq!(client_span.span.name, "GET");
    // reqwest moves the URL's credentials into an Authorization header.
    assert_eq!(
        client_span.attr("url.full"),
        Some(upstream.url() + "?token=REDACTED&page=REDACTED")
    );
    assert!(sent.contains_key("authorization"), "credentials were sent");
    assert_eq!(
        client_span.attr("server.address").as_deref(),
        Some("127.0.0.1")
    );
    assert_eq!(
        client_span.int("server.port"),
        Some(i64::from(upstream.addr.port()))
    );
    assert_eq!(client_span.attr("error.type"), None);
    assert_eq!(server.span.name, "GET /api/external");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn honours_traceparent_alone_and_makes_xray_ids_otherwise() -> TestResult {
    let mut receiver = Receiver::start().await?;
    let app = App::start_http(&env(&receiver, &[]))?;
    let w3c_trace = "0af7651916cd43dd8448eb211c80319c";
    let traceparent = format!("00-{w3c_trace}-b7ad6b7169203331-01");
    assert_eq!(
        get(&app, "/", &[("traceparent", &traceparent)]).await?.0,
        200
    );
    assert_eq!(get(&app, "/api/database", &[]).await?.0, 200);
    let spans = stop(app, &mut receiver).await;
    let server = servers(&spans);
    let root = server
        .iter()
        .find(|s| s.span.name == "GET /")
        .expect("GET / span");
    assert_eq!(
        (root.trace_id(), root.parent_id()),
        (w3c_trace.to_owned(), "b7ad6b7169203331".to_owned())
    );
    let fresh = server
        .iter()
        .find(|s| s.span.name == "GET /api/database")
        .expect("database span");
    let epoch = u64::from_str_radix(&fresh.trace_id()[..8], 16)?;
    let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
    assert!(
        now.abs_diff(epoch) < 600,
        "X-Ray trace ids start with the epoch second: {}",
        fresh.trace_id()
    );
    assert_eq!(fresh.parent_id(), "");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ignores_malformed_trace_headers() -> TestResult {
    let mut receiver = Receiver::start().await?;
    let app = App::start_http(&env(&receiver, &[]))?;
    let huge = format!("Root={XRAY_ROOT};x={}", "a".repeat(6000));
    let bad: Vec<(&str, String)> = vec![
        (
            "x-amzn-trace-id",
            "Root=1-5759e98g-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1".into(),
        ),
        (
            "x-amzn-trace-id",
            "Root=1-5759e988-bd862e3fe1be46a99427279;Sampled=1".into(),
        ),
        (
            "x-amzn-trace-id",
            format!("Root={XRAY_ROOT}; Parent={XRAY_PARENT}; Sampled=1"),
        ),
        (
            "x-amzn-trace-id",
            format!("root={XRAY_ROOT};parent={XRAY_PARENT};sampled=1"),
        ),
        ("x-amzn-trace-id", huge),
        (
            "traceparent",
            "00-0af7651916cd43dd8448eb211c80319-b7ad6b7169203331-01".into(),
        ),
        (
            "traceparent",
            "zz-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".into(),
        ),
        (
            "traceparent",
            "00-00000000000000000000000000000000-b7ad6b7169203331-01".into(),
        ),
        ("tracestate", "=,=,=".repeat(500)),
        ("baggage", "k=v;".repeat(2000)),
    ];
    for (name, value) in &bad {
        let (status, _) = get(&app, "/api/users/1", &[(name, value)]).await?;
        assert_eq!(status, 200, "{name}: {}", &value[..value.len().min(60)]);
    }
    let spans = stop(app, &mut receiver).await;
    let server = servers(&spans);
    assert_eq!(server.len(), bad.len());
    for span in server {
        assert_ne!(
            span.trace_id(),
            XRAY_TRACE_HEX,
            "a malformed header was honoured"
        );
        assert_eq!(span.parent_id(), "");
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_checks_are_not_exported_by_default() -> TestResult {
    let mut receiver = Receiver::start().await?;
    let app = App::start_http(&env(&receiver, &[]))?;
    for _ in 0..5 {
        assert_eq!(get(&app, "/health", &[]).await?.0, 200);
    }
    assert_eq!(get(&app, "/", &[]).await?.0, 200);
    let spans = stop(app, &mut receiver).await;
    let names: Vec<&str> = spans.iter().map(|s| s.span.name.as_str()).collect();
    assert_eq!(names, vec!["GET /"]);

    let app = App::start_http(&env(&receiver, &[("TRACE_HEALTH_CHECKS", "true")]))?;
    assert_eq!(get(&app, "/health", &[]).await?.0, 200);
    let spans = stop(app, &mut receiver).await;
    assert_eq!(
        spans
            .iter()
            .map(|s| s.span.name.as_str())
            .collect::<Vec<_>>(),
        vec!["GET /health"]
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_errors_mark_the_span_and_log_with_the_xray_trace_id() -> TestResult {
    let mut receiver = Receiver::start().await?;
    let upstream = Upstream::start(Behaviour::Error).await?;
    let mut app = App::start_http(&env(
        &receiver,
        &[
            ("EXTERNAL_URL", &upstream.url()),
            ("RUST_LOG", "warn,axum_xray_otel::serve=info"),
        ],
    ))?;
    let header = format!("Root={XRAY_ROOT};Parent={XRAY_PARENT};Sampled=1");
    let (status, body) = get(&app, "/api/external", &[("x-amzn-trace-id", &header)]).await?;
    assert_eq!(status, 502);
    assert_eq!(body["error"], "bad_gateway");
    let log = app
        .wait_for_log(|v| v["message"] == "request failed")
        .expect("error log line");
    assert_eq!(log["level"], "ERROR");
    assert_eq!(log["trace_id"], XRAY_ROOT);
    assert_eq!(log["span_id"].as_str().map(str::len), Some(16));
    assert!(log["timestamp"].as_str().is_some_and(|t| t.ends_with('Z')));
    let spans = stop(app, &mut receiver).await;
    // RUST_LOG=warn filters logs only: the spans still arrive.
    let server = servers(&spans)[0];
    assert_eq!(
        server.span.status.as_ref().map(|s| s.code),
        Some(2),
        "status ERROR"
    );
    assert_eq!(server.int("http.response.status_code"), Some(502));
    assert_eq!(server.attr("error.type").as_deref(), Some("502"));
    assert_eq!(log["span_id"], server.span_id());
    let call = spans.iter().find(|s| s.is_client()).expect("client span");
    assert_eq!(call.int("http.response.status_code"), Some(500));
    assert_eq!(call.attr("error.type").as_deref(), Some("500"));
    assert_eq!(call.span.status.as_ref().map(|s| s.code), Some(2));
    assert!(
        spans
            .iter()
            .any(|s| s.is_client() && s.parent_id() == server.span_id()),
        "info-level child spans are exported under RUST_LOG=warn too: {spans:#?}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exports_over_grpc_when_asked() -> TestResult {
    let mut receiver = Receiver::start().await?;
    let mut env = env(&receiver, &[("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")]);
    env[0].1 = receiver.grpc_endpoint();
    let app = App::start_http(&env)?;
    assert_eq!(get(&app, "/", &[]).await?.0, 200);
    let spans = stop(app, &mut receiver).await;
    assert_eq!(servers(&spans).len(), 1);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resource_carries_ecs_task_metadata_and_user_attributes() -> TestResult {
    let metadata = ecs_metadata_double().await?;
    let mut receiver = Receiver::start().await?;
    let mut app = App::start_http(&env(
        &receiver,
        &[
            ("ECS_CONTAINER_METADATA_URI_V4", &metadata),
            ("AWS_REGION", "eu-west-1"),
            (
                "OTEL_RESOURCE_ATTRIBUTES",
                "deployment.environment.name=staging,team=platform",
            ),
            ("OTEL_SERVICE_NAME", "orders"),
        ],
    ))?;
    app.wait_for_log(|v| v["message"] == "ecs task metadata loaded")
        .expect("metadata loaded");
    assert_eq!(get(&app, "/", &[]).await?.0, 200);
    let spans = stop(app, &mut receiver).await;
    let span = servers(&spans)[0];
    let attr = |k| span.resource_attr(k);
    assert_eq!(attr("service.name").as_deref(), Some("orders"));
    assert_eq!(attr("cloud.platform").as_deref(), Some("aws_ecs"));
    assert_eq!(attr("cloud.region").as_deref(), Some("eu-west-1"));
    assert_eq!(
        attr("aws.ecs.task.arn").as_deref(),
        Some("arn:aws:ecs:eu-west-1:123456789012:task/demo/abc")
    );
    assert_eq!(
        attr("aws.ecs.cluster.arn").as_deref(),
        Some("arn:aws:ecs:eu-west-1:123456789012:cluster/demo")
    );
    assert_eq!(attr("aws.ecs.launchtype").as_deref(), Some("fargate"));
    assert_eq!(
        attr("aws.log.group.names").as_deref(),
        Some("/ecs/axum-xray-otel")
    );
    assert_eq!(
        attr("deployment.environment.name").as_deref(),
        Some("staging")
    );
    assert_eq!(attr("team").as_deref(), Some("platform"));
    Ok(())
}

/// Serves `/task` and the container document like the ECS task metadata endpoint v4.
async fn ecs_metadata_double() -> std::io::Result<String> {
    use axum::{Json, Router, routing::get};
    let app = Router::new()
        .route(
            "/v4/abc",
            get(|| async {
                Json(serde_json::json!({
                    "ContainerARN": "arn:aws:ecs:eu-west-1:123456789012:container/demo/abc/app",
                    "LogOptions": {"awslogs-group": "/ecs/axum-xray-otel", "awslogs-region": "eu-west-1", "awslogs-stream": "app/app/abc"}
                }))
            }),
        )
        .route(
            "/v4/abc/task",
            get(|| async {
                Json(serde_json::json!({
                    "Cluster": "arn:aws:ecs:eu-west-1:123456789012:cluster/demo",
                    "TaskARN": "arn:aws:ecs:eu-west-1:123456789012:task/demo/abc",
                    "Family": "axum-xray-otel", "Revision": "3", "LaunchType": "FARGATE",
                    "AvailabilityZone": "eu-west-1a"
                }))
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(format!("http://{addr}/v4/abc"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_the_in_flight_request_finish_and_exits_0() -> TestResult {
    let mut receiver = Receiver::start().await?;
    let mut upstream = Upstream::start(Behaviour::Held).await?;
    let mut app = App::start_http(&env(&receiver, &[("EXTERNAL_URL", &upstream.url())]))?;
    let url = app.url("/api/external");
    let in_flight = tokio::spawn(async move { client().get(url).send().await });
    upstream
        .requests
        .recv()
        .await
        .expect("request reached the upstream");
    app.signal("TERM");
    app.wait_for_log(|v| v["message"] == "shutting down: draining requests")
        .expect("drain started");
    // New connections are refused once draining.
    assert!(
        client().get(app.url("/health")).send().await.is_err(),
        "accepted a new connection while draining"
    );
    upstream.release();
    let response = in_flight.await??;
    assert_eq!(response.status(), 200);
    let spans = stop(app, &mut receiver).await;
    assert!(
        spans.iter().any(|s| s.span.name == "GET /api/external"),
        "the drained request's span was exported"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_settings_stop_start_up_with_one_line_naming_the_variable() -> TestResult {
    for (var, value, expect) in [
        (
            "APP_TARGET",
            "fargate",
            "APP_TARGET: 'fargate' is not one of http, lambda",
        ),
        (
            "PORT",
            "http",
            "PORT: 'http' is not an integer from 0 to 65535",
        ),
        (
            "OTEL_TRACES_EXPORTER",
            "zipkin",
            "OTEL_TRACES_EXPORTER: 'zipkin' is not one of otlp, xray-udp, console, none",
        ),
    ] {
        let output = command(&[(var, value.to_owned())]).output()?;
        assert_eq!(output.status.code(), Some(2), "{var}");
        let stderr = String::from_utf8(output.stderr)?;
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.contains(expect), "{stderr}");
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthcheck_subcommand_reports_the_local_server() -> TestResult {
    let receiver = Receiver::start().await?;
    let app = App::start_http(&env(&receiver, &[]))?;
    let ok = command(&[("PORT", app.port.to_string())])
        .arg("healthcheck")
        .output()?;
    assert_eq!(ok.status.code(), Some(0));
    drop(app);
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await?
        .local_addr()?
        .port();
    let down = command(&[("PORT", closed.to_string())])
        .arg("healthcheck")
        .output()?;
    assert_eq!(down.status.code(), Some(1));
    assert!(String::from_utf8(down.stderr)?.contains("unhealthy"));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_exporter_prints_spans_as_json_lines() -> TestResult {
    let mut app = App::start_http(&[
        ("OTEL_TRACES_EXPORTER", "console".to_owned()),
        ("OTEL_BSP_SCHEDULE_DELAY", "20".to_owned()),
    ])?;
    let header = format!("Root={XRAY_ROOT};Parent={XRAY_PARENT};Sampled=1");
    assert_eq!(
        get(&app, "/api/users/3", &[("x-amzn-trace-id", &header)])
            .await?
            .0,
        200
    );
    let line = app
        .wait_for_log(|v| v["span"] == "GET /api/users/{id}")
        .expect("span line");
    assert_eq!(line["trace_id"], XRAY_ROOT);
    assert_eq!(line["parent_span_id"], XRAY_PARENT);
    assert_eq!(line["kind"], "server");
    Ok(())
}
