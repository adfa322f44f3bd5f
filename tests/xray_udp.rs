//! Lambda's third trace path: OTLP over UDP to the X-Ray endpoint Lambda runs
//! beside the function (`OTEL_TRACES_EXPORTER=xray-udp`). The real binary
//! against the Runtime API double and a UDP double that decodes AWS's framing:
//! every span of an invocation is sent before the runtime asks for the next
//! event, X-Ray's view of them is right, and a burst is cut into datagrams
//! that each fit.

mod support;

use std::time::Duration;

use serde_json::json;
use support::{
    TestResult, XRAY_PARENT, client,
    lambda_api::{Invocation, Outcome, RuntimeApi, event},
    process::{App, command},
    xray::{document_of, fresh_root, translate},
    xray_udp::{MAX_DATAGRAM, XrayUdp},
};

fn udp_env(daemon: &XrayUdp) -> Vec<(&'static str, String)> {
    vec![
        ("OTEL_TRACES_EXPORTER", "xray-udp".to_owned()),
        ("AWS_XRAY_DAEMON_ADDRESS", daemon.daemon_address()),
        ("USERS_LATENCY_MS", "0".to_owned()),
        ("DATABASE_LATENCY_MS", "0".to_owned()),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lambda_spans_reach_the_xray_udp_endpoint_before_the_next_event() -> TestResult {
    let mut daemon = XrayUdp::start().await?;
    let mut api = RuntimeApi::start(daemon.counter()).await?;
    let mut env = api.lambda_env();
    env.extend(udp_env(&daemon));
    // Only the per-invocation flush may deliver spans in time.
    env.push(("OTEL_BSP_SCHEDULE_DELAY", "60000".to_owned()));
    let mut app = App::spawn(command(&env))?;
    let roots = [fresh_root(61), fresh_root(62)];
    for (id, root) in roots.iter().enumerate() {
        api.push(Invocation {
            request_id: format!("req-{id}"),
            trace_header: Some(format!("Root={root};Parent={XRAY_PARENT};Sampled=1")),
            body: event("function-url.json"),
        });
        match api.next_outcome().await {
            Some(Outcome::Response { body, .. }) => assert_eq!(body["statusCode"], 200),
            other => panic!("expected a response, got {other:?}"),
        }
    }
    api.push(Invocation {
        request_id: "req-last".to_owned(),
        trace_header: None,
        body: event("health.json"),
    });
    let _ = api.next_outcome().await;
    // Each invocation's two spans (server + lookup) were sent before the
    // runtime asked for the next event.
    let counts = api.span_counts_at_next();
    assert!(
        counts.len() >= 3 && counts[1] >= 2 && counts[2] >= 4,
        "{counts:?}"
    );
    app.terminate(Duration::from_secs(25));

    let spans = daemon.drain();
    let docs = translate(&spans);
    assert_eq!(
        docs.len(),
        spans.len(),
        "a span X-Ray would drop: {docs:#?}"
    );
    for root in &roots {
        let hex = root.replace('-', "")[1..].to_owned();
        let server = spans
            .iter()
            .find(|s| s.is_server() && s.trace_id() == hex)
            .ok_or("the invocation's server span")?;
        assert_eq!(server.parent_id(), XRAY_PARENT);
        let doc = document_of(&docs, server);
        assert_eq!(doc.str("/trace_id"), Some(root.as_str()), "{doc:#?}");
        assert_eq!(doc.str("/parent_id"), Some(XRAY_PARENT), "{doc:#?}");
        assert_eq!(doc.get("/http/response/status"), Some(&json!(200)));
        assert!(
            server.resource_attr("faas.name").is_some(),
            "the resource travels in every datagram"
        );
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_spans_is_cut_into_datagrams_that_each_fit() -> TestResult {
    let mut daemon = XrayUdp::start().await?;
    let mut env = udp_env(&daemon);
    // One export of every span at once: hundreds of spans, far over a datagram.
    env.extend([
        ("OTEL_BSP_SCHEDULE_DELAY", "60000".to_owned()),
        ("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "2048".to_owned()),
        ("OTEL_METRICS_EXPORTER", "none".to_owned()),
    ]);
    let mut app = App::start_http(&env)?;
    let http = client();
    let requests = 150;
    for n in 0..requests {
        let response = http
            .get(app.url(&format!("/api/users/{}", n % 100 + 1)))
            .send()
            .await?;
        assert_eq!(response.status(), 200);
    }
    // SIGTERM: the processor exports what it holds, in one batch.
    app.terminate(Duration::from_secs(25));
    assert!(
        daemon.wait_for(2 * requests).await,
        "{} of {} spans arrived",
        daemon.counter()(),
        2 * requests
    );
    assert!(daemon.datagrams() >= 2, "{} datagrams", daemon.datagrams());
    assert!(daemon.largest_datagram() <= MAX_DATAGRAM);
    assert_eq!(daemon.drain().len() as u64, 2 * requests);
    Ok(())
}
