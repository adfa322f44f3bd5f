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
    /// `aws.local.service` and `aws.local.environment`, from the resource.
    local: Vec<KeyValue>,
}

impl<E> std::fmt::Debug for AppSignals<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppSignals").finish_non_exhaustive()
    }
}

impl<E> AppSignals<E> {
    pub(crate) fn new(inner: E) -> Self {
        Self {
            inner,
            local: Vec::new(),
        }
    }
}

impl<E: SpanExporter> SpanExporter for AppSignals<E> {
    async fn export(&self, mut batch: Vec<SpanData>) -> OTelSdkResult {
        for span in &mut batch {
            if annotate(&span.span_kind, &mut span.attributes) {
                add_missing(&mut span.attributes, &self.local);
                if matches!(span.span_kind, SpanKind::Server) {
                    let name = KeyValue::new("aws.local.operation", span.name.clone());
                    add_missing(&mut span.attributes, &[name]);
                }
            }
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
        self.local = local(resource);
        self.inner.set_resource(resource);
    }
}

/// The service and its environment as ADOT names them: the resource's
/// deployment environment, else `ecs:<cluster>`, `lambda:default` or
/// `generic:default` by platform.
fn local(resource: &Resource) -> Vec<KeyValue> {
    let get = |key: &'static str| resource.get(&opentelemetry::Key::from_static_str(key));
    let service = get("service.name")
        .map_or_else(|| "UnknownService".to_owned(), |v| v.as_str().into_owned());
    let environment = get("deployment.environment.name")
        .or_else(|| get("deployment.environment"))
        .map(|v| v.as_str().into_owned())
        .unwrap_or_else(|| {
            match get("cloud.platform")
                .map(|v| v.as_str().into_owned())
                .as_deref()
            {
                Some("aws_ecs") => {
                    let cluster = get("aws.ecs.cluster.arn")
                        .map(|v| v.as_str().rsplit('/').next().unwrap_or_default().to_owned())
                        .filter(|c| !c.is_empty())
                        .unwrap_or_else(|| "default".to_owned());
                    format!("ecs:{cluster}")
                }
                Some("aws_lambda") => "lambda:default".to_owned(),
                _ => "generic:default".to_owned(),
            }
        });
    vec![
        KeyValue::new("aws.local.service", service),
        KeyValue::new("aws.local.environment", environment),
    ]
}

fn add_missing(attributes: &mut Vec<KeyValue>, extra: &[KeyValue]) {
    for kv in extra {
        if !attributes.iter().any(|a| a.key == kv.key) {
            attributes.push(kv.clone());
        }
    }
}

/// Adds what a span of this kind lacks (a value already there is kept);
/// false for kinds Application Signals does not read.
fn annotate(kind: &SpanKind, attributes: &mut Vec<KeyValue>) -> bool {
    let has =
        |attributes: &[KeyValue], key: &str| attributes.iter().any(|kv| kv.key.as_str() == key);
    let span_kind = match kind {
        SpanKind::Server => "LOCAL_ROOT",
        SpanKind::Client => "CLIENT",
        _ => return false,
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
    true
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
    fn environment_is_the_deployment_else_the_platform() {
        let env = |pairs: &[(&'static str, &'static str)]| {
            let resource = Resource::builder_empty()
                .with_attributes(pairs.iter().map(|(k, v)| KeyValue::new(*k, *v)))
                .build();
            value(&local(&resource), "aws.local.environment")
        };
        assert_eq!(
            env(&[("deployment.environment.name", "prod")]).as_deref(),
            Some("prod")
        );
        let ecs = [
            ("cloud.platform", "aws_ecs"),
            ("aws.ecs.cluster.arn", "arn:aws:ecs:eu-west-1:1:cluster/web"),
        ];
        assert_eq!(env(&ecs).as_deref(), Some("ecs:web"));
        assert_eq!(
            env(&[("cloud.platform", "aws_lambda")]).as_deref(),
            Some("lambda:default")
        );
        assert_eq!(env(&[]).as_deref(), Some("generic:default"));
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
