//! Straight to X-Ray: the real binary signs every OTLP export with SigV4 for
//! an X-Ray OTLP endpoint double that recomputes each signature with botocore
//! and rejects a wrong one. Both targets, gzip, credentials from the ECS
//! container-credentials endpoint (refreshed before expiry, and after X-Ray
//! refuses them), and X-Ray's refusals: requests never notice.

mod support;

use std::{collections::HashSet, time::Duration};

use serde_json::Value;
use support::{
    TestResult, XRAY_PARENT, XRAY_ROOT, XRAY_TRACE_HEX, client,
    ecs_credentials::{CredentialsEndpoint, Issued},
    lambda_api::{Invocation, Outcome, RuntimeApi, event},
    process::{App, command},
    xray_otlp::{Answer, REGION, XrayEndpoint},
};

const STATIC_KEY: &str = "AKIASTATICTEST";
const STATIC_SECRET: &str = "static/secret/key";
const STATIC_TOKEN: &str = "static-session-token";

/// The app's settings for direct export to `xray`; credentials come from `extra`.
fn direct_env(
    xray: &XrayEndpoint,
    extra: &[(&'static str, String)],
) -> Vec<(&'static str, String)> {
    let mut env = vec![
        ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", xray.endpoint()),
        // The double is not on an X-Ray host, so signing is switched on explicitly.
        ("OTEL_EXPORTER_OTLP_TRACES_AUTH", "sigv4".to_owned()),
        ("AWS_REGION", REGION.to_owned()),
        ("OTEL_BSP_SCHEDULE_DELAY", "20".to_owned()),
        ("USERS_LATENCY_MS", "0".to_owned()),
    ];
    env.extend(extra.iter().cloned());
    env
}

fn static_credentials(xray: &XrayEndpoint) -> Vec<(&'static str, String)> {
    xray.allow(STATIC_KEY, STATIC_SECRET, Some(STATIC_TOKEN));
    vec![
        ("AWS_ACCESS_KEY_ID", STATIC_KEY.to_owned()),
        ("AWS_SECRET_ACCESS_KEY", STATIC_SECRET.to_owned()),
        ("AWS_SESSION_TOKEN", STATIC_TOKEN.to_owned()),
    ]
}

/// One request with its own X-Ray root; returns the trace id (hex).
async fn traced_request(app: &App, n: u32) -> TestResult<String> {
    let trace = format!("6a{n:06x}{:024x}", 0xd1_7ec7 + n);
    let header = format!("Root=1-{}-{};Sampled=1", &trace[..8], &trace[8..]);
    let response = client()
        .get(app.url("/api/users/7"))
        .header("x-amzn-trace-id", header)
        .send()
        .await?;
    assert_eq!(
        response.status(),
        200,
        "telemetry trouble reached a request"
    );
    Ok(trace)
}

/// Sends a traced request every 250 ms until one's server span arrives
/// (requests whose export failed before the cause was fixed are lost by
/// design); returns the access key that signed it.
async fn until_delivered(app: &App, xray: &mut XrayEndpoint, first: u32) -> TestResult<String> {
    let mut sent = HashSet::new();
    for n in first..first + 80 {
        sent.insert(traced_request(app, n).await?);
        let arrived = tokio::time::timeout(
            Duration::from_millis(250),
            xray.next_matching(|s| s.span.is_server() && sent.contains(&s.span.trace_id())),
        )
        .await;
        if let Ok(Some(span)) = arrived {
            return Ok(span.access_key);
        }
    }
    Err("export never resumed".into())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_target_signs_every_export_and_gzips_it() -> TestResult {
    let mut xray = XrayEndpoint::start().await?;
    let mut env = direct_env(&xray, &static_credentials(&xray));
    env.push(("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip".to_owned()));
    let mut app = App::start_http(&env)?;
    let header = format!("Root={XRAY_ROOT};Parent={XRAY_PARENT};Sampled=1");
    let response = client()
        .get(app.url("/api/users/42"))
        .header("x-amzn-trace-id", header)
        .send()
        .await?;
    assert_eq!(response.status(), 200);

    // The child ends, and may be exported, first: wait for both.
    let mut spans = Vec::new();
    while spans.len() < 2 {
        spans.push(xray.next_matching(|_| true).await.ok_or("spans missing")?);
    }
    let server = spans
        .iter()
        .find(|s| s.span.is_server())
        .ok_or("no server span")?;
    assert_eq!(server.access_key, STATIC_KEY);
    assert_eq!(server.span.trace_id(), XRAY_TRACE_HEX);
    assert_eq!(server.span.parent_id(), XRAY_PARENT);
    assert_eq!(server.span.span.name, "GET /api/users/{id}");
    assert_eq!(
        server.span.attr("http.route").as_deref(),
        Some("/api/users/{id}")
    );
    let lookup = spans
        .iter()
        .find(|s| s.span.parent_id() == server.span.span_id())
        .ok_or("no child span")?;
    assert_eq!(lookup.span.span.name, "SELECT users");
    assert_eq!(lookup.span.trace_id(), XRAY_TRACE_HEX);
    assert_eq!(lookup.access_key, STATIC_KEY);
    assert!(xray.rejections().is_empty(), "{:?}", xray.rejections());

    // The double really checks: the request as signed passes again, one
    // changed byte of the (gzipped) body does not.
    let raw = xray.last_accepted().ok_or("nothing accepted")?;
    assert_eq!(raw.headers["content-encoding"], "gzip");
    assert_eq!(xray.replay(&raw).await?, 200);
    let mut tampered = raw.clone();
    let mut body = tampered.body.to_vec();
    let last = body.len() - 1;
    body[last] ^= 1;
    tampered.body = body.into();
    assert_eq!(xray.replay(&tampered).await?, 403);
    assert_eq!(xray.rejections(), vec!["signature mismatch".to_owned()]);
    app.terminate(Duration::from_secs(10));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lambda_target_delivers_signed_spans_before_the_next_event() -> TestResult {
    let mut xray = XrayEndpoint::start().await?;
    let mut api = RuntimeApi::start(xray.counter()).await?;
    let mut env = api.lambda_env();
    env.extend(static_credentials(&xray));
    env.extend(direct_env(&xray, &[]).into_iter().filter(|(k, _)| {
        // Only the per-invocation flush may deliver spans in time.
        *k != "OTEL_BSP_SCHEDULE_DELAY"
    }));
    env.push(("OTEL_BSP_SCHEDULE_DELAY", "60000".to_owned()));
    // The order is under test here, not the bound (tests/lambda.rs has that):
    // every export also waits for botocore's verdict.
    env.push(("LAMBDA_FLUSH_TIMEOUT_MS", "10000".to_owned()));
    let _app = App::spawn(command(&env))?;
    for (id, root) in [
        ("req-1", XRAY_ROOT),
        ("req-2", "1-5759e988-00000000000000000000beef"),
    ] {
        api.push(Invocation {
            request_id: id.to_owned(),
            trace_header: Some(format!("Root={root};Parent={XRAY_PARENT};Sampled=1")),
            body: event("function-url.json"),
        });
    }
    for _ in 0..2 {
        match api.next_outcome().await {
            Some(Outcome::Response { body, .. }) => assert_eq!(body["statusCode"], 200),
            other => panic!("expected a response, got {other:?}"),
        }
    }
    // Invocation 1's two spans (server + lookup) were at X-Ray before the
    // runtime asked for event 2, invocation 2's before it asked for event 3.
    api.push(Invocation {
        request_id: "req-3".to_owned(),
        trace_header: None,
        body: event("health.json"),
    });
    let _ = api.next_outcome().await;
    let counts = api.span_counts_at_next();
    assert!(
        counts.len() >= 3 && counts[1] >= 2 && counts[2] >= 4,
        "{counts:?}"
    );

    let spans = xray.drain();
    let first = spans
        .iter()
        .find(|s| s.span.is_server() && s.span.trace_id() == XRAY_TRACE_HEX)
        .ok_or("invocation 1's server span")?;
    assert_eq!(first.access_key, STATIC_KEY);
    assert_eq!(first.span.parent_id(), XRAY_PARENT);
    assert_eq!(
        first.span.attr("faas.invocation_id").as_deref(),
        Some("req-1")
    );
    assert_eq!(
        first.span.resource_attr("cloud.region").as_deref(),
        Some(REGION)
    );
    assert!(spans.iter().all(|s| s.access_key == STATIC_KEY));
    assert!(xray.rejections().is_empty(), "{:?}", xray.rejections());
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn container_credentials_are_refreshed_before_they_expire() -> TestResult {
    let mut xray = XrayEndpoint::start().await?;
    let first = Issued::new("ASIAFIRSTTEST", Duration::from_secs(10));
    let second = Issued::new("ASIASECONDTEST", Duration::from_secs(3600));
    for issued in [&first, &second] {
        xray.allow(&issued.access_key, &issued.secret, Some(&issued.token));
    }
    let mut ecs = CredentialsEndpoint::start(vec![first.clone(), second.clone()]).await?;
    let env = direct_env(
        &xray,
        &[("AWS_CONTAINER_CREDENTIALS_FULL_URI", ecs.full_uri())],
    );
    let app = App::start_http(&env)?;
    assert_eq!(ecs.next_fetch().await.as_deref(), Some("ASIAFIRSTTEST"));
    assert_eq!(until_delivered(&app, &mut xray, 0).await?, "ASIAFIRSTTEST");
    // Half their ten-second life later, before they expire, new ones are loaded.
    assert_eq!(ecs.next_fetch().await.as_deref(), Some("ASIASECONDTEST"));
    let mut key = until_delivered(&app, &mut xray, 100).await?;
    if key == "ASIAFIRSTTEST" {
        // Exported just before the new credentials were stored.
        key = until_delivered(&app, &mut xray, 200).await?;
    }
    assert_eq!(key, "ASIASECONDTEST");
    assert!(xray.rejections().is_empty(), "{:?}", xray.rejections());
    Ok(())
}

fn failing(cause: &'static str) -> impl Fn(&Value) -> bool {
    move |v| v["message"] == "span export failing" && v["cause"] == cause
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_are_explained_once_and_export_resumes() -> TestResult {
    let mut xray = XrayEndpoint::start().await?;
    // IAM no longer knows the first credentials the task gets.
    let revoked = Issued::new("ASIAREVOKEDTEST", Duration::from_secs(3600));
    let good = Issued::new("ASIAGOODTEST", Duration::from_secs(3600));
    xray.allow(&good.access_key, &good.secret, Some(&good.token));
    let mut ecs = CredentialsEndpoint::start(vec![revoked, good]).await?;
    let env = direct_env(
        &xray,
        &[
            ("AWS_CONTAINER_CREDENTIALS_FULL_URI", ecs.full_uri()),
            // Throttled exports are retried until this deadline.
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "1500".to_owned()),
        ],
    );
    let mut app = App::start_http(&env)?;

    // 403: explained, and the credentials are reloaded at once.
    traced_request(&app, 0).await?;
    let warning = app
        .wait_for_log(failing("forbidden"))
        .ok_or("no warning for the 403")?;
    assert!(
        warning["advice"]
            .as_str()
            .unwrap_or_default()
            .contains("xray:PutSpans")
    );
    assert!(
        warning["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("403")
    );
    assert_eq!(ecs.next_fetch().await.as_deref(), Some("ASIAREVOKEDTEST"));
    assert_eq!(ecs.next_fetch().await.as_deref(), Some("ASIAGOODTEST"));
    assert_eq!(until_delivered(&app, &mut xray, 1).await?, "ASIAGOODTEST");
    app.wait_for_log(|v| v["message"] == "span export recovered")
        .ok_or("no recovery line")?;

    // X-Ray's other refusals, each explained with what to do.
    let mark = app.mark();
    for (n, (answer, cause, says)) in [
        (
            Answer::TransactionSearchOff,
            "transaction_search_off",
            "update-trace-segment-destination",
        ),
        (Answer::Throttle, "throttled", "OTEL_TRACES_SAMPLER_ARG"),
        (
            Answer::TooLarge,
            "too_large",
            "OTEL_BSP_MAX_EXPORT_BATCH_SIZE",
        ),
    ]
    .into_iter()
    .enumerate()
    {
        xray.answer(answer);
        for i in 0..3 {
            traced_request(&app, 1000 + 10 * n as u32 + i).await?;
        }
        let warning = app
            .wait_for_log_after(mark, failing(cause))
            .ok_or_else(|| format!("no warning for {cause}"))?;
        assert!(
            warning["advice"]
                .as_str()
                .unwrap_or_default()
                .contains(says),
            "{warning}"
        );
    }
    let detail = app
        .wait_for_log_after(mark, failing("transaction_search_off"))
        .map(|w| w["detail"].to_string())
        .unwrap_or_default();
    assert!(detail.contains("UpdateTraceSegmentDestination"), "{detail}");

    xray.answer(Answer::Accept);
    until_delivered(&app, &mut xray, 2000).await?;
    app.wait_for_log_after(mark, |v| v["message"] == "span export recovered")
        .ok_or("no second recovery line")?;
    // Three failing requests per cause, one warning per cause (30 s window).
    let output = app.output();
    for cause in ["transaction_search_off", "throttled", "too_large"] {
        let warnings = output[mark..]
            .iter()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|v| failing(cause)(v))
            .count();
        assert_eq!(warnings, 1, "{cause}: {output:#?}");
    }
    app.terminate(Duration::from_secs(10));
    Ok(())
}
