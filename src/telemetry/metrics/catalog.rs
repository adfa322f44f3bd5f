//! Every metric the service emits and how CloudWatch sees it: the one place
//! for names, units, bucket boundaries and dimension sets.
//!
//! CloudWatch alarms cannot add up the values of a dimension, so the 5xx
//! rate needs a dimension whose values are few: every request measurement
//! carries [`STATUS_CLASS`] (`2xx`, `4xx`, `5xx`, ...) next to the exact
//! `http.response.status_code`. The class is a CloudWatch dimension; the code
//! stays an OTLP attribute (and an EMF field) for queries.
//!
//! On ECS the collector's `awsemf` exporter keeps the dimension sets listed in
//! `config/ecs.yaml` (`metric_declarations`), named after the attributes; our
//! own EMF writer (Lambda, and ECS without a collector) uses [`EMF_METRICS`]
//! with the same sets after its base dimensions ([`HTTP_BASE_DIMENSIONS`] on
//! ECS, so one dashboard reads either path). tests/metrics_catalog.rs checks
//! that dashboards and alarms name only what these emit.

use opentelemetry_semantic_conventions::{attribute as semconv, metric};

/// The status class attribute and dimension: `2xx`, `4xx`, `5xx`...
pub const STATUS_CLASS: &str = "http.response.status_class";

pub const SERVER_DURATION: &str = metric::HTTP_SERVER_REQUEST_DURATION;
pub const CLIENT_DURATION: &str = metric::HTTP_CLIENT_REQUEST_DURATION;
/// The AWS SDK call duration (semconv 1.42 name; was `rpc.client.duration` in ms).
pub const AWS_CALL_DURATION: &str = metric::RPC_CLIENT_CALL_DURATION;
pub const COLDSTARTS: &str = metric::FAAS_COLDSTARTS;

/// The semconv HTTP duration buckets, in seconds.
pub const DURATION_BUCKETS: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
];

/// The AWS SDK call's attributes, as our AWS spans name them for X-Ray
/// (semconv 1.42 folds the service into `rpc.method` and renames the system).
pub const RPC_SYSTEM: &str = "rpc.system";
pub const RPC_SERVICE: &str = "rpc.service";
pub const RPC_METHOD: &str = "rpc.method";

/// The dimensions every Lambda EMF metric carries (`service`, `function_name`).
pub const LAMBDA_SERVICE: &str = "service";
pub const LAMBDA_FUNCTION: &str = "function_name";
/// The dimension every ECS EMF metric carries: the resource attribute the
/// collector's `awsemf` exporter turns into a dimension on the collector path.
pub const HTTP_SERVICE: &str = "service.name";

/// How one instrument appears in CloudWatch from our EMF writer.
#[derive(Debug)]
pub struct EmfMetric {
    /// The OTel instrument name.
    pub instrument: &'static str,
    /// The CloudWatch metric name.
    pub name: &'static str,
    /// The CloudWatch unit.
    pub unit: &'static str,
    /// Dimension sets beyond the base ones (`service` + `function_name` on
    /// Lambda, `service.name` on ECS), which every set starts with. A set is left out when its attribute is absent (an
    /// unmatched path has no route).
    pub extra_dimension_sets: &'static [&'static [&'static str]],
}

/// Every metric of our EMF lines.
pub const EMF_METRICS: &[EmfMetric] = &[
    EmfMetric {
        instrument: SERVER_DURATION,
        name: SERVER_DURATION,
        unit: "Seconds",
        extra_dimension_sets: &[&[], &[STATUS_CLASS], &[semconv::HTTP_ROUTE, STATUS_CLASS]],
    },
    EmfMetric {
        instrument: CLIENT_DURATION,
        name: CLIENT_DURATION,
        unit: "Seconds",
        extra_dimension_sets: &[&[]],
    },
    EmfMetric {
        instrument: AWS_CALL_DURATION,
        name: AWS_CALL_DURATION,
        unit: "Seconds",
        extra_dimension_sets: &[&[], &[RPC_SERVICE, RPC_METHOD]],
    },
    EmfMetric {
        instrument: COLDSTARTS,
        name: "ColdStart",
        unit: "Count",
        extra_dimension_sets: &[&[]],
    },
];

pub fn emf_metric(instrument: &str) -> Option<&'static EmfMetric> {
    EMF_METRICS.iter().find(|m| m.instrument == instrument)
}

/// `2xx` for 200..=299 and so on.
pub fn status_class(status: u16) -> &'static str {
    match status {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_classes_are_the_hundreds() {
        let classes: Vec<_> = [101, 200, 204, 304, 404, 499, 500, 503]
            .into_iter()
            .map(status_class)
            .collect();
        assert_eq!(
            classes,
            ["1xx", "2xx", "2xx", "3xx", "4xx", "4xx", "5xx", "5xx"]
        );
    }

    #[test]
    fn every_instrument_has_one_emf_entry() {
        for instrument in [
            SERVER_DURATION,
            CLIENT_DURATION,
            AWS_CALL_DURATION,
            COLDSTARTS,
        ] {
            let entries = EMF_METRICS
                .iter()
                .filter(|m| m.instrument == instrument)
                .count();
            assert_eq!(entries, 1, "{instrument}");
        }
    }
}
