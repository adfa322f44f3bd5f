//! `SpanData` straight to an OTLP `ExportTraceServiceRequest` in protobuf.
//!
//! opentelemetry-otlp first copies every span into opentelemetry-proto's
//! structs (a `String` per attribute key and value) and then prost computes
//! each nested message's length once per level above it: 12.5k instructions
//! a span, more than the whole request path's tracing (bench/history.md).
//! Here each message is written once, into one buffer, and its length is
//! patched in after it. The output decodes to exactly what that conversion
//! builds (tests/otlp_encoding.rs checks it with opentelemetry-proto).

use std::time::{SystemTime, UNIX_EPOCH};

use opentelemetry::{
    Array, InstrumentationScope, KeyValue, Value,
    trace::{SpanContext, SpanId, SpanKind, Status},
};
use opentelemetry_sdk::{Resource, trace::SpanData};

// Field numbers, from opentelemetry-proto's trace/v1, resource/v1 and common/v1.
const REQUEST_RESOURCE_SPANS: u32 = 1;
const RESOURCE_SPANS_RESOURCE: u32 = 1;
const RESOURCE_SPANS_SCOPE_SPANS: u32 = 2;
const RESOURCE_SPANS_SCHEMA_URL: u32 = 3;
const RESOURCE_ATTRIBUTES: u32 = 1;
const SCOPE_SPANS_SCOPE: u32 = 1;
const SCOPE_SPANS_SPANS: u32 = 2;
const SCOPE_SPANS_SCHEMA_URL: u32 = 3;
const SCOPE_NAME: u32 = 1;
const SCOPE_VERSION: u32 = 2;
const SCOPE_ATTRIBUTES: u32 = 3;
const SPAN_TRACE_ID: u32 = 1;
const SPAN_SPAN_ID: u32 = 2;
const SPAN_TRACE_STATE: u32 = 3;
const SPAN_PARENT_SPAN_ID: u32 = 4;
const SPAN_NAME: u32 = 5;
const SPAN_KIND: u32 = 6;
const SPAN_START: u32 = 7;
const SPAN_END: u32 = 8;
const SPAN_ATTRIBUTES: u32 = 9;
const SPAN_DROPPED_ATTRIBUTES: u32 = 10;
const SPAN_EVENTS: u32 = 11;
const SPAN_DROPPED_EVENTS: u32 = 12;
const SPAN_LINKS: u32 = 13;
const SPAN_DROPPED_LINKS: u32 = 14;
const SPAN_STATUS: u32 = 15;
const SPAN_FLAGS: u32 = 16;
const EVENT_TIME: u32 = 1;
const EVENT_NAME: u32 = 2;
const EVENT_ATTRIBUTES: u32 = 3;
const EVENT_DROPPED_ATTRIBUTES: u32 = 4;
const LINK_TRACE_ID: u32 = 1;
const LINK_SPAN_ID: u32 = 2;
const LINK_TRACE_STATE: u32 = 3;
const LINK_ATTRIBUTES: u32 = 4;
const LINK_DROPPED_ATTRIBUTES: u32 = 5;
const LINK_FLAGS: u32 = 6;
const STATUS_MESSAGE: u32 = 2;
const STATUS_CODE: u32 = 3;
const KEY_VALUE_KEY: u32 = 1;
const KEY_VALUE_VALUE: u32 = 2;
const ANY_STRING: u32 = 1;
const ANY_BOOL: u32 = 2;
const ANY_INT: u32 = 3;
const ANY_DOUBLE: u32 = 4;
const ANY_ARRAY: u32 = 5;
const ARRAY_VALUES: u32 = 1;

/// Span flags: the parent's remoteness is known, and whether it is remote.
const FLAG_HAS_IS_REMOTE: u32 = 0x100;
const FLAG_IS_REMOTE: u32 = 0x200;

// Wire types.
const VARINT: u32 = 0;
const FIXED64: u32 = 1;
const LEN: u32 = 2;
const FIXED32: u32 = 5;

/// Appends one request holding `spans` under `resource` to `out`, spans
/// grouped by instrumentation scope in the order the scopes first appear.
pub fn export_request(resource: &Resource, spans: &[SpanData], out: &mut Vec<u8>) {
    let mut w = Writer(out);
    w.message::<3>(REQUEST_RESOURCE_SPANS, |w| {
        w.message::<2>(RESOURCE_SPANS_RESOURCE, |w| {
            for (key, value) in resource.iter() {
                w.key_value(RESOURCE_ATTRIBUTES, key.as_str(), value);
            }
        });
        // Usually one scope: a linear scan beats hashing it per span.
        let mut scopes: Vec<&InstrumentationScope> = Vec::with_capacity(2);
        for span in spans {
            if !scopes.contains(&&span.instrumentation_scope) {
                scopes.push(&span.instrumentation_scope);
            }
        }
        for scope in scopes {
            w.message::<3>(RESOURCE_SPANS_SCOPE_SPANS, |w| {
                w.scope(scope);
                for span in spans.iter().filter(|s| s.instrumentation_scope == *scope) {
                    w.message::<2>(SCOPE_SPANS_SPANS, |w| w.span(span));
                }
                w.string(SCOPE_SPANS_SCHEMA_URL, scope.schema_url().unwrap_or(""));
            });
        }
        w.string(
            RESOURCE_SPANS_SCHEMA_URL,
            resource.schema_url().unwrap_or(""),
        );
    });
}

struct Writer<'a>(&'a mut Vec<u8>);

impl Writer<'_> {
    fn varint(&mut self, mut value: u64) {
        while value >= 0x80 {
            self.0.push((value as u8) | 0x80);
            value >>= 7;
        }
        self.0.push(value as u8);
    }

    fn tag(&mut self, field: u32, wire: u32) {
        self.varint(u64::from(field << 3 | wire));
    }

    /// A length-delimited field whose content `body` writes. `GUESS` bytes
    /// are kept for the length; a length that needs another size moves the
    /// content once.
    fn message<const GUESS: usize>(&mut self, field: u32, body: impl FnOnce(&mut Self)) {
        self.tag(field, LEN);
        let at = self.0.len();
        self.0.extend_from_slice(&[0; GUESS]);
        body(self);
        let len = self.0.len() - at - GUESS;
        let mut prefix = [0u8; 10];
        let size = put_varint(&mut prefix, len as u64);
        if size != GUESS {
            let end = self.0.len();
            if size > GUESS {
                self.0.resize(end + size - GUESS, 0);
            }
            self.0.copy_within(at + GUESS..end, at + size);
            self.0.truncate(at + size + len);
        }
        self.0[at..at + size].copy_from_slice(&prefix[..size]);
    }

    fn bytes_field(&mut self, field: u32, bytes: &[u8]) {
        self.tag(field, LEN);
        self.varint(bytes.len() as u64);
        self.0.extend_from_slice(bytes);
    }

    /// A string field, left out when empty (proto3's default).
    fn string(&mut self, field: u32, value: &str) {
        if !value.is_empty() {
            self.bytes_field(field, value.as_bytes());
        }
    }

    /// A varint field, left out when zero.
    fn uint(&mut self, field: u32, value: u64) {
        if value != 0 {
            self.tag(field, VARINT);
            self.varint(value);
        }
    }

    fn fixed64(&mut self, field: u32, value: u64) {
        if value != 0 {
            self.tag(field, FIXED64);
            self.0.extend_from_slice(&value.to_le_bytes());
        }
    }

    fn fixed32(&mut self, field: u32, value: u32) {
        if value != 0 {
            self.tag(field, FIXED32);
            self.0.extend_from_slice(&value.to_le_bytes());
        }
    }

    fn scope(&mut self, scope: &InstrumentationScope) {
        self.message::<1>(SCOPE_SPANS_SCOPE, |w| {
            w.string(SCOPE_NAME, scope.name());
            w.string(SCOPE_VERSION, scope.version().unwrap_or(""));
            for kv in scope.attributes() {
                w.key_value(SCOPE_ATTRIBUTES, kv.key.as_str(), &kv.value);
            }
        });
    }

    fn span(&mut self, span: &SpanData) {
        let cx = &span.span_context;
        self.ids(SPAN_TRACE_ID, SPAN_SPAN_ID, cx);
        self.string(SPAN_TRACE_STATE, &cx.trace_state().header());
        if span.parent_span_id != SpanId::INVALID {
            self.bytes_field(SPAN_PARENT_SPAN_ID, &span.parent_span_id.to_bytes());
        }
        self.string(SPAN_NAME, &span.name);
        self.uint(SPAN_KIND, kind(&span.span_kind));
        self.fixed64(SPAN_START, nanos(span.start_time));
        self.fixed64(SPAN_END, nanos(span.end_time));
        self.attributes(SPAN_ATTRIBUTES, &span.attributes);
        self.uint(
            SPAN_DROPPED_ATTRIBUTES,
            u64::from(span.dropped_attributes_count),
        );
        for event in span.events.iter() {
            self.message::<1>(SPAN_EVENTS, |w| {
                w.fixed64(EVENT_TIME, nanos(event.timestamp));
                w.string(EVENT_NAME, &event.name);
                w.attributes(EVENT_ATTRIBUTES, &event.attributes);
                w.uint(
                    EVENT_DROPPED_ATTRIBUTES,
                    u64::from(event.dropped_attributes_count),
                );
            });
        }
        self.uint(SPAN_DROPPED_EVENTS, u64::from(span.events.dropped_count));
        for link in span.links.iter() {
            self.message::<1>(SPAN_LINKS, |w| {
                let cx = &link.span_context;
                w.ids(LINK_TRACE_ID, LINK_SPAN_ID, cx);
                w.string(LINK_TRACE_STATE, &cx.trace_state().header());
                w.attributes(LINK_ATTRIBUTES, &link.attributes);
                w.uint(
                    LINK_DROPPED_ATTRIBUTES,
                    u64::from(link.dropped_attributes_count),
                );
                w.fixed32(LINK_FLAGS, flags(cx, cx.is_remote()));
            });
        }
        self.uint(SPAN_DROPPED_LINKS, u64::from(span.links.dropped_count));
        // Always present, even unset: decoders see `Some(Status)` either way.
        self.message::<1>(SPAN_STATUS, |w| match &span.status {
            Status::Unset => {}
            Status::Ok => w.uint(STATUS_CODE, 1),
            Status::Error { description } => {
                w.string(STATUS_MESSAGE, description);
                w.uint(STATUS_CODE, 2);
            }
        });
        self.fixed32(SPAN_FLAGS, flags(cx, span.parent_span_is_remote));
    }

    fn ids(&mut self, trace_field: u32, span_field: u32, cx: &SpanContext) {
        self.bytes_field(trace_field, &cx.trace_id().to_bytes());
        self.bytes_field(span_field, &cx.span_id().to_bytes());
    }

    fn attributes(&mut self, field: u32, attributes: &[KeyValue]) {
        for kv in attributes {
            self.key_value(field, kv.key.as_str(), &kv.value);
        }
    }

    fn key_value(&mut self, field: u32, key: &str, value: &Value) {
        // Scalars, nearly every attribute, with both lengths known up front.
        let any_len = match value {
            Value::String(s) => 1 + len_of(s.as_str().len()),
            Value::Bool(_) => 2,
            Value::I64(i) => 1 + varint_len(*i as u64),
            Value::F64(_) => 9,
            _ => {
                return self.message::<1>(field, |w| {
                    w.string(KEY_VALUE_KEY, key);
                    w.message::<1>(KEY_VALUE_VALUE, |w| w.any_value(value));
                });
            }
        };
        let key_len = if key.is_empty() {
            0
        } else {
            1 + len_of(key.len())
        };
        let kv_len = key_len + 1 + len_of(any_len);
        self.0.reserve(kv_len + 11);
        self.tag(field, LEN);
        self.varint(kv_len as u64);
        self.string(KEY_VALUE_KEY, key);
        self.tag(KEY_VALUE_VALUE, LEN);
        self.varint(any_len as u64);
        self.any_value(value);
    }

    /// The oneof member, written even when it holds its default (an empty
    /// string, `false`, 0), so decoders see which one is set.
    fn any_value(&mut self, value: &Value) {
        match value {
            Value::String(s) => self.bytes_field(ANY_STRING, s.as_str().as_bytes()),
            Value::Bool(b) => {
                self.tag(ANY_BOOL, VARINT);
                self.varint(u64::from(*b));
            }
            Value::I64(i) => {
                self.tag(ANY_INT, VARINT);
                self.varint(*i as u64);
            }
            Value::F64(f) => {
                self.tag(ANY_DOUBLE, FIXED64);
                self.0.extend_from_slice(&f.to_le_bytes());
            }
            Value::Array(array) => self.message::<1>(ANY_ARRAY, |w| w.array(array)),
            // A kind added to the API later: its text rather than nothing.
            other => self.bytes_field(ANY_STRING, other.to_string().as_bytes()),
        }
    }

    fn array(&mut self, array: &Array) {
        let mut each = |value: Value| {
            self.message::<1>(ARRAY_VALUES, |w| w.any_value(&value));
        };
        match array {
            Array::Bool(values) => values.iter().for_each(|v| each(Value::Bool(*v))),
            Array::I64(values) => values.iter().for_each(|v| each(Value::I64(*v))),
            Array::F64(values) => values.iter().for_each(|v| each(Value::F64(*v))),
            Array::String(values) => values.iter().for_each(|v| each(Value::String(v.clone()))),
            other => each(Value::String(other.to_string().into())),
        }
    }
}

fn varint_len(value: u64) -> usize {
    // One byte per started group of 7 bits; 0 still takes one.
    (64 - (value | 1).leading_zeros() as usize).div_ceil(7)
}

/// A length-delimited payload of `len` bytes with its length prefix.
fn len_of(len: usize) -> usize {
    varint_len(len as u64) + len
}

fn put_varint(out: &mut [u8; 10], mut value: u64) -> usize {
    let mut i = 0;
    while value >= 0x80 {
        out[i] = (value as u8) | 0x80;
        value >>= 7;
        i += 1;
    }
    out[i] = value as u8;
    i + 1
}

fn kind(kind: &SpanKind) -> u64 {
    match kind {
        SpanKind::Internal => 1,
        SpanKind::Server => 2,
        SpanKind::Client => 3,
        SpanKind::Producer => 4,
        SpanKind::Consumer => 5,
    }
}

fn flags(cx: &SpanContext, remote: bool) -> u32 {
    let remote = if remote { FLAG_IS_REMOTE } else { 0 };
    u32::from(cx.trace_flags().to_u8()) | FLAG_HAS_IS_REMOTE | remote
}

fn nanos(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varint_lengths_match_the_encoding() {
        for value in [
            0,
            1,
            127,
            128,
            16_383,
            16_384,
            u64::from(u32::MAX),
            u64::MAX,
        ] {
            let mut out = [0; 10];
            assert_eq!(varint_len(value), put_varint(&mut out, value), "{value}");
        }
    }
}
