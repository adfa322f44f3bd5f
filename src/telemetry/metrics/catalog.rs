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
//! own EMF writer (Lambda, and ECS without a collector) uses each
//! [`Instrument`]'s `emf` entry, with the same sets after its base dimensions
//! ([`HTTP_SERVICE`] on ECS, so one dashboard reads either path).
//! tests/metrics_catalog.rs checks that dashboards and alarms name only what
//! these emit.

use opentelemetry_semantic_conventions::{attribute as semconv, metric};

/// The status class attribute and dimension: `2xx`, `4xx`, `5xx`...
pub const STATUS_CLASS: &str = "http.response.status_class";

pub const SERVER_DURATION: &str = metric::HTTP_SERVER_REQUEST_DURATION;
pub const CLIENT_DURATION: &str = metric::HTTP_CLIENT_REQUEST_DURATION;
/// The AWS SDK call duration (semconv 1.42 name; was `rpc.client.duration` in ms).
pub const AWS_CALL_DURATION: &str = metric::RPC_CLIENT_CALL_DURATION;
pub const COLDSTARTS: &str = metric::FAAS_COLDSTARTS;
/// Requests refused because `MAX_IN_FLIGHT_REQUESTS` were being served (also
/// in `http.server.request.duration` as 503; this one is only them).
pub const REQUESTS_SHED: &str = "app.requests.shed";
/// The SDK's self-observability names (semconv `otel.sdk.*`): what telemetry
/// itself lost, with `error.type` set on each loss.
pub const SPANS_PROCESSED: &str = "otel.sdk.processor.span.processed";
pub const SPANS_EXPORTED: &str = "otel.sdk.exporter.span.exported";
pub const METRIC_POINTS_EXPORTED: &str = "otel.sdk.exporter.metric_data_point.exported";
/// `error.type` of a span dropped because the export queue was full.
pub const QUEUE_FULL: &str = "queue_full";
pub const DB_DURATION: &str = metric::DB_CLIENT_OPERATION_DURATION;

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
/// On Lambda, every data point also carries the version that recorded it, so
/// a canary's alarm can read the new version's own 5xx.
pub const LAMBDA_VERSION: &str = "function_version";
/// The dimension every ECS EMF metric carries: the resource attribute the
/// collector's `awsemf` exporter turns into a dimension on the collector path.
pub const HTTP_SERVICE: &str = "service.name";

/// How an instrument aggregates, and so how the meter builds it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Kind {
    /// An `f64` histogram with these bucket boundaries.
    Histogram(&'static [f64]),
    /// A monotonic `u64` counter.
    Counter,
}

/// One instrument: how the meter builds it and how our EMF writer shows it.
/// The meter builds instruments only from these entries, so a new metric
/// cannot reach OTLP without a CloudWatch name, unit and dimension sets.
#[derive(Debug)]
pub struct Instrument {
    pub name: &'static str,
    pub kind: Kind,
    /// The UCUM unit OTLP carries.
    pub unit: &'static str,
    pub description: &'static str,
    pub emf: EmfMetric,
}

/// How one instrument appears in CloudWatch from our EMF writer.
#[derive(Debug)]
pub struct EmfMetric {
    /// The CloudWatch metric name.
    pub name: &'static str,
    /// The CloudWatch unit.
    pub unit: &'static str,
    /// Dimension sets beyond the base ones (`service` + `function_name` on
    /// Lambda, `service.name` on ECS), which every set starts with. A set is
    /// left out when its attribute is absent (an unmatched path has no route).
    pub extra_dimension_sets: &'static [&'static [&'static str]],
}

pub const SERVER: Instrument = Instrument {
    name: SERVER_DURATION,
    kind: Kind::Histogram(&DURATION_BUCKETS),
    unit: "s",
    description: "Duration of HTTP server requests.",
    emf: EmfMetric {
        name: SERVER_DURATION,
        unit: "Seconds",
        extra_dimension_sets: &[
            &[],
            &[STATUS_CLASS],
            &[semconv::HTTP_ROUTE, STATUS_CLASS],
            // Lambda only (the attribute is absent on ECS): the canary's own 5xx.
            &[LAMBDA_VERSION, STATUS_CLASS],
        ],
    },
};

pub const CLIENT: Instrument = Instrument {
    name: CLIENT_DURATION,
    kind: Kind::Histogram(&DURATION_BUCKETS),
    unit: "s",
    description: "Duration of HTTP client requests.",
    emf: EmfMetric {
        name: CLIENT_DURATION,
        unit: "Seconds",
        extra_dimension_sets: &[&[]],
    },
};

pub const AWS_CALL: Instrument = Instrument {
    name: AWS_CALL_DURATION,
    kind: Kind::Histogram(&DURATION_BUCKETS),
    unit: "s",
    description: "Duration of AWS SDK calls.",
    emf: EmfMetric {
        name: AWS_CALL_DURATION,
        unit: "Seconds",
        extra_dimension_sets: &[&[], &[RPC_SERVICE, RPC_METHOD]],
    },
};

pub const COLDSTART: Instrument = Instrument {
    name: COLDSTARTS,
    kind: Kind::Counter,
    unit: "{coldstart}",
    description: "Number of invocation cold starts.",
    emf: EmfMetric {
        name: "ColdStart",
        unit: "Count",
        extra_dimension_sets: &[&[]],
    },
};

pub const SHED: Instrument = Instrument {
    name: REQUESTS_SHED,
    kind: Kind::Counter,
    unit: "{request}",
    description: "Requests refused with 503 because the in-flight limit was reached.",
    emf: EmfMetric {
        name: REQUESTS_SHED,
        unit: "Count",
        extra_dimension_sets: &[&[]],
    },
};

/// The dimension sets of a loss counter: the total, and per `error.type`.
const LOSS_DIMENSIONS: &[&[&str]] = &[&[], &[semconv::ERROR_TYPE]];

pub const SPAN_PROCESSED: Instrument = Instrument {
    name: SPANS_PROCESSED,
    kind: Kind::Counter,
    unit: "{span}",
    description: "Spans handed to the exporter, or dropped (error.type queue_full).",
    emf: EmfMetric {
        name: SPANS_PROCESSED,
        unit: "Count",
        extra_dimension_sets: LOSS_DIMENSIONS,
    },
};

pub const SPAN_EXPORTED: Instrument = Instrument {
    name: SPANS_EXPORTED,
    kind: Kind::Counter,
    unit: "{span}",
    description: "Spans whose export finished; error.type set when it failed.",
    emf: EmfMetric {
        name: SPANS_EXPORTED,
        unit: "Count",
        extra_dimension_sets: LOSS_DIMENSIONS,
    },
};

pub const METRIC_POINT_EXPORTED: Instrument = Instrument {
    name: METRIC_POINTS_EXPORTED,
    kind: Kind::Counter,
    unit: "{data_point}",
    description: "Metric data points whose export finished; error.type set when it failed.",
    emf: EmfMetric {
        name: METRIC_POINTS_EXPORTED,
        unit: "Count",
        extra_dimension_sets: LOSS_DIMENSIONS,
    },
};

pub const DB: Instrument = Instrument {
    name: DB_DURATION,
    kind: Kind::Histogram(&DURATION_BUCKETS),
    unit: "s",
    description: "Duration of database client operations.",
    emf: EmfMetric {
        name: DB_DURATION,
        unit: "Seconds",
        extra_dimension_sets: &[
            &[],
            &[semconv::DB_OPERATION_NAME, semconv::DB_COLLECTION_NAME],
        ],
    },
};

/// Every instrument the service creates.
pub const INSTRUMENTS: &[Instrument] = &[
    SERVER,
    CLIENT,
    AWS_CALL,
    COLDSTART,
    DB,
    SHED,
    SPAN_PROCESSED,
    SPAN_EXPORTED,
    METRIC_POINT_EXPORTED,
];

/// The catalogue entry of the instrument named `name`.
pub fn instrument(name: &str) -> Option<&'static Instrument> {
    INSTRUMENTS.iter().find(|i| i.name == name)
}

/// How the instrument named `name` appears in our EMF lines.
pub fn emf_metric(name: &str) -> Option<&'static EmfMetric> {
    instrument(name).map(|i| &i.emf)
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
    fn names_are_unique_in_otel_and_in_cloudwatch() {
        for (i, a) in INSTRUMENTS.iter().enumerate() {
            for b in &INSTRUMENTS[i + 1..] {
                assert_ne!(a.name, b.name);
                assert_ne!(a.emf.name, b.emf.name);
            }
        }
    }
}
