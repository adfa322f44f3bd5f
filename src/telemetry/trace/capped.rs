//! Keeps every exported span well under X-Ray's 200 KB span limit by
//! construction: a string attribute longer than [`MAX_VALUE_BYTES`] is cut at
//! a character boundary and marked, never dropped, and the cuts are logged
//! with their count.

use std::time::Duration;

use opentelemetry::{KeyValue, Value};
use opentelemetry_sdk::{
    Resource,
    error::OTelSdkResult,
    trace::{SpanData, SpanExporter},
};

/// Longest string value kept whole; the SDK's default of 128 attributes per
/// span times this stays under X-Ray's span limit.
pub(crate) const MAX_VALUE_BYTES: usize = 1024;
/// Appended to a cut value so a reader knows it is not the whole.
const MARK: &str = "...[truncated]";

pub(crate) struct Capped<E> {
    inner: E,
}

impl<E> std::fmt::Debug for Capped<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Capped").finish_non_exhaustive()
    }
}

impl<E> Capped<E> {
    pub(crate) fn new(inner: E) -> Self {
        Self { inner }
    }
}

impl<E: SpanExporter> SpanExporter for Capped<E> {
    async fn export(&self, mut batch: Vec<SpanData>) -> OTelSdkResult {
        let cut: usize = batch.iter_mut().map(|s| cap(&mut s.attributes)).sum();
        if cut > 0 {
            tracing::warn!(
                values_truncated = cut as i64,
                max_bytes = MAX_VALUE_BYTES as i64,
                "span attribute values cut to fit X-Ray's span size limit"
            );
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

/// Cuts the long string values; returns how many were cut.
fn cap(attributes: &mut [KeyValue]) -> usize {
    let mut cut = 0;
    for kv in attributes {
        if let Value::String(s) = &kv.value
            && s.as_str().len() > MAX_VALUE_BYTES
        {
            let text = s.as_str();
            let mut end = MAX_VALUE_BYTES - MARK.len();
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            kv.value = Value::from(format!("{}{MARK}", &text[..end]));
            cut += 1;
        }
    }
    cut
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_huge_value_is_cut_marked_and_counted() {
        let huge = "é".repeat(300_000);
        let mut attributes = vec![
            KeyValue::new("db.query.text", huge),
            KeyValue::new("http.route", "/api/users/{id}"),
        ];
        assert_eq!(cap(&mut attributes), 1);
        let cut = attributes[0].value.as_str();
        assert!(cut.len() <= MAX_VALUE_BYTES);
        assert!(cut.ends_with(MARK));
        assert_eq!(attributes[1].value.as_str(), "/api/users/{id}");
    }
}
