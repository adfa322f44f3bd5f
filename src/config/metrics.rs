//! Where metrics go and under which CloudWatch namespace.

use super::{
    Target,
    otlp::{self, OtlpProtocol},
    reader::Reader,
    traces::TracesAuth,
    vars::*,
};

#[derive(Clone, Debug)]
pub struct Metrics {
    pub exporter: MetricsExporter,
    pub otlp_protocol: OtlpProtocol,
    pub otlp_endpoint: String,
    /// The CloudWatch namespace (`METRICS_NAMESPACE`); `None` means the service name.
    pub namespace: Option<String>,
}

/// Where metrics go: the collector (OTLP), CloudWatch EMF lines on stdout,
/// readable lines on stdout, or nowhere.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MetricsExporter {
    Otlp,
    Emf,
    Console,
    None,
}

impl Metrics {
    pub(super) fn read(
        r: &mut Reader<'_>,
        target: Target,
        general_protocol: OtlpProtocol,
        traces_auth: &TracesAuth,
    ) -> Self {
        let exporter = r.choice(
            OTEL_METRICS_EXPORTER,
            // EMF wherever no collector is implied: on Lambda, and on ECS when
            // traces go straight to X-Ray (the awslogs driver delivers stdout).
            match (target, traces_auth) {
                (Target::Http, TracesAuth::None) => MetricsExporter::Otlp,
                _ => MetricsExporter::Emf,
            },
            &[
                ("otlp", MetricsExporter::Otlp),
                ("emf", MetricsExporter::Emf),
                ("console", MetricsExporter::Console),
                ("none", MetricsExporter::None),
            ],
        );
        let (otlp_protocol, otlp_endpoint) = otlp::signal(
            r,
            general_protocol,
            OTEL_EXPORTER_OTLP_METRICS_PROTOCOL,
            OTEL_EXPORTER_OTLP_METRICS_ENDPOINT,
            "/v1/metrics",
        );
        let namespace = r.get(METRICS_NAMESPACE);
        if let Some(problem) = namespace.as_deref().and_then(namespace_problem) {
            r.fail(METRICS_NAMESPACE, problem);
        }
        // The SDK's periodic reader reads it; checked here so a bad value
        // stops start-up instead of silently meaning 60 s.
        r.number(OTEL_METRIC_EXPORT_INTERVAL, 60_000u64, 1, 86_400_000);
        Metrics {
            exporter,
            otlp_protocol,
            otlp_endpoint,
            namespace,
        }
    }
}

/// CloudWatch's namespace rules: 1 to 255 printable ASCII characters, not
/// starting with `:` nor with the reserved `AWS/`.
fn namespace_problem(namespace: &str) -> Option<String> {
    let valid = namespace.len() <= 255
        && namespace.bytes().all(|b| b.is_ascii_graphic() || b == b' ')
        && !namespace.starts_with(':')
        && !namespace.starts_with("AWS/");
    (!valid).then(|| {
        format!(
            "'{namespace}' is not a CloudWatch namespace (1-255 printable ASCII characters, \
             not starting with ':' or 'AWS/')"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::super::{LAMBDA, parse};
    use super::*;

    fn metrics(pairs: &[(&str, &str)]) -> Metrics {
        parse(pairs).unwrap().telemetry.metrics
    }

    #[test]
    fn defaults_match_the_documented_table() {
        let m = metrics(&[]);
        assert_eq!(m.exporter, MetricsExporter::Otlp);
        assert_eq!(m.otlp_endpoint, "http://localhost:4318/v1/metrics");
        assert_eq!(m.namespace, None);
    }

    #[test]
    fn metrics_default_to_emf_on_lambda_and_follow_the_metrics_variables() {
        assert_eq!(metrics(&LAMBDA).exporter, MetricsExporter::Emf);
        let m = metrics(&[
            ("OTEL_METRICS_EXPORTER", "none"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318"),
            ("METRICS_NAMESPACE", "Shop/Api"),
        ]);
        assert_eq!(m.exporter, MetricsExporter::None);
        assert_eq!(m.otlp_endpoint, "http://collector:4318/v1/metrics");
        assert_eq!(m.namespace.as_deref(), Some("Shop/Api"));
        let c = parse(&[("OTEL_EXPORTER_OTLP_METRICS_PROTOCOL", "grpc")]).unwrap();
        assert_eq!(c.telemetry.metrics.otlp_protocol, OtlpProtocol::Grpc);
        assert_eq!(
            c.telemetry.traces.otlp.endpoint,
            "http://localhost:4318/v1/traces"
        );
        assert_eq!(c.telemetry.metrics.otlp_endpoint, "http://localhost:4317");
        // Traces straight to X-Ray on ECS: no collector for OTLP metrics either.
        let direct = [(
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            "https://xray.eu-west-1.amazonaws.com/v1/traces",
        )];
        assert_eq!(metrics(&direct).exporter, MetricsExporter::Emf);
        let mut kept = direct.to_vec();
        kept.push(("OTEL_METRICS_EXPORTER", "otlp"));
        assert_eq!(metrics(&kept).exporter, MetricsExporter::Otlp);
    }

    #[test]
    fn bad_metrics_settings_name_their_variable() {
        let err = parse(&[
            ("OTEL_METRICS_EXPORTER", "prometheus"),
            ("METRICS_NAMESPACE", "AWS/Lambda"),
        ])
        .unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains(
                "OTEL_METRICS_EXPORTER: 'prometheus' is not one of otlp, emf, console, none"
            ),
            "{text}"
        );
        assert!(text.contains("METRICS_NAMESPACE: 'AWS/Lambda'"), "{text}");
        assert_eq!(err.0.len(), 2);
        assert!(parse(&[("METRICS_NAMESPACE", &"x".repeat(256))]).is_err());
    }

    #[test]
    fn the_export_interval_is_checked_though_the_sdk_reads_it() {
        assert!(parse(&[("OTEL_METRIC_EXPORT_INTERVAL", "10")]).is_ok());
        for bad in ["0", "1m", "-5"] {
            let err = parse(&[("OTEL_METRIC_EXPORT_INTERVAL", bad)]).unwrap_err();
            assert_eq!(err.0[0].var, "OTEL_METRIC_EXPORT_INTERVAL", "{bad}");
        }
    }
}
