use super::*;
use serde_json::Value;

fn base() -> Vec<(&'static str, String)> {
    vec![
        ("service", "shop".to_owned()),
        ("function_name", "shop-fn".to_owned()),
    ]
}

fn point(instrument: &str, attributes: &[(&str, &str)], sample: Sample) -> Point {
    Point {
        metric: catalog::emf_metric(instrument).unwrap(),
        attributes: attributes
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        sample,
    }
}

/// One measurement of `seconds`.
fn one(seconds: f64) -> Sample {
    Sample::Distribution(distribution(
        &catalog::DURATION_BUCKETS,
        &[0; 15],
        (Some(seconds), Some(seconds), seconds, 1),
    ))
}

fn parse(lines: &[String]) -> Vec<Value> {
    lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn server(route: Option<&str>, sample: Sample) -> Point {
    let mut attributes = vec![
        ("http.response.status_class", "2xx"),
        ("http.request.method", "GET"),
    ];
    if let Some(route) = route {
        attributes.push(("http.route", route));
    }
    point(catalog::SERVER_DURATION, &attributes, sample)
}

#[test]
fn one_invocation_is_one_object_with_its_dimension_sets() {
    let points = [
        server(Some("/api/users/{id}"), one(0.012)),
        point(catalog::COLDSTARTS, &[], Sample::Number(1.0)),
    ];
    let lines = render("Shop", &base(), &points, 1_700_000_000_000);
    assert_eq!(lines.len(), 1, "{lines:#?}");
    let object = &parse(&lines)[0];
    assert_eq!(object["_aws"]["Timestamp"], 1_700_000_000_000u64);
    assert_eq!(object["service"], "shop");
    assert_eq!(object["function_name"], "shop-fn");
    assert_eq!(object["http.route"], "/api/users/{id}");
    assert_eq!(object["http.server.request.duration"], 0.012);
    assert_eq!(object["ColdStart"], 1.0);
    assert_eq!(
        object["_aws"]["CloudWatchMetrics"],
        json!([
            {
                "Namespace": "Shop",
                "Dimensions": [
                    ["service", "function_name"],
                    ["service", "function_name", "http.response.status_class"],
                    ["service", "function_name", "http.route", "http.response.status_class"]
                ],
                "Metrics": [{ "Name": "http.server.request.duration", "Unit": "Seconds" }]
            },
            {
                "Namespace": "Shop",
                "Dimensions": [["service", "function_name"]],
                "Metrics": [{ "Name": "ColdStart", "Unit": "Count" }]
            }
        ])
    );
}

#[test]
fn an_unmatched_path_has_no_route_dimension_set() {
    let lines = render("Shop", &base(), &[server(None, one(0.001))], 1);
    let object = &parse(&lines)[0];
    assert!(object.get("http.route").is_none());
    assert_eq!(
        object["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
        json!([
            ["service", "function_name"],
            ["service", "function_name", "http.response.status_class"]
        ])
    );
}

#[test]
fn two_routes_go_to_two_objects() {
    let points = [server(Some("/a"), one(0.1)), server(Some("/b"), one(0.2))];
    let objects = parse(&render("Shop", &base(), &points, 1));
    let routes: Vec<&str> = objects
        .iter()
        .map(|o| o["http.route"].as_str().unwrap())
        .collect();
    assert_eq!(routes, ["/a", "/b"]);
}

#[test]
fn a_histogram_is_one_object_of_values_and_counts_however_many_requests() {
    // A million requests in three buckets: 5-10 ms, 25-50 ms and above 10 s.
    let mut counts = [0u64; 15];
    counts[1] = 700_000;
    counts[3] = 299_999;
    counts[14] = 1;
    let sample = distribution(
        &catalog::DURATION_BUCKETS,
        &counts,
        (Some(0.006), Some(12.0), 21_000.0, 1_000_000),
    );
    let lines = render(
        "Shop",
        &base(),
        &[server(Some("/a"), Sample::Distribution(sample))],
        1,
    );
    assert_eq!(lines.len(), 1);
    assert!(lines[0].len() < 1024, "{}", lines[0]);
    assert_eq!(
        parse(&lines)[0]["http.server.request.duration"],
        json!({
            "Values": [0.008, (0.025 + 0.05) / 2.0, 11.0],
            "Counts": [700_000, 299_999, 1],
            "Max": 12.0,
            "Min": 0.006,
            "Count": 1_000_000,
            "Sum": 21_000.0,
        })
    );
}

#[test]
fn more_than_100_bins_are_merged_within_the_limit() {
    let bounds: Vec<f64> = (1..250).map(f64::from).collect();
    let counts = vec![2u64; 250];
    let d = distribution(&bounds, &counts, (Some(0.5), Some(250.0), 31_000.0, 500));
    assert!(d.bins.len() <= 100, "{}", d.bins.len());
    assert_eq!(d.bins.iter().map(|(_, n)| n).sum::<u64>(), 500);
    assert!(d.bins.iter().all(|(v, _)| (0.5..=250.0).contains(v)));
    assert!(d.bins.windows(2).all(|w| w[0].0 < w[1].0));
}

#[test]
fn more_than_100_metrics_are_split_across_lines() {
    let metrics: Vec<Point> = (0..150)
        .map(|i| {
            let metric: &'static EmfMetric = Box::leak(Box::new(EmfMetric {
                name: Box::leak(format!("m{i}").into_boxed_str()),
                unit: "Count",
                extra_dimension_sets: &[&[]],
            }));
            Point {
                metric,
                attributes: BTreeMap::new(),
                sample: Sample::Number(1.0),
            }
        })
        .collect();
    let objects = parse(&render("Shop", &base(), &metrics, 1));
    let counts: Vec<usize> = objects
        .iter()
        .map(|o| {
            o["_aws"]["CloudWatchMetrics"][0]["Metrics"]
                .as_array()
                .unwrap()
                .len()
        })
        .collect();
    assert_eq!(counts, [100, 50]);
}

#[test]
fn dimension_values_are_ascii_and_at_most_1024_characters() {
    let long = format!("/{}", "é".repeat(2000));
    let object = &parse(&render(
        "Shop",
        &base(),
        &[server(Some(&long), one(0.1))],
        1,
    ))[0];
    let route = object["http.route"].as_str().unwrap();
    assert_eq!(route.len(), 1024);
    assert!(route.chars().skip(1).all(|c| c == '_'));
    let blank = &parse(&render("Shop", &base(), &[server(Some("  "), one(0.1))], 1))[0];
    assert!(blank.get("http.route").is_none());
}

#[test]
fn histogram_values_are_exact_for_one_and_bucketed_for_more() {
    let bounds = [0.1, 1.0];
    let single = distribution(&bounds, &[0, 1, 0], (Some(0.4), Some(0.4), 0.4, 1));
    assert_eq!(single.bins, [(0.4, 1)]);
    assert_eq!(Sample::Distribution(single).to_json(), json!(0.4));
    let three = distribution(&bounds, &[2, 0, 1], (Some(0.0), Some(3.0), 3.1, 3));
    assert_eq!(three.bins, [(0.05, 2), (2.0, 1)]);
    assert_eq!((three.min, three.max, three.count), (0.0, 3.0, 3));
}

#[test]
fn base_dimensions_follow_the_target() {
    let resource = Resource::builder_empty()
        .with_attributes([
            opentelemetry::KeyValue::new(semconv::SERVICE_NAME, "shop"),
            opentelemetry::KeyValue::new(semconv::FAAS_NAME, "shop-fn"),
        ])
        .build();
    let lambda = EmfExporter::new("ns".into(), &resource, Target::Lambda);
    assert_eq!(lambda.base, base());
    // ECS: the dimension the collector's awsemf makes, so dashboards read either path.
    let http = EmfExporter::new("ns".into(), &resource, Target::Http);
    assert_eq!(http.base, [("service.name", "shop".to_owned())]);
}
