//! Lambda Managed Instances: with `AWS_LAMBDA_MAX_CONCURRENCY` above 1 the
//! real binary serves overlapping invocations from the Runtime API double,
//! each under its own trace header (never the process-wide one), with its own
//! request id in its log lines and its spans under its own parent.

mod support;

use std::{collections::HashSet, time::Duration};

use support::{
    TestResult, XRAY_PARENT,
    lambda_api::{Call, Invocation, Outcome, RuntimeApi, event},
    otlp::Receiver,
    process::{App, command},
    xray::fresh_root,
};

const CONCURRENCY: usize = 4;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overlapping_invocations_keep_their_own_trace_and_request_id() -> TestResult {
    let mut receiver = Receiver::start().await?;
    let mut api = RuntimeApi::start(receiver.counter()).await?;
    let mut env = api.lambda_env();
    env.extend([
        ("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.http_endpoint()),
        ("AWS_LAMBDA_MAX_CONCURRENCY", CONCURRENCY.to_string()),
        // Long enough that every invocation is in flight before one answers.
        ("USERS_LATENCY_MS", "300".to_owned()),
        ("RUST_LOG", "info,axum_xray_otel::users=debug".to_owned()),
    ]);
    let mut app = App::spawn(command(&env))?;
    let roots: Vec<String> = (0..CONCURRENCY as u32)
        .map(|n| fresh_root(70 + n))
        .collect();
    for (n, root) in roots.iter().enumerate() {
        api.push(Invocation {
            request_id: format!("req-{n}"),
            trace_header: Some(format!("Root={root};Parent={XRAY_PARENT};Sampled=1")),
            body: event("function-url.json"),
        });
    }
    let mut answered = HashSet::new();
    for _ in 0..CONCURRENCY {
        match api.next_outcome().await {
            Some(Outcome::Response { request_id, body }) => {
                assert_eq!(body["statusCode"], 200, "{body}");
                answered.insert(request_id);
            }
            other => panic!("expected a response, got {other:?}"),
        }
    }
    assert_eq!(answered.len(), CONCURRENCY);
    // All of them were asked for before the first answer: they overlapped.
    let timeline = api.timeline();
    let first_answer = timeline
        .iter()
        .position(|c| matches!(c, Call::Response(_)))
        .ok_or("no response in the timeline")?;
    let asked = timeline[..first_answer]
        .iter()
        .filter(|c| matches!(c, Call::Next(_)))
        .count();
    assert!(asked >= CONCURRENCY, "sequential: {timeline:?}");

    for (n, root) in roots.iter().enumerate() {
        let line = app
            .wait_for_log(|v| v["message"] == "user found" && v["request_id"] == format!("req-{n}"))
            .ok_or_else(|| format!("a log line of req-{n}: {:#?}", app.output()))?;
        assert_eq!(line["trace_id"], root.as_str(), "{line}");
    }
    app.terminate(Duration::from_secs(25));

    let spans = receiver.drain();
    for (n, root) in roots.iter().enumerate() {
        let hex = root.replace('-', "")[1..].to_owned();
        let server = spans
            .iter()
            .find(|s| s.is_server() && s.trace_id() == hex)
            .ok_or("each invocation's server span")?;
        assert_eq!(server.parent_id(), XRAY_PARENT);
        assert_eq!(
            server.attr("faas.invocation_id"),
            Some(format!("req-{n}")),
            "the span of {root} carries another invocation's id"
        );
        let children: Vec<_> = spans
            .iter()
            .filter(|s| s.parent_id() == server.span_id())
            .collect();
        assert!(!children.is_empty(), "the lookup span of {root}");
        assert!(children.iter().all(|c| c.trace_id() == hex));
    }
    Ok(())
}
