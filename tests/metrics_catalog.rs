//! Every custom metric a dashboard or alarm names (Terraform for both targets,
//! the SAM template) is one the service really emits, with that exact
//! dimension set: CloudWatch treats another set as another, empty, metric.
//!
//! What is emitted comes from running the binary: on Lambda, the dimension
//! sets its EMF lines declare; on ECS, the attributes its OTLP metrics carry,
//! kept by the `metric_declarations` of config/ecs.yaml (what awsemf does),
//! and without a collector the sets its EMF lines declare.

mod support;

use std::{
    collections::{BTreeMap, BTreeSet},
    process::Stdio,
    time::Duration,
};

use axum_xray_otel::telemetry::metrics::catalog;
use serde_json::Value;
use support::{
    TestResult, client,
    emf::{EmfFile, declared, emf_objects, problems},
    lambda_api::{Invocation, Outcome, RuntimeApi, event},
    otlp::Receiver,
    process::{App, command},
    upstream::{Behaviour, Upstream},
};

/// A metric name with its dimension names, sorted.
type Reference = (String, Vec<String>);

fn repo(path: &str) -> String {
    let path = format!("{}/{path}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn sorted(dims: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut dims: Vec<String> = dims.into_iter().collect();
    dims.sort();
    dims
}

/// `rpc.client.call.duration` is recorded only with `USERS_TABLE` set, which
/// these runs (the in-process store) do not set, so its catalogue entry
/// stands in; tests/dynamodb.rs checks that DynamoDB calls really emit it.
fn pending_aws_call(lambda: bool) -> Vec<Reference> {
    let name = "rpc.client.call.duration".to_owned();
    let base: Vec<&str> = if lambda {
        vec!["service", "function_name"]
    } else {
        vec!["service.name"]
    };
    let with_method = base.iter().copied().chain(["rpc.service", "rpc.method"]);
    vec![
        (name.clone(), sorted(base.iter().map(|d| (*d).to_owned()))),
        (name, sorted(with_method.map(str::to_owned))),
    ]
}

// --- what is referenced ---

/// The items of a bracketed list starting at `text[0] == '['`, split at top-level commas.
fn list_items(text: &str) -> Vec<String> {
    let (mut depth, mut items, mut current) = (0, Vec::new(), String::new());
    for c in text.chars() {
        match c {
            '[' | '{' | '(' => depth += 1,
            ']' | '}' | ')' => depth -= 1,
            _ => {}
        }
        if depth == 0 {
            break;
        }
        if c == ',' && depth == 1 {
            items.push(std::mem::take(&mut current).trim().to_owned());
        } else if !(depth == 1 && c == '[') {
            current.push(c);
        }
    }
    items.push(current.trim().to_owned());
    items
}

fn unquote(s: &str) -> Option<String> {
    s.strip_prefix('"')?.strip_suffix('"').map(str::to_owned)
}

/// References in a monitoring.tf: metric arrays `[local.metrics_namespace,
/// "name", "dim", value, ...]`, SEARCH schemas `{ns,dim,...} MetricName="name"`
/// and alarm metrics (`namespace = local.metrics_namespace`, `metric_name`,
/// `dimensions = { "dim" = ... }`).
fn terraform_references(text: &str) -> Vec<Reference> {
    let mut out = Vec::new();
    for (at, _) in text.match_indices("[local.metrics_namespace,") {
        let items = list_items(&text[at..]);
        let name = unquote(&items[1]).expect("metric name literal");
        let dims = items[2..]
            .iter()
            .filter(|i| !i.starts_with('{'))
            .step_by(2)
            .map(|d| unquote(d).expect("dimension name literal"));
        out.push((name, sorted(dims)));
    }
    for (at, _) in text.match_indices("{${local.metrics_namespace},") {
        let rest = &text[at + "{${local.metrics_namespace},".len()..];
        let dims = rest[..rest.find('}').unwrap()]
            .split(',')
            .map(str::to_owned);
        let name = rest.split("MetricName=\\\"").nth(1).unwrap();
        out.push((name[..name.find('\\').unwrap()].to_owned(), sorted(dims)));
    }
    for (at, _) in text.match_indices("namespace") {
        let rest = text[at + "namespace".len()..].trim_start();
        let Some(block) = rest
            .strip_prefix('=')
            .and_then(|r| r.trim_start().strip_prefix("local.metrics_namespace"))
        else {
            continue;
        };
        let name = block.split("metric_name").nth(1).unwrap();
        let name = unquote(
            name.trim_start()[1..]
                .trim_start()
                .lines()
                .next()
                .unwrap()
                .trim(),
        );
        let dims = block.split("dimensions").nth(1).unwrap();
        let dims = &dims[dims.find('{').unwrap()..dims.find('}').unwrap()];
        let keys = dims
            .split(',')
            .filter_map(|kv| unquote(kv.trim_start_matches(['{', ' ']).split(" =").next()?.trim()));
        out.push((name.expect("alarm metric_name literal"), sorted(keys)));
    }
    out
}

/// References in template.yaml: each `Namespace: axum-xray-otel` followed by
/// `MetricName:` and a `Dimensions:` list of `{ Name: dim, Value: ... }`.
fn sam_references(text: &str) -> Vec<Reference> {
    let mut out = Vec::new();
    let lines: Vec<&str> = text.lines().map(str::trim).collect();
    for (i, line) in lines.iter().enumerate() {
        if *line != "Namespace: axum-xray-otel" {
            continue;
        }
        let name = lines[i + 1]
            .strip_prefix("MetricName: ")
            .expect("MetricName");
        assert_eq!(lines[i + 2], "Dimensions:");
        let dims = lines[i + 3..]
            .iter()
            .map_while(|l| l.strip_prefix("- { Name: "))
            .map(|l| l.split(',').next().unwrap().to_owned());
        out.push((name.to_owned(), sorted(dims)));
    }
    out
}

// --- what is emitted ---

fn outcome_status(outcome: Option<Outcome>) -> u64 {
    match outcome {
        Some(Outcome::Response { body, .. }) => body["statusCode"].as_u64().unwrap_or_default(),
        other => panic!("expected a response, got {other:?}"),
    }
}

/// The dimension sets of the EMF lines of a cold start, a 200, a 502 through
/// the upstream and an unmatched path.
async fn lambda_emitted(upstream: &Upstream) -> TestResult<BTreeSet<Reference>> {
    let (stdout, file) = EmfFile::new()?;
    let path = stdout.0.clone();
    let mut api = RuntimeApi::start(move || EmfFile::emf_lines(&path).len() as u64).await?;
    let mut env = api.lambda_env();
    env.extend([
        ("OTEL_TRACES_EXPORTER", "none".to_owned()),
        ("USERS_LATENCY_MS", "0".to_owned()),
        ("EXTERNAL_URL", upstream.url()),
    ]);
    let mut cmd = command(&env);
    cmd.stdout(Stdio::from(file));
    let _app = App::spawn(cmd)?;
    let with_path = |path: &str| -> TestResult<String> {
        let mut e: Value = serde_json::from_str(&event("function-url.json"))?;
        e["rawPath"] = path.into();
        e["requestContext"]["http"]["path"] = path.into();
        Ok(e.to_string())
    };
    let events = [
        (event("function-url.json"), 200),
        (with_path("/api/external")?, 502),
        (with_path("/no/such/path")?, 404),
        (event("health.json"), 200),
    ];
    for (i, (body, _)) in events.iter().enumerate() {
        api.push(Invocation {
            request_id: format!("req-{i}"),
            trace_header: None,
            body: body.clone(),
        });
    }
    for (_, expected) in &events {
        assert_eq!(outcome_status(api.next_outcome().await), *expected);
    }
    // Lines of the first three were written before the fourth /next.
    let lines = EmfFile::emf_lines(&stdout.0);
    assert!(lines.len() >= 3, "{lines:?}");
    for line in &lines {
        for directive in line["_aws"]["CloudWatchMetrics"].as_array().unwrap() {
            assert_eq!(directive["Namespace"], "axum-xray-otel");
        }
    }
    Ok(lines.iter().flat_map(declared).collect())
}

/// config/ecs.yaml's `metric_declarations`: (metric name, dimension sets).
fn ecs_declarations() -> Vec<(String, Vec<Vec<String>>)> {
    let text = repo("config/ecs.yaml");
    let mut out: Vec<(String, Vec<Vec<String>>)> = Vec::new();
    for line in text.lines().map(str::trim) {
        if let Some(selector) = line.strip_prefix("- metric_name_selectors: [\"^") {
            let name = selector.trim_end_matches("$\"]").replace("\\\\.", ".");
            out.push((name, Vec::new()));
        } else if let Some(set) = line.strip_prefix("- [").and_then(|l| l.strip_suffix(']')) {
            let set = set.split(',').map(|d| d.trim().to_owned());
            out.last_mut()
                .expect("a selector first")
                .1
                .push(sorted(set));
        }
    }
    out
}

/// The ECS CloudWatch metrics: each declaration's dimension sets whose
/// attributes the OTLP data points (plus the resource) really carry.
async fn ecs_emitted(upstream: &Upstream) -> TestResult<BTreeSet<Reference>> {
    let mut receiver = Receiver::start().await?;
    let mut app = App::start_http(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.http_endpoint()),
        ("OTEL_TRACES_EXPORTER", "none".to_owned()),
        ("OTEL_METRIC_EXPORT_INTERVAL", "600000".to_owned()),
        ("USERS_LATENCY_MS", "0".to_owned()),
        ("EXTERNAL_URL", upstream.url()),
    ])?;
    exercise_and_stop(&mut app).await?;
    let mut keys: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for received in receiver.drain_metrics() {
        let entry = keys.entry(received.metric.name.clone()).or_default();
        entry.extend(received.resource.iter().map(|kv| kv.key.clone()));
        if let Some(opentelemetry_proto::tonic::metrics::v1::metric::Data::Histogram(h)) =
            &received.metric.data
        {
            for point in &h.data_points {
                entry.extend(point.attributes.iter().map(|kv| kv.key.clone()));
            }
        }
    }
    let mut out = BTreeSet::new();
    for (name, sets) in ecs_declarations() {
        let Some(carried) = keys.get(&name) else {
            continue;
        };
        for set in sets {
            if set.iter().all(|d| carried.contains(d)) {
                out.insert((name.clone(), set));
            }
        }
    }
    Ok(out)
}

/// A 200, a 502 through the upstream and an unmatched path, then SIGTERM
/// (which exports what was recorded).
async fn exercise_and_stop(app: &mut App) -> TestResult {
    // Two on one route: a histogram of more than one value.
    for (path, status) in [
        ("/api/users/7", 200),
        ("/api/users/8", 200),
        ("/api/external", 502),
        ("/nope", 404),
    ] {
        let got = client().get(app.url(path)).send().await?.status().as_u16();
        assert_eq!(got, status, "{path}");
    }
    app.terminate(Duration::from_secs(25));
    Ok(())
}

/// ECS without a collector (`trace_export = "direct"`): the dimension sets of
/// the EMF lines the binary writes on stdout, flushed at shutdown.
async fn ecs_emf_emitted(upstream: &Upstream) -> TestResult<BTreeSet<Reference>> {
    let mut app = App::start_http(&[
        ("OTEL_TRACES_EXPORTER", "none".to_owned()),
        ("OTEL_METRICS_EXPORTER", "emf".to_owned()),
        ("OTEL_METRIC_EXPORT_INTERVAL", "600000".to_owned()),
        ("USERS_LATENCY_MS", "0".to_owned()),
        ("EXTERNAL_URL", upstream.url()),
    ])?;
    exercise_and_stop(&mut app).await?;
    let output = app.output();
    let lines = emf_objects(output.iter().map(String::as_str));
    assert!(
        !lines.is_empty(),
        "no EMF line at shutdown: {:#?}",
        app.output()
    );
    for line in &lines {
        assert_eq!(problems(line), Vec::<String>::new(), "{line}");
        assert_eq!(line["service.name"], "axum-xray-otel");
        assert!(line.get("function_name").is_none(), "{line}");
    }
    let users = lines
        .iter()
        .find(|l| l["http.route"] == "/api/users/{id}")
        .expect("a line for the users route");
    assert_eq!(users["http.server.request.duration"]["Count"], 2, "{users}");
    Ok(lines.iter().flat_map(declared).collect())
}

fn assert_all_emitted(what: &str, references: &[Reference], emitted: &BTreeSet<Reference>) {
    let missing: Vec<&Reference> = references
        .iter()
        .filter(|r| !emitted.contains(*r))
        .collect();
    assert!(
        missing.is_empty(),
        "{what} names metrics the service does not emit: {missing:#?}\nemitted: {emitted:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboards_and_alarms_name_only_emitted_metrics() -> TestResult {
    let upstream = Upstream::start(Behaviour::Error).await?;

    let mut lambda = lambda_emitted(&upstream).await?;
    let server = "http.server.request.duration".to_owned();
    let set = |dims: &[&str]| sorted(dims.iter().map(|d| (*d).to_owned()));
    // The run covers what the alarms need; the parser below is checked by counts.
    assert!(lambda.contains(&(
        server.clone(),
        set(&["service", "function_name", "http.response.status_class"])
    )));
    lambda.extend(pending_aws_call(true));
    let mut ecs = ecs_emitted(&upstream).await?;
    assert!(ecs.contains(&(
        server.clone(),
        set(&["service.name", "http.route", "http.response.status_class"])
    )));
    ecs.extend(pending_aws_call(false));
    let mut ecs_direct = ecs_emf_emitted(&upstream).await?;
    ecs_direct.extend(pending_aws_call(false));

    let ecs_refs = terraform_references(&repo("terraform/modules/ecs-service/monitoring.tf"));
    let lambda_refs =
        terraform_references(&repo("terraform/modules/lambda-function/monitoring.tf"));
    let sam_refs = sam_references(&repo("template.yaml"));
    // Dashboard metrics, SEARCH schemas and alarm metrics were all found.
    assert_eq!(ecs_refs.len(), 8, "{ecs_refs:#?}");
    assert_eq!(lambda_refs.len(), 10, "{lambda_refs:#?}");
    assert_eq!(sam_refs.len(), 4, "{sam_refs:#?}");
    assert_all_emitted("ecs-service/monitoring.tf", &ecs_refs, &ecs);
    assert_all_emitted("ecs-service/monitoring.tf (direct)", &ecs_refs, &ecs_direct);
    assert_all_emitted("lambda-function/monitoring.tf", &lambda_refs, &lambda);
    assert_all_emitted("template.yaml", &sam_refs, &lambda);
    Ok(())
}

/// Instruments only the Lambda target records: its EMF lines carry them,
/// the ECS collector never sees them.
const LAMBDA_ONLY: &[&str] = &[catalog::COLDSTARTS];

#[test]
fn every_catalogued_instrument_has_the_collector_declaration_of_its_emf_sets() {
    let declarations: BTreeMap<String, Vec<Vec<String>>> = ecs_declarations().into_iter().collect();
    for instrument in catalog::INSTRUMENTS {
        let declared = declarations.get(instrument.name);
        if LAMBDA_ONLY.contains(&instrument.name) {
            assert!(declared.is_none(), "{} is Lambda-only", instrument.name);
            continue;
        }
        let declared = declared.unwrap_or_else(|| {
            panic!(
                "{} has no metric_declarations entry in config/ecs.yaml: the collector would drop it",
                instrument.name
            )
        });
        let expected: Vec<Vec<String>> = instrument
            .emf
            .extra_dimension_sets
            .iter()
            // Sets of an attribute only Lambda's points carry never reach the collector.
            .filter(|set| !set.contains(&catalog::LAMBDA_VERSION))
            .map(|set| {
                sorted(
                    std::iter::once(catalog::HTTP_SERVICE)
                        .chain(set.iter().copied())
                        .map(str::to_owned),
                )
            })
            .collect();
        assert_eq!(
            declared, &expected,
            "{}: config/ecs.yaml vs catalogue",
            instrument.name
        );
    }
    assert_eq!(
        declarations.len(),
        catalog::INSTRUMENTS.len() - LAMBDA_ONLY.len(),
        "config/ecs.yaml declares a metric the catalogue does not have: {declarations:#?}"
    );
}

#[test]
fn the_reference_parser_reads_each_form() {
    let tf = r#"
        [local.metrics_namespace, "m1", "service", local.service, "function_name", var.f, { stat = "p99" }],
        "SEARCH('{${local.metrics_namespace},service.name,http.route} MetricName=\"m2\" x', 'Sum', 60)"
        metric {
          namespace   = local.metrics_namespace
          metric_name = "m3"
          dimensions  = { "service.name" = local.service, "http.response.status_class" = "5xx" }
        }
    "#;
    let set = |dims: &[&str]| sorted(dims.iter().map(|d| (*d).to_owned()));
    assert_eq!(
        terraform_references(tf),
        [
            ("m1".to_owned(), set(&["service", "function_name"])),
            ("m2".to_owned(), set(&["service.name", "http.route"])),
            (
                "m3".to_owned(),
                set(&["service.name", "http.response.status_class"])
            ),
        ]
    );
}
