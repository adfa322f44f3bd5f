//! Log output: JSON lines (default) or human-readable text.
//!
//! Each JSON line has `timestamp`, `level`, `target`, `message`, the event's
//! fields and, inside a request, `trace_id` in X-Ray form, `span_id` of the
//! innermost span and (on Lambda) `request_id`, so CloudWatch Logs and X-Ray
//! correlate. The ids are looked up when a line is written: in the handlers'
//! `tracing` spans, else in the current OpenTelemetry context, which holds
//! the request's SERVER span and the Lambda request id.

use std::fmt;

use opentelemetry::{
    Context,
    trace::{SpanId, TraceContextExt, TraceId},
};
use serde_json::{Map, Value};
use tracing::{Event, Subscriber, field::Field};
use tracing_subscriber::{
    Layer,
    fmt::{FmtContext, FormatEvent, FormatFields, format::Writer},
    registry::LookupSpan,
};

use super::propagation::xray_trace_id;

/// Lambda's request id, which the request's context makes available to
/// every log line of the invocation.
#[derive(Clone, Debug)]
pub struct RequestId(pub String);

/// `trace_id` in X-Ray form and `span_id` as 16 hex digits.
pub fn format_log_ids(trace_id: TraceId, span_id: SpanId) -> (String, String) {
    (xray_trace_id(trace_id), span_id.to_string())
}

pub(super) fn json_layer<S>() -> impl Layer<S>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    tracing_subscriber::fmt::layer()
        .event_format(JsonLines)
        .fmt_fields(NoSpanFields)
        .with_writer(std::io::stdout)
        // Lines read span ids from the registry, never span fields: with spans
        // filtered out here, a span costs this layer nothing, and when traces
        // are off no layer wants spans, so `tracing` does not make them at all.
        .with_filter(tracing_subscriber::filter::filter_fn(|meta| {
            meta.is_event()
        }))
}

pub(super) fn pretty_layer<S>() -> impl Layer<S>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    tracing_subscriber::fmt::layer().with_writer(std::io::stdout)
}

struct JsonLines;

/// JSON lines carry only ids from spans, so span fields are never formatted.
struct NoSpanFields;

impl<'w> FormatFields<'w> for NoSpanFields {
    fn format_fields<R: tracing_subscriber::field::RecordFields>(
        &self,
        _writer: Writer<'w>,
        _fields: R,
    ) -> fmt::Result {
        Ok(())
    }
}

impl<S, N> FormatEvent<S, N> for JsonLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let meta = event.metadata();
        let mut line = Map::new();
        line.insert("timestamp".into(), Value::String(timestamp()));
        line.insert(
            "level".into(),
            Value::String(meta.level().as_str().to_owned()),
        );
        line.insert("target".into(), Value::String(meta.target().to_owned()));
        let mut fields = FieldMap(Map::new());
        event.record(&mut fields);
        let message = fields
            .0
            .remove("message")
            .unwrap_or(Value::String(String::new()));
        line.insert("message".into(), message);
        if let Some((trace_id, span_id)) = innermost_span_ids() {
            let (trace_id, span_id) = format_log_ids(trace_id, span_id);
            line.insert("trace_id".into(), Value::String(trace_id));
            line.insert("span_id".into(), Value::String(span_id));
            let request_id = Context::map_current(|cx| cx.get::<RequestId>().cloned());
            if let Some(RequestId(request_id)) = request_id {
                line.insert("request_id".into(), Value::String(request_id));
            }
        }
        for (key, value) in fields.0 {
            line.entry(key).or_insert(value);
        }
        let text = serde_json::to_string(&line).map_err(|_| fmt::Error)?;
        writeln!(writer, "{text}")
    }
}

/// The trace id and span id of the innermost exported span the event is in
/// (a handler's child span, else the request's SERVER span), so a log line
/// can be found from the subsegment X-Ray shows. Looked up only when a line
/// is written, so requests that log nothing pay nothing.
fn innermost_span_ids() -> Option<(TraceId, SpanId)> {
    let valid = |cx: &Context| {
        let span = cx.span();
        let sc = span.span_context();
        sc.is_valid().then(|| (sc.trace_id(), sc.span_id()))
    };
    super::current::innermost_traced_span()
        .and_then(|cx| valid(&cx))
        .or_else(|| Context::map_current(valid))
}

struct FieldMap(Map<String, Value>);

impl tracing::field::Visit for FieldMap {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0
            .insert(field.name().to_owned(), Value::String(format!("{value:?}")));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.0
            .insert(field.name().to_owned(), Value::String(value.to_owned()));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().to_owned(), Value::from(value));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().to_owned(), Value::from(value));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().to_owned(), Value::from(value));
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.0
            .insert(field.name().to_owned(), Value::String(value.to_string()));
    }
}

/// RFC 3339 UTC with microseconds, without a date-time dependency.
fn timestamp() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let secs = now.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:06}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        now.subsec_micros()
    )
}

/// Howard Hinnant's days-to-civil algorithm.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_ids_use_the_xray_form() {
        let (trace, span) = format_log_ids(
            TraceId::from_hex("5759e988bd862e3fe1be46a994272793").unwrap(),
            SpanId::from_hex("53995c3f42cd8ad8").unwrap(),
        );
        assert_eq!(trace, "1-5759e988-bd862e3fe1be46a994272793");
        assert_eq!(span, "53995c3f42cd8ad8");
    }

    #[test]
    fn civil_dates_are_right() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(20_417), (2025, 11, 25));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
    }
}
