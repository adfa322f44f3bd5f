//! Adds the Application Signals attributes at export time, on the export
//! thread, so the request path pays nothing: `aws.span.kind` on every SERVER
//! and CLIENT span, and `aws.remote.service`/`aws.remote.operation` on CLIENT
//! spans, derived from the attributes their instrumentation recorded.

use std::time::Duration;

use opentelemetry::{KeyValue, trace::SpanKind};
use opentelemetry_sdk::{
    Resource,
    error::OTelSdkResult,
    trace::{SpanData, SpanExporter},
};

use super::remote;

pub(crate) struct AppSignals<E> {
    inner: E,
}

impl<E> std::fmt::Debug for AppSignals<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppSignals").finish_non_exhaustive()
    }
}

impl<E> AppSignals<E> {
    pub(crate) fn new(inner: E) -> Self {
        Self { inner }
    }
}

impl<E: SpanExporter> SpanExporter for AppSignals<E> {
    async fn export(&self, mut batch: Vec<SpanData>) -> OTelSdkResult {
        for span in &mut batch {
            annotate(&span.span_kind, &mut span.attributes);
        }
        self.inner.export(batch).await
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}

/// Adds what a span of this kind lacks; a value already there is kept.
fn annotate(kind: &SpanKind, attributes: &mut Vec<KeyValue>) {
    let has =
        |attributes: &[KeyValue], key: &str| attributes.iter().any(|kv| kv.key.as_str() == key);
    let span_kind = match kind {
        SpanKind::Server => "LOCAL_ROOT",
        SpanKind::Client => "CLIENT",
        _ => return,
    };
    if !has(attributes, "aws.span.kind") {
        attributes.push(KeyValue::new("aws.span.kind", span_kind));
    }
    if matches!(kind, SpanKind::Client) {
        let (service, operation) = remote::remote_service_and_operation(attributes);
        if !has(attributes, "aws.remote.service") {
            attributes.push(KeyValue::new("aws.remote.service", service));
        }
        if !has(attributes, "aws.remote.operation") {
            attributes.push(KeyValue::new("aws.remote.operation", operation));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(attributes: &[KeyValue], key: &str) -> Option<String> {
        attributes
            .iter()
            .find(|kv| kv.key.as_str() == key)
            .map(|kv| kv.value.as_str().into_owned())
    }

    #[test]
    fn client_span_gets_its_dependency() {
        let mut attributes = vec![
            KeyValue::new("rpc.system", "aws-api"),
            KeyValue::new("rpc.service", "DynamoDB"),
            KeyValue::new("rpc.method", "GetItem"),
        ];
        annotate(&SpanKind::Client, &mut attributes);
        assert_eq!(
            value(&attributes, "aws.span.kind").as_deref(),
            Some("CLIENT")
        );
        assert_eq!(
            value(&attributes, "aws.remote.service").as_deref(),
            Some("AWS::DynamoDB")
        );
        assert_eq!(
            value(&attributes, "aws.remote.operation").as_deref(),
            Some("GetItem")
        );
    }

    #[test]
    fn server_span_is_the_local_root_and_internal_spans_are_left_alone() {
        let mut attributes = vec![];
        annotate(&SpanKind::Server, &mut attributes);
        assert_eq!(
            value(&attributes, "aws.span.kind").as_deref(),
            Some("LOCAL_ROOT")
        );
        assert_eq!(value(&attributes, "aws.remote.service"), None);
        let mut attributes = vec![];
        annotate(&SpanKind::Internal, &mut attributes);
        assert!(attributes.is_empty());
    }
}
