use std::time::Duration;

use super::super::parse;
use super::*;

#[test]
fn defaults_match_the_documented_table() {
    let t = parse(&[]).unwrap().telemetry.traces;
    assert_eq!(t.exporter, TracesExporter::Otlp);
    assert_eq!(t.otlp.protocol, OtlpProtocol::HttpProtobuf);
    assert_eq!(t.otlp.endpoint, "http://localhost:4318/v1/traces");
    assert_eq!(t.sampler, SamplerConfig::ParentBasedAlwaysOn);
    assert!(!t.health_checks);
}

#[test]
fn span_queue_sizes_default_small_and_are_checked() {
    let b = parse(&[]).unwrap().telemetry.traces.batch;
    assert_eq!((b.queue_size, b.batch_size), (2048, 512));
    let b = parse(&[("OTEL_BSP_MAX_QUEUE_SIZE", "64")])
        .unwrap()
        .telemetry
        .traces
        .batch;
    assert_eq!((b.queue_size, b.batch_size), (64, 64));
    let err = parse(&[
        ("OTEL_BSP_MAX_QUEUE_SIZE", "100"),
        ("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "200"),
    ])
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("OTEL_BSP_MAX_EXPORT_BATCH_SIZE: 200 is more than"),
        "{err}"
    );
    assert!(parse(&[("OTEL_BSP_MAX_QUEUE_SIZE", "0")]).is_err());
}

#[test]
fn span_delay_is_milliseconds_never_zero() {
    let b = parse(&[]).unwrap().telemetry.traces.batch;
    assert_eq!(b.schedule_delay, Duration::from_secs(5));
    let b = parse(&[("OTEL_BSP_SCHEDULE_DELAY", "200")])
        .unwrap()
        .telemetry
        .traces
        .batch;
    assert_eq!(b.schedule_delay, Duration::from_millis(200));
    let err = parse(&[("OTEL_BSP_SCHEDULE_DELAY", "0")])
        .unwrap_err()
        .to_string();
    assert!(err.contains("OTEL_BSP_SCHEDULE_DELAY: '0' is not"), "{err}");
}

fn otlp(pairs: &[(&str, &str)]) -> OtlpTraces {
    parse(pairs).unwrap().telemetry.traces.otlp
}

#[test]
fn endpoints_follow_the_otel_spec() {
    let c = otlp(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318/")]);
    assert_eq!(c.endpoint, "http://collector:4318/v1/traces");
    let c = otlp(&[("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")]);
    assert_eq!(c.endpoint, "http://localhost:4317");
    let c = otlp(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://a:4318"),
        ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://b:9999/custom"),
    ]);
    assert_eq!(c.endpoint, "http://b:9999/custom");
}

#[test]
fn xray_endpoints_are_signed_for_their_region_by_default() {
    let c = otlp(&[(
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        "https://xray.eu-west-1.amazonaws.com/v1/traces",
    )]);
    assert_eq!(
        c.auth,
        TracesAuth::SigV4 {
            region: "eu-west-1".into()
        }
    );
    let c = otlp(&[(
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "https://xray.cn-north-1.amazonaws.com.cn",
    )]);
    assert_eq!(
        c.auth,
        TracesAuth::SigV4 {
            region: "cn-north-1".into()
        }
    );
    for other in [
        "http://localhost:4318/v1/traces",
        "https://xray.eu-west-1.amazonaws.com/v1/logs",
        "https://xray.eu-west-1.amazonaws.com.evil.example/v1/traces",
        "https://notxray.eu-west-1.amazonaws.com/v1/traces",
    ] {
        let c = otlp(&[("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", other)]);
        assert_eq!(c.auth, TracesAuth::None, "{other}");
    }
}

#[test]
fn signing_can_be_forced_or_turned_off() {
    let c = otlp(&[
        ("OTEL_EXPORTER_OTLP_TRACES_AUTH", "sigv4"),
        ("AWS_REGION", "us-east-2"),
    ]);
    assert_eq!(
        c.auth,
        TracesAuth::SigV4 {
            region: "us-east-2".into()
        }
    );
    let c = otlp(&[
        ("OTEL_EXPORTER_OTLP_TRACES_AUTH", "none"),
        (
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            "https://xray.eu-west-1.amazonaws.com/v1/traces",
        ),
    ]);
    assert_eq!(c.auth, TracesAuth::None);
    let err = parse(&[("OTEL_EXPORTER_OTLP_TRACES_AUTH", "sigv4")]).unwrap_err();
    assert_eq!(err.0[0].var, "OTEL_EXPORTER_OTLP_TRACES_AUTH");
    assert!(err.0[0].problem.contains("AWS_REGION"), "{err}");
    let err = parse(&[
        ("OTEL_EXPORTER_OTLP_TRACES_AUTH", "sigv4"),
        ("AWS_REGION", "us-east-2"),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
    ])
    .unwrap_err();
    assert!(err.to_string().contains("http/protobuf"), "{err}");
    let err = parse(&[("OTEL_EXPORTER_OTLP_TRACES_AUTH", "iam")]).unwrap_err();
    assert!(err.to_string().contains("'iam' is not one of sigv4, none"));
}

#[test]
fn the_traces_timeout_wins_over_the_general_one() {
    assert_eq!(otlp(&[]).timeout, Duration::from_secs(10));
    let c = otlp(&[("OTEL_EXPORTER_OTLP_TIMEOUT", "2000")]);
    assert_eq!(c.timeout, Duration::from_secs(2));
    let c = otlp(&[
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "2000"),
        ("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "500"),
    ]);
    assert_eq!(c.timeout, Duration::from_millis(500));
}

#[test]
fn trace_export_compression_and_headers_follow_the_otlp_variables() {
    let c = otlp(&[]);
    assert!(!c.gzip);
    assert!(c.headers.is_empty());
    let c = otlp(&[
        ("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip"),
        ("OTEL_EXPORTER_OTLP_HEADERS", "x-team=a%20b, api-key=secret"),
        ("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "API-Key=s3cr3t"),
    ]);
    assert!(c.gzip);
    let headers: Vec<(&str, &str)> = c
        .headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.to_str().unwrap()))
        .collect();
    assert_eq!(headers, [("x-team", "a b"), ("api-key", "s3cr3t")]);
    assert!(
        !format!("{c:?}").contains("s3cr3t"),
        "values are not printed"
    );
    let c = otlp(&[
        ("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip"),
        ("OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "none"),
    ]);
    assert!(!c.gzip);

    let err = parse(&[
        ("OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "zstd"),
        ("OTEL_EXPORTER_OTLP_HEADERS", "ok=1,broken,bad=%zz"),
    ])
    .unwrap_err();
    let vars: Vec<&str> = err.0.iter().map(|e| e.var).collect();
    assert_eq!(
        vars,
        [
            "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION",
            "OTEL_EXPORTER_OTLP_HEADERS",
            "OTEL_EXPORTER_OTLP_HEADERS"
        ]
    );
    assert!(!err.to_string().contains("%zz"), "{err}");
}

#[test]
fn sampler_ratio_is_validated() {
    let c = parse(&[
        ("OTEL_TRACES_SAMPLER", "parentbased_traceidratio"),
        ("OTEL_TRACES_SAMPLER_ARG", "0.25"),
    ])
    .unwrap();
    assert_eq!(
        c.telemetry.traces.sampler,
        SamplerConfig::ParentBasedTraceIdRatio(0.25)
    );
    let err = parse(&[
        ("OTEL_TRACES_SAMPLER", "traceidratio"),
        ("OTEL_TRACES_SAMPLER_ARG", "2"),
    ])
    .unwrap_err();
    assert_eq!(err.0[0].var, "OTEL_TRACES_SAMPLER_ARG");
}

#[test]
fn the_xray_daemon_address_is_read_as_lambda_writes_it() {
    let daemon =
        |v: &str| parse(&[("AWS_XRAY_DAEMON_ADDRESS", v)]).map(|c| c.telemetry.traces.xray_daemon);
    let default = parse(&[]).unwrap().telemetry.traces.xray_daemon;
    assert_eq!(default.to_string(), "127.0.0.1:2000");
    assert_eq!(
        daemon("169.254.79.129:2000").unwrap().to_string(),
        "169.254.79.129:2000"
    );
    assert_eq!(
        daemon("tcp:127.0.0.1:2000 udp:127.0.0.2:2001")
            .unwrap()
            .to_string(),
        "127.0.0.2:2001"
    );
    let err = daemon("localhost").unwrap_err().to_string();
    assert!(err.contains("AWS_XRAY_DAEMON_ADDRESS"), "{err}");
    assert!(daemon("tcp:127.0.0.1:2000 tcp:127.0.0.1:2001").is_err());
    let t = parse(&[("OTEL_TRACES_EXPORTER", "xray-udp")])
        .unwrap()
        .telemetry
        .traces;
    assert_eq!(t.exporter, TracesExporter::XrayUdp);
}
