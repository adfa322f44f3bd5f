//! `POST /api/events` through the real binary against moto's SQS (an
//! independent implementation of its JSON protocol) behind the recording AWS
//! proxy: the message arrives, the call is one CLIENT span with the queue
//! and the request id, the `X-Amzn-Trace-Id` SQS received names that span,
//! X-Ray shows an `SQS` node, and throttling is a 503 with `Retry-After`;
//! on the Lambda target too.
//! What any client from `aws::client` gets, shown on a second service.

mod support;

use std::{collections::BTreeMap, time::Duration};

use opentelemetry_proto::tonic::{
    common::v1::any_value::Value as Proto, metrics::v1::metric::Data,
};
use serde_json::{Value, json};
use support::{
    TestResult, XRAY_PARENT, XRAY_ROOT,
    aws_proxy::{AwsProxy, Mode, assert_lambda_call_traced},
    client,
    lambda_api::{Invocation, Outcome, RuntimeApi, event},
    moto::Moto,
    otlp::{Receiver, typed},
    process::{App, command},
    xray::{document_of, fresh_root, translate},
};

const REGION: &str = "us-east-1";

/// The app with its events queue at `queue_url`, SQS at `endpoint`.
fn env(endpoint: &str, queue_url: &str, receiver: &Receiver) -> Vec<(&'static str, String)> {
    vec![
        ("AWS_REGION", REGION.to_owned()),
        ("AWS_ACCESS_KEY_ID", "AKIDTEST".to_owned()),
        ("AWS_SECRET_ACCESS_KEY", "secret".to_owned()),
        ("AWS_EC2_METADATA_DISABLED", "true".to_owned()),
        ("AWS_ENDPOINT_URL_SQS", endpoint.to_owned()),
        ("EVENTS_QUEUE_URL", queue_url.to_owned()),
        ("EVENTS_TIMEOUT_MS", "10000".to_owned()),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.http_endpoint()),
        ("OTEL_BSP_SCHEDULE_DELAY", "20".to_owned()),
    ]
}

/// Status, `Retry-After` and JSON body of one `POST /api/events`.
async fn post_event(
    app: &App,
    event: &Value,
    trace: &str,
) -> TestResult<(u16, Option<String>, Value)> {
    let response = client()
        .post(app.url("/api/events"))
        .header("content-type", "application/json")
        .header("x-amzn-trace-id", trace)
        .body(event.to_string())
        .send()
        .await?;
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    Ok((
        status,
        retry_after,
        serde_json::from_slice(&response.bytes().await?)?,
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_is_one_traced_sqs_call_that_carries_its_trace_header() -> TestResult {
    let moto = Moto::start()?;
    let queue_url = moto.create_queue("events").await?;
    let proxy = AwsProxy::start(Some(moto.endpoint()), Mode::Forward).await?;
    let mut receiver = Receiver::start().await?;
    let mut app = App::start_http(&env(&proxy.endpoint(), &queue_url, &receiver))?;
    let root = fresh_root(21);
    let trace_hex = root.strip_prefix("1-").unwrap_or(&root).replace('-', "");
    let event = json!({"type": "signup", "id": 7});
    let trace = format!("Root={root};Parent={XRAY_PARENT};Sampled=1");
    let (status, _, body) = post_event(&app, &event, &trace).await?;
    assert_eq!(status, 202, "{body}");
    let message_id = body["message_id"].as_str().unwrap_or_default().to_owned();
    assert!(!message_id.is_empty(), "{body}");
    assert_eq!(moto.receive(&queue_url).await?, [event.to_string()]);
    app.terminate(Duration::from_secs(25));
    let spans = receiver.drain();

    let call = spans
        .iter()
        .find(|s| s.span.name == "SQS.SendMessage")
        .ok_or_else(|| format!("no SQS span in {spans:#?}"))?;
    let server = spans
        .iter()
        .find(|s| s.span.name == "POST /api/events")
        .ok_or("no server span")?;
    assert!(call.is_client());
    assert_eq!(call.trace_id(), trace_hex);
    assert_eq!(call.parent_id(), server.span_id());
    for (key, value) in [
        ("rpc.system", "aws-api"),
        ("rpc.service", "SQS"),
        ("rpc.method", "SendMessage"),
        ("aws.region", REGION),
        ("aws.queue_url", &queue_url),
        ("aws.sqs.queue.url", &queue_url),
    ] {
        assert_eq!(call.attr(key).as_deref(), Some(value), "{key}");
    }
    assert_eq!(call.int("http.response.status_code"), Some(200));
    assert_eq!(call.attr("error.type"), None);

    let records = proxy.records();
    assert_eq!(records.len(), 1, "{records:#?}");
    assert_eq!(records[0].target, "AmazonSQS.SendMessage");
    assert_eq!(
        records[0].trace_header.as_deref(),
        Some(format!("Root={root};Parent={};Sampled=1", call.span_id()).as_str()),
        "Parent must be the CLIENT span"
    );
    assert_eq!(call.attr("aws.request_id"), records[0].request_id);

    // What the X-Ray console shows: an SQS node with the queue.
    let docs = translate(&spans);
    let doc = document_of(&docs, call);
    assert_eq!(doc.str("/type"), Some("subsegment"), "{doc:#?}");
    assert_eq!(doc.str("/namespace"), Some("aws"), "{doc:#?}");
    assert_eq!(doc.str("/name"), Some("SQS"), "{doc:#?}");
    assert_eq!(doc.str("/aws/operation"), Some("SendMessage"), "{doc:#?}");
    assert_eq!(
        doc.str("/aws/queue_url"),
        Some(queue_url.as_str()),
        "{doc:#?}"
    );
    assert_eq!(doc.str("/aws/region"), Some(REGION), "{doc:#?}");
    assert_eq!(doc.collector_flags, (false, false, false));

    // The call's duration, by service and operation.
    let mut calls = BTreeMap::<(String, String), u64>::new();
    for received in receiver.drain_metrics() {
        let Some(Data::Histogram(histogram)) = &received.metric.data else {
            continue;
        };
        if received.metric.name != "rpc.client.call.duration" {
            continue;
        }
        for point in &histogram.data_points {
            let attrs = typed(&point.attributes);
            let text = |k: &str| match attrs.get(k) {
                Some(Proto::StringValue(v)) => v.clone(),
                _ => String::new(),
            };
            *calls
                .entry((text("rpc.service"), text("rpc.method")))
                .or_default() += point.count;
        }
    }
    assert_eq!(
        calls,
        [(("SQS".to_owned(), "SendMessage".to_owned()), 1)].into()
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_throttled_queue_is_503_with_retry_after() -> TestResult {
    // SQS answers as the proxy does; nothing behind it.
    let proxy = AwsProxy::start(None, Mode::Fail("ThrottlingException")).await?;
    let mut receiver = Receiver::start().await?;
    let queue_url = "https://sqs.us-east-1.amazonaws.com/123456789012/events";
    let mut env = env(&proxy.endpoint(), queue_url, &receiver);
    env.push(("AWS_MAX_ATTEMPTS", "2".to_owned()));
    let mut app = App::start_http(&env)?;
    let trace = format!("Root={};Parent={XRAY_PARENT};Sampled=1", fresh_root(22));
    let (status, retry_after, body) = post_event(&app, &json!({"type": "x"}), &trace).await?;
    assert_eq!(
        (status, retry_after.as_deref(), body),
        (
            503,
            Some("1"),
            json!({"error": "service_unavailable", "message": "Service Unavailable"})
        )
    );
    assert_eq!(proxy.records().len(), 2, "AWS_MAX_ATTEMPTS=2 is honoured");
    app.terminate(Duration::from_secs(25));
    let spans = receiver.drain();
    let call = spans
        .iter()
        .find(|s| s.span.name == "SQS.SendMessage")
        .ok_or("no SQS span")?;
    assert_eq!(
        call.attr("error.type").as_deref(),
        Some("ThrottlingException")
    );
    assert_eq!(call.span.status.as_ref().map(|s| s.code), Some(2));
    let docs = translate(&spans);
    assert_eq!(
        document_of(&docs, call).collector_flags,
        (true, false, false)
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_queue_events_are_404() -> TestResult {
    let app = App::start_http(&[("OTEL_TRACES_EXPORTER", "none".to_owned())])?;
    let response = client()
        .post(app.url("/api/events"))
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await?;
    assert_eq!(response.status().as_u16(), 404);
    let body: Value = serde_json::from_slice(&response.bytes().await?)?;
    assert_eq!(body["error"], "not_found");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lambda_invocations_send_events_under_the_function_segment() -> TestResult {
    let moto = Moto::start()?;
    let queue_url = moto.create_queue("events").await?;
    let proxy = AwsProxy::start(Some(moto.endpoint()), Mode::Forward).await?;
    let mut receiver = Receiver::start().await?;
    let mut api = RuntimeApi::start(receiver.counter()).await?;
    let mut env = api.lambda_env();
    env.extend(self::env(&proxy.endpoint(), &queue_url, &receiver));
    env.push(("OTEL_BSP_SCHEDULE_DELAY", "60000".to_owned()));
    let _app = App::spawn(command(&env))?;
    // A Function URL event for POST /api/events.
    let mut request: Value = serde_json::from_str(&event("function-url.json"))?;
    request["rawPath"] = json!("/api/events");
    request["requestContext"]["http"]["method"] = json!("POST");
    request["requestContext"]["http"]["path"] = json!("/api/events");
    request["headers"]["content-type"] = json!("application/json");
    request["body"] = json!(r#"{"type":"signup","id":8}"#);
    api.push(Invocation {
        request_id: "req-1".to_owned(),
        trace_header: Some(format!("Root={XRAY_ROOT};Parent={XRAY_PARENT};Sampled=1")),
        body: request.to_string(),
    });
    let Some(Outcome::Response { body, .. }) = api.next_outcome().await else {
        panic!("no response");
    };
    assert_eq!(body["statusCode"], 202, "{body}");
    assert_eq!(
        moto.receive(&queue_url).await?,
        [r#"{"id":8,"type":"signup"}"#]
    );

    assert_lambda_call_traced(&mut receiver, &proxy, "SQS.SendMessage").await;
    Ok(())
}
