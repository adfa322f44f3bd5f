//! Database CLIENT spans, with the attributes X-Ray turns into a subsegment's
//! `sql` block.
//!
//! Legacy keys, kept here and only here: the ADOT collectors in use (the ECS
//! sidecar image and the Lambda layer) translate spans with the contrib
//! `awsxray` exporter, which reads `db.system` to make the `sql` block,
//! `db.statement` for its query and `db.name`, `db.user`,
//! `db.connection_string` for the rest (translator/sql.go); `db.query.text`
//! only behind a feature gate of the newest collectors. Both spellings are
//! sent until the collectors read the stable ones; then the `LEGACY_*` keys
//! can go. [`start_client_span`] serves the traced SQL pool (`crate::db`),
//! [`query`] the simulated lookups of the in-process users store.
//!
//! The span is made with the OpenTelemetry API, not as a `tracing` span: the
//! registry entry, the field visitor's string copies and the span's rebuild at
//! close cost several times more (bench/history.md). Log lines inside the
//! query still carry its ids: it is
//! the current OpenTelemetry context while the query runs.

use std::future::Future;

use opentelemetry::{
    Context, KeyValue,
    context::FutureExt as _,
    trace::{SpanBuilder, SpanKind, TraceContextExt as _},
};
use opentelemetry_sdk::trace::SdkTracer;
use opentelemetry_semantic_conventions::attribute as semconv;

pub(crate) const LEGACY_SYSTEM: &str = "db.system";
pub(crate) const LEGACY_STATEMENT: &str = "db.statement";
/// The collector's `sql` block: `connection_string` is this plus `/` plus
/// `db.name`, `user` is `db.user`.
pub(crate) const LEGACY_NAME: &str = "db.name";
pub(crate) const LEGACY_USER: &str = "db.user";
pub(crate) const LEGACY_CONNECTION_STRING: &str = "db.connection_string";

/// The lookups are simulated; this is the semconv value for "some SQL database".
pub const SIMULATED_SYSTEM: &str = "other_sql";

/// The tracer child spans start from, in the request's context (set by the
/// request middleware when spans are on).
#[derive(Clone, Debug)]
pub(crate) struct ChildTracer(pub SdkTracer);

/// Starts a CLIENT span under the code's current span (a handler's
/// `#[instrument]` function, else the request's SERVER span) and returns its
/// context; `None` without spans or outside a request.
pub(crate) fn start_client_span(name: String, attributes: Vec<KeyValue>) -> Option<Context> {
    let parent = super::current::context();
    let ChildTracer(tracer) = parent.get::<ChildTracer>()?;
    let span = SpanBuilder::from_name(name)
        .with_kind(SpanKind::Client)
        .with_attributes(attributes)
        .start_with_context(tracer, &parent);
    Some(parent.with_span(span))
}

/// Runs `future` inside a CLIENT span for one query, named `OPERATION
/// collection` as semconv asks, under the request's span; without spans (or
/// outside a request) just runs it.
pub fn query<F: Future>(
    name: &'static str,
    operation: &'static str,
    query: &'static str,
    future: F,
) -> impl Future<Output = F::Output> {
    let cx = Context::map_current(|current| {
        let ChildTracer(tracer) = current.get::<ChildTracer>()?;
        let span = SpanBuilder::from_name(name)
            .with_kind(SpanKind::Client)
            .with_attributes([
                KeyValue::new(semconv::DB_SYSTEM_NAME, SIMULATED_SYSTEM),
                KeyValue::new(LEGACY_SYSTEM, SIMULATED_SYSTEM),
                KeyValue::new(semconv::DB_OPERATION_NAME, operation),
                KeyValue::new(semconv::DB_QUERY_TEXT, query),
                KeyValue::new(LEGACY_STATEMENT, query),
            ])
            .start_with_context(tracer, current);
        Some(current.with_span(span))
    });
    // Untraced, the future runs as it is, without an empty context attached
    // around each poll.
    async move {
        match cx {
            Some(cx) => future.with_context(cx).await,
            None => future.await,
        }
    }
}
