//! What the X-Ray console shows for the spans a test captured.
//!
//! The spans the [`super::otlp::Receiver`] decoded are translated into X-Ray
//! segment documents by opentelemetry-aws's `SegmentTranslator`, an
//! implementation independent of ours that follows the collector's
//! `awsxray` translator (opentelemetry-collector-contrib
//! `exporter/awsxrayexporter/internal/translator`): trace and parent ids,
//! segment names, `http` from `url.*`/`server.*`, `error`/`throttle`/`fault`
//! from the status code and span status, `sql` from `db.*`, and the
//! `aws`/`remote` namespaces.
//!
//! One known difference: the collector's `makeCause` (cause.go) flags a
//! span from its integer status code whatever the span status (4xx `error`,
//! 429 also `throttle`, 5xx `fault`; no code and an error status `fault`),
//! while this translator flags only spans whose status is error. A SERVER
//! span answering 404 keeps status Unset (semconv), so the two disagree on
//! it; [`Document::collector_flags`] applies the collector's rule to the
//! same span so tests can assert what the console shows.

use std::{
    borrow::Cow,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use opentelemetry::{
    Array, InstrumentationScope, KeyValue, StringValue, Value,
    trace::{SpanContext, SpanId, SpanKind, Status, TraceFlags, TraceId, TraceState},
};
use opentelemetry_aws::xray_exporter::SegmentTranslator;
use opentelemetry_proto::tonic::common::v1::{AnyValue, any_value};
use opentelemetry_sdk::{
    Resource,
    trace::{SpanData, SpanEvents, SpanLinks},
};
use serde_json::Value as Json;

use super::otlp::Received;

/// One translated document, with the span it came from.
#[derive(Debug)]
pub struct Document {
    pub json: Json,
    pub span_id: String,
    /// `error`, `throttle`, `fault` by the collector's rule (see above).
    pub collector_flags: (bool, bool, bool),
    /// The `sql` block by the collector's rule (see [`collector_sql`]).
    pub collector_sql: Option<Json>,
}

impl Document {
    pub fn get(&self, pointer: &str) -> Option<&Json> {
        self.json.pointer(pointer)
    }
    pub fn str(&self, pointer: &str) -> Option<&str> {
        self.get(pointer).and_then(Json::as_str)
    }
    /// `error`, `throttle` and `fault` as this translator sets them (absent = false).
    pub fn flags(&self) -> (bool, bool, bool) {
        let flag = |k: &str| self.get(k).and_then(Json::as_bool).unwrap_or(false);
        (flag("/error"), flag("/throttle"), flag("/fault"))
    }
}

/// Translates every span (all from one resource) into X-Ray documents.
pub fn translate(spans: &[Received]) -> Vec<Document> {
    let mut translator = SegmentTranslator::new();
    if let Some(first) = spans.first() {
        let attributes = first.resource.iter().filter_map(key_value);
        translator.set_resource(
            &Resource::builder_empty()
                .with_attributes(attributes)
                .build(),
        );
    }
    let data: Vec<SpanData> = spans.iter().map(span_data).collect();
    translator
        .translate_spans(&data)
        .into_iter()
        .map(|doc| {
            let json: Json = serde_json::from_str(&doc.to_string()).expect("documents are JSON");
            let span_id = json["id"].as_str().unwrap_or_default().to_owned();
            let span = spans
                .iter()
                .find(|s| s.span_id() == span_id)
                .expect("every document comes from a span");
            Document {
                json,
                span_id,
                collector_flags: collector_flags(span),
                collector_sql: collector_sql(span),
            }
        })
        .collect()
}

/// The `sql` block as the collector's `makeSQL` (translator/sql.go) makes
/// it, which differs from this translator's: only the legacy keys count
/// (`db.system`, `db.statement`, `db.name`, `db.user`,
/// `db.connection_string`), the URL is the span name, and the connection
/// string is `db.connection_string` (else `localhost`) + `/` + `db.name`.
pub fn collector_sql(span: &Received) -> Option<Json> {
    const SQL_SYSTEMS: [&str; 11] = [
        "db2",
        "derby",
        "hive",
        "mariadb",
        "mssql",
        "mysql",
        "oracle",
        "postgresql",
        "sqlite",
        "teradata",
        "other_sql",
    ];
    let system = span.attr("db.system")?;
    if !SQL_SYSTEMS.contains(&system.as_str()) {
        return None;
    }
    let connection = span
        .attr("db.connection_string")
        .unwrap_or_else(|| "localhost".to_owned());
    let name = span.attr("db.name").unwrap_or_default();
    Some(serde_json::json!({
        "url": span.span.name,
        "connection_string": format!("{connection}/{name}"),
        "database_type": system,
        "user": span.attr("db.user").unwrap_or_default(),
        "sanitized_query": span.attr("db.statement").unwrap_or_default(),
    }))
}

/// The document made from `span`, or a panic naming what was made.
pub fn document_of<'a>(docs: &'a [Document], span: &Received) -> &'a Document {
    let id = span.span_id();
    docs.iter()
        .find(|d| d.span_id == id)
        .unwrap_or_else(|| panic!("no X-Ray document for span {}: {docs:#?}", span.span.name))
}

/// A `Root` X-Ray accepts today (its first 8 hex digits are the epoch
/// seconds, and X-Ray drops traces older than 30 days).
pub fn fresh_root(suffix: u32) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO);
    format!(
        "1-{:08x}-{:024x}",
        now.as_secs(),
        0xabc0_0000_0000_u64 + u64::from(suffix)
    )
}

/// The collector's flags: the integer `http.response.status_code` first,
/// the span status only when there is no 4xx/5xx code. A string status
/// reads as no code, as with the collector's `Int()` accessor.
fn collector_flags(span: &Received) -> (bool, bool, bool) {
    let code = match span.value("http.response.status_code") {
        Some(any_value::Value::IntValue(code)) => Some(*code),
        _ => None,
    };
    let status_error = span.span.status.as_ref().is_some_and(|s| s.code == 2);
    match code {
        Some(429) => (true, true, false),
        Some(400..=499) => (true, false, false),
        Some(500..=599) => (false, false, true),
        _ => (false, false, status_error),
    }
}

fn span_data(received: &Received) -> SpanData {
    let span = &received.span;
    let id = |bytes: &[u8]| SpanId::from_bytes(bytes.try_into().unwrap_or([0; 8]));
    let trace_id = TraceId::from_bytes(span.trace_id.as_slice().try_into().unwrap_or([0; 16]));
    let time = |nanos: u64| UNIX_EPOCH + Duration::from_nanos(nanos);
    let status = match span.status.as_ref().map(|s| (s.code, s.message.clone())) {
        Some((2, message)) => Status::error(message),
        Some((1, _)) => Status::Ok,
        _ => Status::Unset,
    };
    SpanData {
        span_context: SpanContext::new(
            trace_id,
            id(&span.span_id),
            TraceFlags::SAMPLED,
            false,
            TraceState::default(),
        ),
        parent_span_id: id(&span.parent_span_id),
        parent_span_is_remote: false,
        span_kind: match span.kind {
            2 => SpanKind::Server,
            3 => SpanKind::Client,
            4 => SpanKind::Producer,
            5 => SpanKind::Consumer,
            _ => SpanKind::Internal,
        },
        name: Cow::Owned(span.name.clone()),
        start_time: time(span.start_time_unix_nano),
        end_time: time(span.end_time_unix_nano),
        attributes: span.attributes.iter().filter_map(key_value).collect(),
        dropped_attributes_count: 0,
        events: SpanEvents::default(),
        links: SpanLinks::default(),
        status,
        instrumentation_scope: InstrumentationScope::builder("captured").build(),
    }
}

fn key_value(kv: &opentelemetry_proto::tonic::common::v1::KeyValue) -> Option<KeyValue> {
    Some(KeyValue::new(kv.key.clone(), value(kv.value.as_ref()?)?))
}

fn value(v: &AnyValue) -> Option<Value> {
    Some(match v.value.as_ref()? {
        any_value::Value::StringValue(s) => Value::String(s.clone().into()),
        any_value::Value::BoolValue(b) => Value::Bool(*b),
        any_value::Value::IntValue(i) => Value::I64(*i),
        any_value::Value::DoubleValue(d) => Value::F64(*d),
        any_value::Value::ArrayValue(a) => Value::Array(Array::String(
            a.values
                .iter()
                .filter_map(|v| match v.value.as_ref()? {
                    any_value::Value::StringValue(s) => Some(StringValue::from(s.clone())),
                    _ => None,
                })
                .collect(),
        )),
        _ => return None,
    })
}
