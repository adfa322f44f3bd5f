//! X-Ray centralized sampling end to end: the real binary with
//! `OTEL_TRACES_SAMPLER=xray` against a double of X-Ray's sampling APIs (as
//! the collector's `awsproxy` serves them) and the OTLP receiver double.
//! The fractions are measured over many requests; the statistics the app
//! reports must add up to what was sent.

mod support;

use std::{collections::BTreeMap, time::Duration};

use support::{
    DEADLINE, TestResult, XRAY_PARENT, XRAY_ROOT, XRAY_TRACE_HEX, client,
    lambda_api::{Invocation, Outcome, RuntimeApi, event},
    otlp::{ClosedPort, Receiver},
    process::{App, command},
    xray_sampling::{Rule, SamplingApi, Totals},
};

fn env(receiver: &Receiver, endpoint: &str) -> Vec<(&'static str, String)> {
    vec![
        ("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.http_endpoint()),
        ("OTEL_BSP_SCHEDULE_DELAY", "20".to_owned()),
        ("OTEL_BSP_MAX_QUEUE_SIZE", "100000".to_owned()),
        ("USERS_LATENCY_MS", "0".to_owned()),
        ("OTEL_TRACES_SAMPLER", "xray".to_owned()),
        (
            "OTEL_TRACES_SAMPLER_ARG",
            format!("endpoint={endpoint},polling_interval=300"),
        ),
    ]
}

/// GETs every path, 16 at a time, each with its headers; all must answer.
async fn send(app: &App, requests: Vec<(String, Vec<(&'static str, String)>)>) -> TestResult {
    let http = client();
    let mut tasks = tokio::task::JoinSet::new();
    let mut pending = requests.into_iter();
    loop {
        while tasks.len() < 16 {
            let Some((path, headers)) = pending.next() else {
                break;
            };
            let mut request = http.get(app.url(&path));
            for (k, v) in headers {
                request = request.header(k, v);
            }
            tasks.spawn(async move { request.send().await.map(|r| r.status().as_u16()) });
        }
        let Some(done) = tasks.join_next().await else {
            break;
        };
        let status = done??;
        assert!(status == 200 || status == 404, "{status}");
    }
    Ok(())
}

/// Waits (up to a deadline) until the statistics reported add up to `requests`.
async fn reported(api: &SamplingApi, requests: u64) -> BTreeMap<String, Totals> {
    let end = tokio::time::Instant::now() + DEADLINE + Duration::from_secs(15);
    loop {
        let totals = api.totals();
        let sum: u64 = totals.values().map(|t| t.requests).sum();
        if sum >= requests || tokio::time::Instant::now() >= end {
            return totals;
        }
        // Polling the double's state, not synchronising on time.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn samples_by_xrays_rules_and_reports_what_it_did() -> TestResult {
    let mut receiver = Receiver::start().await?;
    let api = SamplingApi::start(vec![
        Rule {
            name: "users-30",
            priority: 10,
            fixed_rate: 0.3,
            reservoir_size: 0,
            url_path: "/api/users/*",
            http_method: "GET",
            service_name: "*",
        },
        Rule {
            name: "users-none",
            priority: 1,
            fixed_rate: 0.0,
            reservoir_size: 0,
            url_path: "/api/users/9*",
            http_method: "*",
            service_name: "axum-xray-otel",
        },
        // Borrows one a second until X-Ray assigns a quota (this double assigns none).
        Rule {
            name: "users-borrow",
            priority: 5,
            fixed_rate: 0.0,
            reservoir_size: 1,
            url_path: "/api/users/8*",
            http_method: "*",
            service_name: "*",
        },
        Rule {
            fixed_rate: 1.0,
            reservoir_size: 0,
            ..Rule::default_rule()
        },
    ])
    .await?;
    let mut app = App::start_http(&env(&receiver, &api.endpoint()))?;
    let loaded = app.wait_for_log(|v| v["message"] == "x-ray sampling rules loaded");
    assert_eq!(
        loaded.map(|v| v["rules"].clone()),
        Some(4.into()),
        "{:#?}",
        app.output()
    );

    let (thirty, none, default): (u32, u32, u32) = (1500, 200, 50);
    let mut requests: Vec<(String, Vec<(&'static str, String)>)> = Vec::new();
    requests.extend((0..thirty).map(|i| (format!("/api/users/{}", 1000 + i), vec![])));
    requests.extend((0..none).map(|i| (format!("/api/users/9{i}"), vec![])));
    requests.extend((0..default).map(|_| ("/".to_owned(), vec![])));
    let borrow: u32 = 50;
    requests.extend((0..borrow).map(|i| (format!("/api/users/8{i}"), vec![])));
    // An incoming decision wins over the rules; an ALB Root without one does not.
    let decided = |i: u32| format!("Root=1-5759e988-{i:024x};Sampled=1");
    let alb = |i: u32| format!("Root=1-5759e988-{:024x}", 0xa1b0_0000u32 + i);
    let traceparent = |i: u32| {
        format!(
            "00-{:032x}-00f067aa0ba902b7-01",
            0x00c0_ffee_0000_u64 + u64::from(i)
        )
    };
    for i in 1..=20u32 {
        requests.push((
            format!("/api/users/9{i}"),
            vec![("x-amzn-trace-id", decided(i))],
        ));
        requests.push((
            format!("/api/users/9{i}"),
            vec![("traceparent", traceparent(i))],
        ));
        requests.push((
            format!("/api/users/9{i}"),
            vec![("x-amzn-trace-id", alb(i))],
        ));
    }
    let started = std::time::Instant::now();
    send(&app, requests).await?;
    let seconds = started.elapsed().as_secs() + 1;

    // Decided by the rules: those sent plus the 20 ALB roots.
    let by_rules = u64::from(thirty + none + default + borrow + 20);
    let totals = reported(&api, by_rules).await;
    app.terminate(Duration::from_secs(25));
    let spans = receiver.drain();
    let server: Vec<_> = spans.iter().filter(|s| s.is_server()).collect();
    let count = |pred: &dyn Fn(&str) -> bool| {
        server
            .iter()
            .filter(|s| s.attr("url.path").is_some_and(|p| pred(&p)))
            .count() as u64
    };
    let sampled_thirty = count(&|p| {
        p.starts_with("/api/users/")
            && !p.starts_with("/api/users/9")
            && !p.starts_with("/api/users/8")
    });
    let sampled_borrowed = count(&|p| p.starts_with("/api/users/8"));
    let sampled_none = count(&|p| p.starts_with("/api/users/9"));
    let sampled_default = count(&|p| p == "/");

    // 450 expected; 5 standard deviations (89) either side.
    assert!(
        (450 - 89..=450 + 89).contains(&sampled_thirty),
        "{sampled_thirty} of {thirty} sampled at a fixed rate of 0.3; reported {totals:?}"
    );
    assert_eq!(
        sampled_default,
        u64::from(default),
        "the Default rule samples all"
    );
    // Only the 40 whose caller decided: the ALB roots were dropped by the rule.
    assert_eq!(sampled_none, 40, "the higher-priority rule's rate of 0");
    // One a second at most, in the seconds the requests took.
    assert!(
        (1..=seconds).contains(&sampled_borrowed),
        "{sampled_borrowed} borrowed in {seconds} s"
    );
    let decided_ids: Vec<_> = server
        .iter()
        .filter(|s| {
            s.attr("url.path")
                .is_some_and(|p| p.starts_with("/api/users/9"))
        })
        .filter(|s| s.trace_id().starts_with("5759e988"))
        .collect();
    assert_eq!(decided_ids.len(), 20, "X-Ray's Sampled=1 wins");

    let expected = BTreeMap::from([
        (
            "Default".to_owned(),
            Totals {
                requests: u64::from(default),
                sampled: u64::from(default),
                borrowed: 0,
            },
        ),
        (
            "users-30".to_owned(),
            Totals {
                requests: u64::from(thirty),
                sampled: sampled_thirty,
                borrowed: 0,
            },
        ),
        (
            "users-none".to_owned(),
            Totals {
                requests: u64::from(none) + 20,
                sampled: 0,
                borrowed: 0,
            },
        ),
        (
            "users-borrow".to_owned(),
            Totals {
                requests: u64::from(borrow),
                sampled: sampled_borrowed,
                borrowed: sampled_borrowed,
            },
        ),
    ]);
    assert_eq!(
        totals, expected,
        "statistics reported to GetSamplingTargets"
    );
    assert_eq!(
        api.errors(),
        Vec::<String>::new(),
        "requests off the API's shapes"
    );
    assert_eq!(api.rule_fetches(), 1);
    assert_eq!(api.client_ids().len(), 1, "one ClientID per process");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn samples_one_a_second_plus_five_percent_when_xray_is_unreachable() -> TestResult {
    let mut receiver = Receiver::start().await?;
    let closed = ClosedPort::new()?;
    let endpoint = closed.endpoint();
    let endpoint = endpoint.trim_end_matches("/v1/traces");
    let mut app = App::start_http(&env(&receiver, endpoint))?;
    let warned = app.wait_for_log(|v| {
        v["level"] == "WARN"
            && v["message"]
                .as_str()
                .is_some_and(|m| m.contains("1 request/s plus 5%"))
    });
    assert!(warned.is_some(), "{:#?}", app.output());
    let n = 400;
    send(
        &app,
        (1..=n)
            .map(|i| (format!("/api/users/{i}"), vec![]))
            .collect(),
    )
    .await?;
    app.terminate(Duration::from_secs(25));
    let sampled = receiver.drain().iter().filter(|s| s.is_server()).count();
    // 20 expected at 5 %, 5 standard deviations (22) above, plus one a second.
    assert!((1..=45).contains(&sampled), "{sampled} of {n}");
    let warnings = app
        .output()
        .iter()
        .filter(|l| l.contains("cannot reach X-Ray"))
        .count();
    assert_eq!(warnings, 1, "logged once");
    Ok(())
}

/// Without a collector the app calls X-Ray itself, signed. The double stands
/// in for `xray.eu-west-1.amazonaws.com` as the app's HTTP proxy and has
/// botocore check every signature.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signs_its_calls_to_xray_on_the_direct_path() -> TestResult {
    let mut receiver = Receiver::start().await?;
    let (key, secret) = ("AKIASAMPLINGTEST", "sampling/secret/key");
    let api = SamplingApi::start_signed(
        vec![Rule {
            fixed_rate: 1.0,
            reservoir_size: 0,
            ..Rule::default_rule()
        }],
        "eu-west-1",
        key,
        secret,
    )
    .await?;
    let mut env = env(&receiver, "http://xray.eu-west-1.amazonaws.com");
    env.extend([
        ("HTTP_PROXY", api.endpoint()),
        ("NO_PROXY", "127.0.0.1,localhost".to_owned()),
        ("AWS_ACCESS_KEY_ID", key.to_owned()),
        ("AWS_SECRET_ACCESS_KEY", secret.to_owned()),
        ("AWS_REGION", "eu-west-1".to_owned()),
    ]);
    let mut app = App::start_http(&env)?;
    let loaded = app.wait_for_log(|v| v["message"] == "x-ray sampling rules loaded");
    assert!(loaded.is_some(), "{:?} {:#?}", api.errors(), app.output());
    let n = 30;
    send(
        &app,
        (1..=n)
            .map(|i| (format!("/api/users/{i}"), vec![]))
            .collect(),
    )
    .await?;
    let totals = reported(&api, n).await;
    app.terminate(Duration::from_secs(25));
    let sampled = receiver.drain().iter().filter(|s| s.is_server()).count() as u64;
    assert_eq!(sampled, n, "the Default rule here samples all");
    assert_eq!(
        totals.get("Default"),
        Some(&Totals {
            requests: n,
            sampled: n,
            borrowed: 0
        })
    );
    assert_eq!(api.errors(), Vec::<String>::new(), "refused requests");
    Ok(())
}

/// On Lambda the invocation's trace header decides: `xray` polls nothing
/// there, and a `Sampled=0` invocation stays unsampled whatever the rules.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_lambda_the_invocation_header_decides_and_nothing_is_polled() -> TestResult {
    let mut receiver = Receiver::start().await?;
    let xray = SamplingApi::start(vec![Rule::default_rule()]).await?;
    let mut runtime = RuntimeApi::start(receiver.counter()).await?;
    let mut env = runtime.lambda_env();
    env.extend(env_lambda(&receiver, &xray.endpoint()));
    let mut app = App::spawn(command(&env))?;
    for (id, sampled) in [("sampled", 1), ("dropped", 0)] {
        runtime.push(Invocation {
            request_id: id.to_owned(),
            trace_header: Some(format!(
                "Root={XRAY_ROOT};Parent={XRAY_PARENT};Sampled={sampled}"
            )),
            body: event("function-url.json"),
        });
        let outcome = runtime.next_outcome().await;
        assert!(
            matches!(outcome, Some(Outcome::Response { .. })),
            "{outcome:?}"
        );
    }
    app.terminate(Duration::from_secs(10));
    let servers: Vec<_> = receiver
        .drain()
        .into_iter()
        .filter(|s| s.is_server())
        .map(|s| (s.trace_id(), s.attr("faas.invocation_id")))
        .collect();
    assert_eq!(
        servers,
        [(XRAY_TRACE_HEX.to_owned(), Some("sampled".to_owned()))]
    );
    assert_eq!((xray.rule_fetches(), xray.target_calls()), (0, 0));
    Ok(())
}

fn env_lambda(receiver: &Receiver, endpoint: &str) -> Vec<(&'static str, String)> {
    env(receiver, endpoint)
        .into_iter()
        .filter(|(k, _)| *k != "OTEL_BSP_MAX_QUEUE_SIZE")
        .collect()
}
