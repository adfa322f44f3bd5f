//! Database CLIENT spans, with the attributes X-Ray turns into a subsegment's
//! `sql` block.
//!
//! Legacy keys, kept here and only here: the ADOT collectors in use (the ECS
//! sidecar image and the Lambda layer) translate spans with the contrib
//! `awsxray` exporter, which reads `db.system` to make the `sql` block and
//! `db.statement` for its query; `db.query.text` only behind a feature gate of
//! the newest collectors. Both spellings are sent until the collectors read
//! the stable ones; then the two `LEGACY_*` keys can go.

use opentelemetry_semantic_conventions::attribute as semconv;

const LEGACY_SYSTEM: &str = "db.system";
const LEGACY_STATEMENT: &str = "db.statement";

/// The lookups are simulated; this is the semconv value for "some SQL database".
pub const SIMULATED_SYSTEM: &str = "other_sql";

/// A CLIENT span for one query, named `OPERATION collection` as semconv asks.
pub fn query_span(
    name: &'static str,
    operation: &'static str,
    query: &'static str,
) -> tracing::Span {
    tracing::info_span!(
        "db.query",
        otel.name = name,
        otel.kind = "client",
        { semconv::DB_SYSTEM_NAME } = SIMULATED_SYSTEM,
        { LEGACY_SYSTEM } = SIMULATED_SYSTEM,
        { semconv::DB_OPERATION_NAME } = operation,
        { semconv::DB_QUERY_TEXT } = query,
        { LEGACY_STATEMENT } = query,
    )
}
