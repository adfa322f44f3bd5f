//! `OTEL_TRACES_EXPORTER=console`: one JSON line per span on stdout, for
//! local debugging without a collector.

use std::io::Write;

use opentelemetry::trace::{SpanKind, Status};
use opentelemetry_sdk::{
    Resource,
    error::{OTelSdkError, OTelSdkResult},
    trace::{SpanData, SpanExporter},
};
use serde_json::{Map, Value, json};

use crate::telemetry::propagation::xray_trace_id;

#[derive(Debug, Default)]
pub(crate) struct ConsoleExporter {
    service_name: Option<String>,
}

impl SpanExporter for ConsoleExporter {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let mut out = std::io::stdout().lock();
        for span in &batch {
            let line = to_json(span, self.service_name.as_deref());
            writeln!(out, "{line}").map_err(|e| OTelSdkError::InternalFailure(e.to_string()))?;
        }
        Ok(())
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.service_name = resource
            .get(&opentelemetry::Key::from_static_str("service.name"))
            .map(|v| v.to_string());
    }
}

fn to_json(span: &SpanData, service: Option<&str>) -> Value {
    let attributes: Map<String, Value> = span
        .attributes
        .iter()
        .map(|kv| (kv.key.to_string(), Value::String(kv.value.to_string())))
        .collect();
    let parent = span.parent_span_id;
    json!({
        "span": span.name,
        "service": service,
        "trace_id": xray_trace_id(span.span_context.trace_id()),
        "span_id": span.span_context.span_id().to_string(),
        "parent_span_id": (parent != opentelemetry::trace::SpanId::INVALID).then(|| parent.to_string()),
        "kind": match span.span_kind {
            SpanKind::Server => "server",
            SpanKind::Client => "client",
            SpanKind::Producer => "producer",
            SpanKind::Consumer => "consumer",
            SpanKind::Internal => "internal",
        },
        "duration_us": span.end_time.duration_since(span.start_time).map(|d| d.as_micros() as u64).unwrap_or(0),
        "status": match &span.status {
            Status::Unset => "unset",
            Status::Ok => "ok",
            Status::Error { .. } => "error",
        },
        "attributes": attributes,
    })
}
