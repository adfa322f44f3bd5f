//! The Lambda target's metrics: one CloudWatch EMF line on stdout per
//! invocation, written before the runtime asks for the next event, valid by
//! the specification's schema and rules, with `service` and `function_name`
//! dimensions and `ColdStart` on the first invocation only.

mod support;

use std::{
    process::Stdio,
    time::{SystemTime, UNIX_EPOCH},
};

use serde_json::Value;
use support::{
    TestResult,
    emf::{EmfFile, declared, problems},
    lambda_api::{Invocation, Outcome, RuntimeApi, event},
    process::{App, command},
};

fn invocation(id: &str, body: String) -> Invocation {
    Invocation {
        request_id: id.to_owned(),
        trace_header: None,
        body,
    }
}

fn status(outcome: Option<Outcome>) -> u64 {
    match outcome {
        Some(Outcome::Response { body, .. }) => body["statusCode"].as_u64().unwrap_or_default(),
        other => panic!("expected a response, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_invocation_writes_one_valid_emf_line_before_the_next_event() -> TestResult {
    let (stdout, file) = EmfFile::new()?;
    let path = stdout.0.clone();
    let mut api = RuntimeApi::start(move || EmfFile::emf_lines(&path).len() as u64).await?;
    let mut env = api.lambda_env();
    env.extend([
        ("OTEL_TRACES_EXPORTER", "none".to_owned()),
        ("METRICS_NAMESPACE", "Shop/Api".to_owned()),
        ("USERS_LATENCY_MS", "0".to_owned()),
    ]);
    let mut cmd = command(&env);
    cmd.stdout(Stdio::from(file));
    let _app = App::spawn(cmd)?;

    let mut unmatched: Value = serde_json::from_str(&event("function-url.json"))?;
    unmatched["rawPath"] = "/no/such/path".into();
    unmatched["requestContext"]["http"]["path"] = "/no/such/path".into();
    api.push(invocation("req-1", event("function-url.json")));
    api.push(invocation("req-2", event("alb.json")));
    api.push(invocation("req-3", unmatched.to_string()));
    // The fourth only proves that the runtime asked for it after the third.
    api.push(invocation("req-4", event("health.json")));
    for expected in [200, 200, 404, 200] {
        assert_eq!(status(api.next_outcome().await), expected);
    }

    // The double counted EMF lines at each `/next`: 0 before the first event,
    // then exactly one more after each invocation.
    let counts = api.span_counts_at_next();
    assert!(counts.len() >= 4, "{counts:?}");
    assert_eq!(
        counts[..4],
        [0, 1, 2, 3],
        "EMF lines written before each /next"
    );

    let mut lines = EmfFile::emf_lines(&stdout.0);
    lines.truncate(3);
    for line in &lines {
        assert_eq!(problems(line), Vec::<String>::new(), "{line}");
        assert_eq!(line["service"], "axum-xray-otel");
        assert_eq!(line["function_name"], "axum-xray-otel-test");
        for directive in line["_aws"]["CloudWatchMetrics"].as_array().unwrap() {
            assert_eq!(directive["Namespace"], "Shop/Api");
        }
    }
    let routes: Vec<&Value> = lines.iter().map(|l| &l["http.route"]).collect();
    assert_eq!(
        routes,
        [
            &Value::from("/api/users/{id}"),
            &Value::from("/api/users/{id}"),
            &Value::Null
        ]
    );
    let classes: Vec<&Value> = lines
        .iter()
        .map(|l| &l["http.response.status_class"])
        .collect();
    assert_eq!(
        classes,
        [
            &Value::from("2xx"),
            &Value::from("2xx"),
            &Value::from("4xx")
        ]
    );
    let coldstarts: Vec<&Value> = lines.iter().map(|l| &l["ColdStart"]).collect();
    assert_eq!(coldstarts, [&Value::from(1.0), &Value::Null, &Value::Null]);
    for line in &lines {
        let seconds = line["http.server.request.duration"]
            .as_f64()
            .expect("one value");
        assert!(seconds > 0.0 && seconds < 5.0, "{seconds}");
    }

    // The version that served the invocation (AWS_LAMBDA_FUNCTION_VERSION).
    assert!(
        lines.iter().all(|l| l["function_version"] == "7"),
        "{lines:?}"
    );
    let mut first = declared(&lines[0]);
    first.sort();
    let set = |dims: &[&str]| dims.iter().map(|d| (*d).to_owned()).collect::<Vec<_>>();
    let duration = "http.server.request.duration".to_owned();
    let mut expected = vec![
        ("ColdStart".to_owned(), set(&["function_name", "service"])),
        (duration.clone(), set(&["function_name", "service"])),
        (
            duration.clone(),
            set(&[
                "function_name",
                "http.response.status_class",
                "http.route",
                "service",
            ]),
        ),
        (
            duration.clone(),
            set(&["function_name", "http.response.status_class", "service"]),
        ),
        // The version's own 5xx, for the canary's alarm.
        (
            duration,
            set(&[
                "function_name",
                "function_version",
                "http.response.status_class",
                "service",
            ]),
        ),
    ];
    expected.sort();
    assert_eq!(first, expected);
    Ok(())
}

/// A histogram object as AWS's EMF writers make it; `Count` is the counts' total.
fn histogram(values: &[f64], counts: &[u64], min: f64, max: f64, sum: f64) -> serde_json::Value {
    serde_json::json!({
        "Values": values, "Counts": counts, "Max": max, "Min": min,
        "Count": counts.iter().sum::<u64>(), "Sum": sum,
    })
}

#[test]
fn the_checks_reject_what_the_specification_forbids() {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let good = serde_json::json!({
        "_aws": { "Timestamp": now, "CloudWatchMetrics": [
            { "Namespace": "N", "Dimensions": [["service"]], "Metrics": [{ "Name": "m", "Unit": "Seconds" }] }
        ]},
        "service": "s", "m": 0.5
    });
    assert_eq!(problems(&good), Vec::<String>::new());
    let mut histogram_line = good.clone();
    histogram_line["m"] = histogram(&[0.1, 0.3], &[2, 3], 0.05, 0.4, 1.2);
    assert_eq!(problems(&histogram_line), Vec::<String>::new());
    histogram_line["m"]["Count"] = 6.into();
    assert!(
        !problems(&histogram_line).is_empty(),
        "a wrong Count accepted"
    );
    for (pointer, bad) in [
        ("/_aws/Timestamp", serde_json::json!("2026-01-01")),
        ("/_aws/Timestamp", serde_json::json!(now / 1000)),
        (
            "/_aws/CloudWatchMetrics/0/Metrics/0/Unit",
            serde_json::json!("Seconds/Hour"),
        ),
        ("/_aws/CloudWatchMetrics/0/Namespace", serde_json::json!("")),
        ("/service", serde_json::json!(7)),
        ("/service", serde_json::json!("é")),
        ("/m", serde_json::json!(vec![1; 101])),
        ("/m", serde_json::json!("fast")),
        ("/m", histogram(&[0.1, 0.5], &[2, 3], 0.1, 0.3, 1.1)),
        ("/m", histogram(&[0.1], &[2, 3], 0.1, 0.3, 1.1)),
        ("/m", histogram(&[0.1, 0.3], &[2, 3], 0.1, 0.3, 3.0)),
        ("/m", histogram(&vec![0.1; 101], &[1; 101], 0.1, 0.1, 10.1)),
    ] {
        let mut line = good.clone();
        *line.pointer_mut(pointer).unwrap() = bad.clone();
        assert!(!problems(&line).is_empty(), "{pointer} = {bad} accepted");
    }
}
