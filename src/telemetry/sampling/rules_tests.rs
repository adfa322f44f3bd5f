//! Rule matching, with cases from two other implementations' tests:
//! opentelemetry-java-contrib aws-xray `SamplingRuleApplierTest` (its
//! `ExactMatch` and `WildcardMatch` cases; the wildcard rule's patterns are
//! the ones its cases imply) and opentelemetry-go-contrib
//! samplers/aws/xray/internal/rule_test.go (`TestAppliesTo*`, `Test*AttributeMatching`).

use opentelemetry_sdk::trace::{IdGenerator, RandomIdGenerator};

use super::*;

fn rule(fields: &[(&str, &str)]) -> SamplingRule {
    let get = |name: &str, default: &str| {
        fields
            .iter()
            .find(|(k, _)| *k == name)
            .map_or(default, |(_, v)| *v)
            .to_owned()
    };
    SamplingRule {
        rule_name: get("RuleName", "Test"),
        priority: get("Priority", "1").parse().unwrap(),
        fixed_rate: get("FixedRate", "1.0").parse().unwrap(),
        reservoir_size: get("ReservoirSize", "0").parse().unwrap(),
        service_name: get("ServiceName", "*"),
        service_type: get("ServiceType", "*"),
        host: get("Host", "*"),
        http_method: get("HTTPMethod", "*"),
        url_path: get("URLPath", "*"),
        resource_arn: get("ResourceARN", "*"),
        version: 1,
        attributes: fields
            .iter()
            .filter_map(|(k, v)| Some((k.strip_prefix("attr:")?.to_owned(), (*v).to_owned())))
            .collect(),
    }
}

fn service(name: &str, kind: Option<&str>, arn: Option<&str>) -> Service {
    Service {
        name: name.to_owned(),
        kind: kind.map(str::to_owned),
        arn: arn.map(str::to_owned),
    }
}

fn span(method: &str, host: &str, path: &str, extra: &[(&'static str, &str)]) -> Vec<KeyValue> {
    let mut attributes = vec![
        KeyValue::new(semconv::HTTP_REQUEST_METHOD, method.to_owned()),
        KeyValue::new(semconv::SERVER_ADDRESS, host.to_owned()),
        KeyValue::new(semconv::URL_PATH, path.to_owned()),
    ];
    attributes.extend(
        extra
            .iter()
            .map(|(k, v)| KeyValue::new(*k, (*v).to_owned())),
    );
    attributes
}

fn applies(rule_fields: &[(&str, &str)], service: &Service, attributes: &[KeyValue]) -> bool {
    let set = RuleSet::new(vec![rule(rule_fields)], None);
    set.find(service, attributes).is_some()
}

const ARN: &str = "arn:aws:xray:us-east-1:595986152929:my-service";

#[test]
fn exact_rules_match_only_their_request() {
    let exact = [
        ("ServiceName", "test-service-foo-bar"),
        ("ServiceType", "AWS::EKS::Container"),
        ("ResourceARN", ARN),
        ("HTTPMethod", "GET"),
        ("Host", "opentelemetry.io"),
        ("URLPath", "/instrument-me"),
        ("attr:animal", "cat"),
    ];
    let svc = service(
        "test-service-foo-bar",
        Some("AWS::EKS::Container"),
        Some(ARN),
    );
    let request = |method, host, path, animal| {
        let extra: &[(&str, &str)] = match animal {
            Some(animal) => &[("animal", animal), ("speed", "10")],
            None => &[("speed", "10")],
        };
        span(method, host, path, extra)
            .into_iter()
            .collect::<Vec<_>>()
    };
    let ok = request("GET", "opentelemetry.io", "/instrument-me", Some("cat"));
    assert!(applies(&exact, &svc, &ok));
    let cases: [(&str, Service, Vec<KeyValue>); 9] = [
        (
            "service name",
            service("test-service-foo-baz", svc.kind.as_deref(), Some(ARN)),
            ok.clone(),
        ),
        ("no service name", service("", None, None), ok.clone()),
        (
            "method",
            svc.clone(),
            request("POST", "opentelemetry.io", "/instrument-me", Some("cat")),
        ),
        // A dot is no regex wildcard.
        (
            "host",
            svc.clone(),
            request("GET", "opentelemetryfio", "/instrument-me", Some("cat")),
        ),
        (
            "path",
            svc.clone(),
            request("GET", "opentelemetry.io", "/instrument-you", Some("cat")),
        ),
        (
            "attribute",
            svc.clone(),
            request("GET", "opentelemetry.io", "/instrument-me", Some("dog")),
        ),
        (
            "missing attribute",
            svc.clone(),
            request("GET", "opentelemetry.io", "/instrument-me", None),
        ),
        (
            "service type",
            service(
                "test-service-foo-bar",
                Some("AWS::EC2::Instance"),
                Some(ARN),
            ),
            ok.clone(),
        ),
        (
            "arn",
            service(
                "test-service-foo-bar",
                svc.kind.as_deref(),
                Some("arn:aws:xray:us-east-1:595986152929:my-service2"),
            ),
            ok.clone(),
        ),
    ];
    for (what, svc, attributes) in cases {
        assert!(
            !applies(&exact, &svc, &attributes),
            "{what} should not match"
        );
    }
}

#[test]
fn wildcard_rules_match_their_patterns() {
    let wild = [
        ("ServiceName", "test-service-foo-*"),
        ("HTTPMethod", "*GET*"),
        ("URLPath", "/instrument-me?foo=bar&cat=*"),
    ];
    let svc = |name: &str| service(name, Some("AWS::EKS::Container"), Some(ARN));
    let path = "/instrument-me?foo=bar&cat=meow";
    for name in [
        "test-service-foo-bar",
        "test-service-foo-baz",
        "test-service-foo-",
    ] {
        assert!(
            applies(&wild, &svc(name), &span("GET", "h", path, &[])),
            "{name}"
        );
    }
    for name in ["test-service-foo", "prod-service-foo-bar", ""] {
        assert!(
            !applies(&wild, &svc(name), &span("GET", "h", path, &[])),
            "{name}"
        );
    }
    let ok = svc("test-service-foo-bar");
    for method in ["BADGETGOOD", "BADGET", "GETGET"] {
        assert!(
            applies(&wild, &ok, &span(method, "h", path, &[])),
            "{method}"
        );
    }
    assert!(!applies(&wild, &ok, &span("POST", "h", path, &[])));
    assert!(!applies(&wild, &ok, &[]), "no method");
    // A question mark is a wildcard, the query is part of the pattern.
    for path in ["/instrument-me?foo=bar&cat=", "/instrument-meafoo=bar&cat="] {
        assert!(applies(&wild, &ok, &span("GET", "h", path, &[])), "{path}");
    }
    for path in [
        "/instrument-mea?foo=bar&cat=",
        "foo/instrument-meafoo=bar&cat=",
    ] {
        assert!(!applies(&wild, &ok, &span("GET", "h", path, &[])), "{path}");
    }
}

#[test]
fn star_patterns_match_spans_without_http_attributes_and_others_do_not() {
    let svc = service("test-service", Some("EC2"), None);
    let base = [("ServiceName", "test-service"), ("ServiceType", "EC2")];
    let with = |more: &[(&'static str, &'static str)]| {
        base.iter().chain(more).copied().collect::<Vec<_>>()
    };
    let http = [
        ("Host", "localhost"),
        ("HTTPMethod", "GET"),
        ("URLPath", "/"),
    ];
    assert!(applies(
        &with(&http),
        &svc,
        &span("GET", "localhost", "/", &[])
    ));
    assert!(applies(
        &with(&[]),
        &svc,
        &span("GET", "localhost", "/", &[])
    ));
    assert!(!applies(&with(&http), &svc, &[]));
    assert!(applies(&with(&[]), &svc, &[]));
    assert!(!applies(&with(&[("HTTPMethod", "GET")]), &svc, &[]));
    assert!(!applies(
        &with(&[]),
        &service("test-service", Some("ECS"), None),
        &[]
    ));
}

#[test]
fn every_rule_attribute_must_be_on_the_span_and_match() {
    let svc = service("s", None, None);
    let labels = span(
        "GET",
        "h",
        "/",
        &[("labelA", "chocolate"), ("labelB", "raspberry")],
    );
    let both = [("attr:labelA", "chocolate"), ("attr:labelB", "raspberry")];
    assert!(applies(&both, &svc, &labels));
    assert!(applies(
        &[("attr:labelA", "choco*"), ("attr:labelB", "rasp*")],
        &svc,
        &labels
    ));
    assert!(!applies(
        &[("attr:labelA", "chocolate"), ("attr:labelC", "fudge")],
        &svc,
        &labels
    ));
    assert!(applies(&[], &svc, &labels));
}

#[test]
fn an_unlisted_method_matches_by_its_real_name() {
    let svc = service("s", None, None);
    let attributes = [
        KeyValue::new(semconv::HTTP_REQUEST_METHOD, "_OTHER"),
        KeyValue::new(semconv::HTTP_REQUEST_METHOD_ORIGINAL, "PURGE"),
    ];
    assert!(applies(&[("HTTPMethod", "PURGE")], &svc, &attributes));
    assert!(!applies(&[("HTTPMethod", "_OTHER")], &svc, &attributes));
}

#[test]
fn rules_are_tried_by_priority_then_name_and_default_last() {
    let svc = service("s", None, None);
    let set = RuleSet::new(
        vec![
            rule(&[("RuleName", "Default"), ("Priority", "10000")]),
            rule(&[
                ("RuleName", "b-users"),
                ("Priority", "5"),
                ("URLPath", "/users*"),
            ]),
            rule(&[
                ("RuleName", "a-users"),
                ("Priority", "5"),
                ("URLPath", "/users/*"),
            ]),
            rule(&[
                ("RuleName", "health"),
                ("Priority", "1"),
                ("URLPath", "/health"),
            ]),
        ],
        None,
    );
    let found = |path| {
        set.find(&svc, &span("GET", "h", path, &[]))
            .map(|r| r.name.as_str())
    };
    assert_eq!(found("/health"), Some("health"));
    assert_eq!(found("/users/7"), Some("a-users"));
    assert_eq!(found("/users"), Some("b-users"));
    assert_eq!(found("/"), Some("Default"));
}

#[test]
fn rules_of_another_version_are_ignored() {
    let mut v2 = rule(&[("RuleName", "v2")]);
    v2.version = 2;
    let set = RuleSet::new(vec![v2], None);
    assert!(set.find(&service("s", None, None), &[]).is_none());
}

fn trace_id() -> TraceId {
    RandomIdGenerator::default().new_trace_id()
}

#[test]
fn a_fixed_rate_samples_that_fraction_and_counts_it() {
    let set = RuleSet::new(vec![rule(&[("FixedRate", "0.3")])], None);
    let rule = &set.rules[0];
    let n = 20_000;
    let sampled = (0..n)
        .filter(|_| rule.sample(trace_id(), 0) == SamplingDecision::RecordAndSample)
        .count();
    // 6,000 expected; 5 standard deviations (65) either side.
    assert!((6000 - 325..=6000 + 325).contains(&sampled), "{sampled}");
    assert_eq!(rule.state.requests.load(Relaxed), n as u64);
    assert_eq!(rule.state.sampled.load(Relaxed), sampled as u64);
    assert_eq!(rule.state.borrowed.load(Relaxed), 0);
}

#[test]
fn the_reservoir_comes_before_the_fixed_rate() {
    let set = RuleSet::new(
        vec![rule(&[("FixedRate", "0"), ("ReservoirSize", "10")])],
        None,
    );
    let rule = &set.rules[0];
    let now = 1_700_000_000_000;
    let decisions: Vec<_> = (0..3).map(|_| rule.sample(trace_id(), now)).collect();
    use SamplingDecision::{Drop, RecordAndSample};
    assert_eq!(decisions, [RecordAndSample, Drop, Drop]);
    assert_eq!(rule.state.borrowed.load(Relaxed), 1);
    rule.state.reservoir.assign(2, now + 10_000);
    let decisions: Vec<_> = (0..3).map(|_| rule.sample(trace_id(), now)).collect();
    assert_eq!(decisions, [RecordAndSample, RecordAndSample, Drop]);
    assert_eq!(rule.state.sampled.load(Relaxed), 3);
    assert_eq!(rule.state.requests.load(Relaxed), 6);
}

#[test]
fn a_refresh_keeps_each_rules_counts_and_quota() {
    let first = RuleSet::new(
        vec![rule(&[("RuleName", "r"), ("ReservoirSize", "1")])],
        None,
    );
    first.rules[0].sample(trace_id(), 0);
    let second = RuleSet::new(
        vec![
            rule(&[("RuleName", "r"), ("FixedRate", "0.5")]),
            rule(&[("RuleName", "new")]),
        ],
        Some(&first),
    );
    assert_eq!(second.get("r").unwrap().state.requests.load(Relaxed), 1);
    assert_eq!(second.get("new").unwrap().state.requests.load(Relaxed), 0);
}
