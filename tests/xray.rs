//! What the X-Ray console shows, on both targets: the spans the real binary
//! exported, translated into segment documents by an independent
//! implementation of the collector's `awsxray` rules (tests/support/xray.rs).

mod support;

use std::time::Duration;

use opentelemetry_proto::tonic::{
    common::v1::any_value::Value as Proto, metrics::v1::metric::Data,
};
use serde_json::{Value, json};
use support::{
    TestResult, XRAY_PARENT, client,
    lambda_api::{Invocation, Outcome, RuntimeApi, event},
    otlp::{Received, Receiver, typed},
    process::{App, command},
    upstream::{Behaviour, Upstream},
    xray::{Document, document_of, fresh_root, translate},
};

const SERVICE: &str = "axum-xray-otel";

fn http_env(receiver: &Receiver, upstream: &Upstream) -> Vec<(&'static str, String)> {
    vec![
        ("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.http_endpoint()),
        ("OTEL_BSP_SCHEDULE_DELAY", "20".to_owned()),
        ("USERS_LATENCY_MS", "0".to_owned()),
        ("EXTERNAL_URL", upstream.url()),
        ("EXTERNAL_TIMEOUT_MS", "300".to_owned()),
    ]
}

/// A request as the ALB forwards it for `https://api.example.com{path}`.
async fn via_alb(app: &App, path: &str, trace: &str) -> TestResult<u16> {
    let response = client()
        .get(app.url(path))
        .header("host", "api.example.com")
        .header("x-forwarded-proto", "https")
        .header("x-forwarded-port", "443")
        .header("x-forwarded-for", "203.0.113.7")
        .header("x-amzn-trace-id", trace)
        .send()
        .await?;
    Ok(response.status().as_u16())
}

fn server_of<'a>(spans: &'a [Received], root: &str) -> &'a Received {
    // Only the version prefix goes: the epoch part may end in "1" too.
    let hex = root.strip_prefix("1-").unwrap_or(root).replace('-', "");
    spans
        .iter()
        .find(|s| s.is_server() && s.trace_id() == hex)
        .unwrap_or_else(|| panic!("no server span for {root}: {spans:#?}"))
}

fn child_of<'a>(spans: &'a [Received], parent: &Received) -> &'a Received {
    spans
        .iter()
        .find(|s| s.parent_id() == parent.span_id())
        .unwrap_or_else(|| panic!("no child of {}: {spans:#?}", parent.span.name))
}

/// The segment fields every request segment has.
fn assert_segment(doc: &Document, root: &str, parent: Option<&str>, url: &str, status: i64) {
    assert_eq!(doc.str("/trace_id"), Some(root), "{doc:#?}");
    assert_eq!(doc.str("/parent_id"), parent, "{doc:#?}");
    assert_eq!(doc.str("/name"), Some(SERVICE), "{doc:#?}");
    assert_eq!(doc.get("/type"), None, "a segment, not a subsegment");
    assert_eq!(doc.str("/http/request/method"), Some("GET"), "{doc:#?}");
    assert_eq!(doc.str("/http/request/url"), Some(url), "{doc:#?}");
    assert_eq!(
        doc.get("/http/response/status"),
        Some(&json!(status)),
        "the status must be a number: {doc:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_an_alb_segments_show_the_called_url_status_flags_and_sql() -> TestResult {
    let mut receiver = Receiver::start().await?;
    let upstream = Upstream::start(Behaviour::Status(429)).await?;
    let mut app = App::start_http(&http_env(&receiver, &upstream))?;
    let roots: Vec<String> = (1..=4).map(fresh_root).collect();
    assert_eq!(
        via_alb(&app, "/api/users/42", &format!("Root={}", roots[0])).await?,
        200
    );
    let with_parent = format!("Root={};Parent={XRAY_PARENT};Sampled=1", roots[1]);
    assert_eq!(via_alb(&app, "/api/users/2000", &with_parent).await?, 404);
    assert_eq!(
        via_alb(
            &app,
            "/api/database?token=secret",
            &format!("Root={}", roots[2])
        )
        .await?,
        200
    );
    assert_eq!(
        via_alb(&app, "/api/external", &format!("Root={}", roots[3])).await?,
        502
    );
    app.terminate(Duration::from_secs(25));
    let spans = receiver.drain();
    let docs = translate(&spans);

    // The ALB's Root-only header: that trace, no parent.
    let user = server_of(&spans, &roots[0]);
    let doc = document_of(&docs, user);
    assert_segment(
        doc,
        &roots[0],
        None,
        "https://api.example.com/api/users/42",
        200,
    );
    assert_eq!(doc.str("/http/request/client_ip"), Some("203.0.113.7"));
    assert_eq!(doc.flags(), (false, false, false));
    assert_eq!(doc.collector_flags, (false, false, false));
    let lookup = document_of(&docs, child_of(&spans, user));
    assert_eq!(lookup.str("/type"), Some("subsegment"));
    assert_eq!(lookup.str("/parent_id"), Some(doc.span_id.as_str()));
    assert_eq!(
        lookup.str("/sql/sanitized_query"),
        Some("SELECT id, name, email FROM users WHERE id = $1")
    );

    // A 4xx is an `error` in the console (by the collector's rule).
    let missing = server_of(&spans, &roots[1]);
    let doc = document_of(&docs, missing);
    assert_segment(
        doc,
        &roots[1],
        Some(XRAY_PARENT),
        "https://api.example.com/api/users/2000",
        404,
    );
    assert_eq!(doc.collector_flags, (true, false, false));

    // The query string never reaches the URL X-Ray shows.
    let database = server_of(&spans, &roots[2]);
    let doc = document_of(&docs, database);
    assert_segment(
        doc,
        &roots[2],
        None,
        "https://api.example.com/api/database",
        200,
    );
    // The handler's own span, then the query under it with its `sql` block.
    let handler = child_of(&spans, database);
    assert_eq!(handler.span.name, "list_users");
    let query = document_of(&docs, child_of(&spans, handler));
    assert_eq!(
        query.str("/sql/sanitized_query"),
        Some("SELECT id, name FROM users ORDER BY id LIMIT $1")
    );
    assert_eq!(query.str("/sql/database_type"), Some("sqlite"));
    let sql = query
        .collector_sql
        .as_ref()
        .expect("the collector's sql block");
    assert_eq!(sql["database_type"], "sqlite");
    assert_eq!(sql["url"], "SELECT users");

    // The upstream throttled us: our 502 is a fault, its 429 a throttle.
    let external = server_of(&spans, &roots[3]);
    let doc = document_of(&docs, external);
    assert_segment(
        doc,
        &roots[3],
        None,
        "https://api.example.com/api/external",
        502,
    );
    assert_eq!(doc.flags(), (false, false, true));
    assert_eq!(doc.collector_flags, (false, false, true));
    let call = document_of(&docs, child_of(&spans, external));
    assert_eq!(call.str("/namespace"), Some("remote"), "{call:#?}");
    assert_eq!(call.str("/http/request/url"), Some(upstream.url().as_str()));
    assert_eq!(call.get("/http/response/status"), Some(&json!(429)));
    assert_eq!(call.flags(), (true, true, false));
    assert_eq!(call.collector_flags, (true, true, false));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_timeout_is_a_fault_on_the_segment_and_the_remote_subsegment() -> TestResult {
    let mut receiver = Receiver::start().await?;
    let upstream = Upstream::start(Behaviour::Hang).await?;
    let mut app = App::start_http(&http_env(&receiver, &upstream))?;
    let root = fresh_root(9);
    assert_eq!(
        via_alb(&app, "/api/external", &format!("Root={root}")).await?,
        504
    );
    app.terminate(Duration::from_secs(25));
    let spans = receiver.drain();
    let docs = translate(&spans);
    let server = server_of(&spans, &root);
    let doc = document_of(&docs, server);
    assert_segment(
        doc,
        &root,
        None,
        "https://api.example.com/api/external",
        504,
    );
    assert_eq!(doc.collector_flags, (false, false, true));
    let call_span = child_of(&spans, server);
    assert_eq!(call_span.attr("error.type").as_deref(), Some("timeout"));
    let call = document_of(&docs, call_span);
    assert_eq!(call.str("/namespace"), Some("remote"));
    assert_eq!(call.str("/http/request/url"), Some(upstream.url().as_str()));
    assert_eq!(
        call.get("/http/response/status"),
        None,
        "no answer, no status"
    );
    assert_eq!(call.flags(), (false, false, true));
    assert_eq!(call.collector_flags, (false, false, true));
    // The call's duration is measured, with the same error.type.
    let timeout = Proto::StringValue("timeout".to_owned());
    let timeouts: u64 = receiver
        .drain_metrics()
        .iter()
        .filter(|m| m.metric.name == "http.client.request.duration")
        .filter_map(|m| match &m.metric.data {
            Some(Data::Histogram(h)) => Some(h),
            _ => None,
        })
        .flat_map(|h| &h.data_points)
        .filter(|p| typed(&p.attributes).get("error.type") == Some(&timeout))
        .map(|p| p.count)
        .sum();
    assert_eq!(timeouts, 1);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_lambda_the_request_segment_sits_under_the_function_segment() -> TestResult {
    let mut receiver = Receiver::start().await?;
    let mut api = RuntimeApi::start(receiver.counter()).await?;
    let mut env = api.lambda_env();
    env.extend([
        ("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.http_endpoint()),
        ("USERS_LATENCY_MS", "0".to_owned()),
    ]);
    let mut app = App::spawn(command(&env))?;
    let roots = [fresh_root(21), fresh_root(22)];
    for (id, (root, file)) in roots
        .iter()
        .zip(["function-url.json", "alb.json"])
        .enumerate()
    {
        api.push(Invocation {
            request_id: format!("req-{id}"),
            trace_header: Some(format!("Root={root};Parent={XRAY_PARENT};Sampled=1")),
            body: event(file),
        });
        match api.next_outcome().await {
            Some(Outcome::Response { body, .. }) => assert_eq!(body["statusCode"], 200),
            other => panic!("expected a response, got {other:?}"),
        }
    }
    app.terminate(Duration::from_secs(25));
    let spans = receiver.drain();
    let docs = translate(&spans);

    let doc = document_of(&docs, server_of(&spans, &roots[0]));
    let url = "https://abcdefghijklmnopqrstuvwxyz012345.lambda-url.eu-west-1.on.aws/api/users/7";
    assert_segment(doc, &roots[0], Some(XRAY_PARENT), url, 200);
    assert_eq!(doc.collector_flags, (false, false, false));

    let doc = document_of(&docs, server_of(&spans, &roots[1]));
    let url = "http://axum-xray-otel-123456789.eu-west-1.elb.amazonaws.com/api/users/42";
    assert_segment(doc, &roots[1], Some(XRAY_PARENT), url, 200);
    Ok(())
}

/// Every document the translator makes from a real run is valid: one per span.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_exported_span_becomes_an_xray_document() -> TestResult {
    let mut receiver = Receiver::start().await?;
    let upstream = Upstream::start(Behaviour::Json).await?;
    let mut app = App::start_http(&http_env(&receiver, &upstream))?;
    for (n, path) in [
        "/",
        "/api/users/1",
        "/api/database",
        "/api/external",
        "/nope",
    ]
    .into_iter()
    .enumerate()
    {
        let root = fresh_root(30 + n as u32);
        via_alb(&app, path, &format!("Root={root}")).await?;
    }
    app.terminate(Duration::from_secs(25));
    let spans = receiver.drain();
    let docs = translate(&spans);
    assert_eq!(
        docs.len(),
        spans.len(),
        "a span X-Ray would drop: {docs:#?}"
    );
    let unmatched: Vec<&Value> = docs
        .iter()
        .filter(|d| d.str("/http/request/url") == Some("https://api.example.com/nope"))
        .map(|d| &d.json)
        .collect();
    assert_eq!(
        unmatched.len(),
        1,
        "the 404 for an unknown path is traced once"
    );
    Ok(())
}
