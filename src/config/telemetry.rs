//! What the service says about itself: its name, its logs, how trace
//! context crosses process boundaries, and its [`Traces`] and [`Metrics`].

use std::time::Duration;

use super::{Target, metrics::Metrics, otlp, reader::Reader, traces::Traces, vars::*};

#[derive(Clone, Debug)]
pub struct Telemetry {
    pub service_name: Option<String>,
    pub log_format: LogFormat,
    pub log_filter: String,
    /// Bound on the metrics and span flush after each Lambda invocation.
    pub lambda_flush_timeout: Duration,
    pub propagators: Vec<Propagator>,
    pub traces: Traces,
    pub metrics: Metrics,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Json,
    Pretty,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Propagator {
    Xray,
    TraceContext,
    Baggage,
}

impl Telemetry {
    pub(super) fn read(r: &mut Reader<'_>, target: Target) -> Self {
        let log_format = r.choice(
            LOG_FORMAT,
            LogFormat::Json,
            &[("json", LogFormat::Json), ("pretty", LogFormat::Pretty)],
        );
        let log_filter = r.get(RUST_LOG).unwrap_or_else(|| "info".to_owned());
        if let Err(e) = tracing_subscriber::EnvFilter::try_new(&log_filter) {
            r.fail(
                RUST_LOG,
                format!("'{log_filter}' is not a valid filter ({e})"),
            );
        }
        let lambda_flush_timeout = r.millis(LAMBDA_FLUSH_TIMEOUT_MS, 300, 60_000);
        let service_name = r.get(OTEL_SERVICE_NAME);
        check_resource_attributes(r);
        let general_protocol = otlp::general_protocol(r);
        let traces = Traces::read(r, general_protocol);
        let metrics = Metrics::read(r, target, general_protocol, &traces.otlp.auth);
        Telemetry {
            service_name,
            log_format,
            log_filter,
            lambda_flush_timeout,
            propagators: read_propagators(r),
            traces,
            metrics,
        }
    }
}

/// The SDK's resource detector reads `OTEL_RESOURCE_ATTRIBUTES` and skips
/// what it cannot parse; checked here so a typo stops start-up instead.
fn check_resource_attributes(r: &mut Reader<'_>) {
    let Some(raw) = r.get(OTEL_RESOURCE_ATTRIBUTES) else {
        return;
    };
    for pair in raw.split(',').filter(|p| !p.trim().is_empty()) {
        let key = pair.split_once('=').map(|(k, _)| k.trim());
        if key.is_none_or(str::is_empty) {
            let shown = pair.split('=').next().unwrap_or("").trim();
            r.fail(
                OTEL_RESOURCE_ATTRIBUTES,
                format!("'{shown}' is not an attribute as key=value"),
            );
        }
    }
}

fn read_propagators(r: &mut Reader<'_>) -> Vec<Propagator> {
    // Baggage is opt-in: it crosses trust boundaries as sent.
    let default = vec![Propagator::Xray, Propagator::TraceContext];
    let Some(raw) = r.get(OTEL_PROPAGATORS) else {
        return default;
    };
    let mut out = Vec::new();
    for name in raw.split(',').map(str::trim) {
        match name {
            "xray" => out.push(Propagator::Xray),
            "tracecontext" => out.push(Propagator::TraceContext),
            "baggage" => out.push(Propagator::Baggage),
            "none" => {}
            _ => {
                r.fail(
                    OTEL_PROPAGATORS,
                    format!("'{name}' is not one of xray, tracecontext, baggage, none"),
                );
                return default;
            }
        }
    }
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::super::parse;
    use super::*;

    #[test]
    fn defaults_match_the_documented_table() {
        let t = parse(&[]).unwrap().telemetry;
        assert_eq!(t.log_format, LogFormat::Json);
        assert_eq!(t.log_filter, "info");
        assert_eq!(t.lambda_flush_timeout, Duration::from_millis(300));
        assert_eq!(t.service_name, None);
        assert_eq!(
            t.propagators,
            vec![Propagator::Xray, Propagator::TraceContext]
        );
    }

    #[test]
    fn propagators_can_be_narrowed_or_disabled() {
        let c = parse(&[("OTEL_PROPAGATORS", "tracecontext")]).unwrap();
        assert_eq!(c.telemetry.propagators, vec![Propagator::TraceContext]);
        let c = parse(&[("OTEL_PROPAGATORS", "none")]).unwrap();
        assert!(c.telemetry.propagators.is_empty());
    }

    #[test]
    fn resource_attributes_are_key_value_pairs() {
        assert!(parse(&[("OTEL_RESOURCE_ATTRIBUTES", "team=shop, env=prod")]).is_ok());
        let err = parse(&[("OTEL_RESOURCE_ATTRIBUTES", "team=shop,prod,=x")]).unwrap_err();
        let vars: Vec<&str> = err.0.iter().map(|e| e.var).collect();
        assert_eq!(vars, [OTEL_RESOURCE_ATTRIBUTES, OTEL_RESOURCE_ATTRIBUTES]);
    }
}
