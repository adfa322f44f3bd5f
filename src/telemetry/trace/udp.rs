//! Spans as OTLP over UDP to the X-Ray endpoint Lambda runs beside the
//! function (`AWS_XRAY_DAEMON_ADDRESS`), framed as AWS's own OTLP UDP
//! exporters frame them: the X-Ray daemon's protocol header line, the `T1S`
//! prefix (sampled spans), then the `ExportTraceServiceRequest` protobuf in
//! base64. A send is a local syscall, so the per-invocation flush waits for
//! no network round trip; nothing acknowledges a datagram either.
//!
//! opentelemetry-otlp has no UDP transport; the protobuf comes from
//! opentelemetry-proto, the conversion opentelemetry-otlp itself uses.

use std::{
    io,
    net::{SocketAddr, UdpSocket},
};

use base64::{Engine as _, engine::general_purpose::STANDARD};
use opentelemetry_proto::{
    tonic::{
        collector::trace::v1::ExportTraceServiceRequest,
        trace::v1::{ResourceSpans, ScopeSpans, Span},
    },
    transform::{
        common::tonic::ResourceAttributesWithSchema,
        trace::tonic::group_spans_by_resource_and_scope,
    },
};
use opentelemetry_sdk::{
    Resource,
    error::{OTelSdkError, OTelSdkResult},
    trace::{SpanData, SpanExporter},
};
use prost::{Message, encoding::encoded_len_varint};

/// The X-Ray daemon protocol's header line.
const HEADER: &str = "{\"format\":\"json\",\"version\":1}\n";
/// Sampled spans (only sampled spans are exported here).
const SAMPLED: &str = "T1S";
/// The largest UDP payload over IPv4.
const MAX_DATAGRAM: usize = 65_507;
/// The largest protobuf whose framed base64 fits one datagram.
pub(crate) const MAX_PROTOBUF: usize = (MAX_DATAGRAM - HEADER.len() - SAMPLED.len()) / 4 * 3;
/// Room for the length prefixes of the resource and scope messages, which
/// grow by a byte or two as spans are added.
const PREFIX_SLACK: usize = 16;

pub(crate) struct UdpExporter {
    socket: UdpSocket,
    resource: ResourceAttributesWithSchema,
}

impl std::fmt::Debug for UdpExporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UdpExporter")
            .field("socket", &self.socket)
            .finish_non_exhaustive()
    }
}

impl UdpExporter {
    pub(crate) fn new(daemon: SocketAddr) -> io::Result<Self> {
        let local: SocketAddr = match daemon {
            SocketAddr::V4(_) => ([0, 0, 0, 0], 0).into(),
            SocketAddr::V6(_) => ([0u16; 8], 0).into(),
        };
        let socket = UdpSocket::bind(local)?;
        socket.connect(daemon)?;
        Ok(Self {
            socket,
            resource: ResourceAttributesWithSchema::default(),
        })
    }
}

impl SpanExporter for UdpExporter {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let requests = datagrams(group_spans_by_resource_and_scope(batch, &self.resource));
        let mut failed = None;
        for request in &requests.fitting {
            if let Err(e) = self.socket.send(&frame(&request.encode_to_vec())) {
                failed = Some(e);
            }
        }
        match (failed, requests.too_large) {
            (None, 0) => Ok(()),
            (Some(e), _) => Err(OTelSdkError::InternalFailure(format!(
                "cannot send to the X-Ray endpoint: {e}"
            ))),
            (None, n) => Err(OTelSdkError::InternalFailure(format!(
                "{n} spans were each larger than one datagram and were dropped"
            ))),
        }
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.resource = resource.into();
    }
}

/// A datagram's bytes: the header line, the prefix, the base64 protobuf.
fn frame(protobuf: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER.len() + SAMPLED.len() + protobuf.len().div_ceil(3) * 4);
    out.extend_from_slice(HEADER.as_bytes());
    out.extend_from_slice(SAMPLED.as_bytes());
    let start = out.len();
    out.resize(start + protobuf.len().div_ceil(3) * 4, 0);
    let written = STANDARD
        .encode_slice(protobuf, &mut out[start..])
        .expect("sized for the base64 of the protobuf");
    out.truncate(start + written);
    out
}

/// The export requests a batch is cut into, each small enough for one
/// datagram, and how many spans could not fit even alone.
struct Datagrams {
    fitting: Vec<ExportTraceServiceRequest>,
    too_large: usize,
}

/// Packs spans greedily into requests of at most [`MAX_PROTOBUF`] bytes,
/// never mixing resources or scopes in one request.
fn datagrams(resource_spans: Vec<ResourceSpans>) -> Datagrams {
    let mut out = Datagrams {
        fitting: Vec::new(),
        too_large: 0,
    };
    for mut resource in resource_spans {
        let scopes = std::mem::take(&mut resource.scope_spans);
        for mut scope in scopes {
            let spans = std::mem::take(&mut scope.spans);
            let empty = request(&resource, &scope, Vec::new());
            let fixed = empty.encoded_len() + PREFIX_SLACK;
            let mut chunk: Vec<Span> = Vec::new();
            let mut size = fixed;
            for span in spans {
                let len = span.encoded_len();
                let added = 1 + encoded_len_varint(len as u64) + len;
                if fixed + added > MAX_PROTOBUF {
                    out.too_large += 1;
                    continue;
                }
                if size + added > MAX_PROTOBUF {
                    out.fitting
                        .push(request(&resource, &scope, std::mem::take(&mut chunk)));
                    size = fixed;
                }
                size += added;
                chunk.push(span);
            }
            if !chunk.is_empty() {
                out.fitting.push(request(&resource, &scope, chunk));
            }
        }
    }
    out
}

fn request(
    resource: &ResourceSpans,
    scope: &ScopeSpans,
    spans: Vec<Span>,
) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: resource.resource.clone(),
            scope_spans: vec![ScopeSpans {
                scope: scope.scope.clone(),
                spans,
                schema_url: scope.schema_url.clone(),
            }],
            schema_url: resource.schema_url.clone(),
        }],
    }
}

#[cfg(test)]
mod tests {
    use opentelemetry_proto::tonic::{
        common::v1::{AnyValue, InstrumentationScope, KeyValue, any_value::Value},
        resource::v1::Resource as ProtoResource,
    };

    use super::*;

    fn span(name: &str, attribute_bytes: usize) -> Span {
        Span {
            name: name.to_owned(),
            trace_id: vec![1; 16],
            span_id: vec![2; 8],
            attributes: vec![KeyValue {
                key: "big".to_owned(),
                value: Some(AnyValue {
                    value: Some(Value::StringValue("x".repeat(attribute_bytes))),
                }),
                ..KeyValue::default()
            }],
            ..Span::default()
        }
    }

    fn batch(spans: Vec<Span>) -> Vec<ResourceSpans> {
        vec![ResourceSpans {
            resource: Some(ProtoResource {
                attributes: vec![KeyValue {
                    key: "service.name".to_owned(),
                    value: Some(AnyValue {
                        value: Some(Value::StringValue("svc".to_owned())),
                    }),
                    ..KeyValue::default()
                }],
                ..ProtoResource::default()
            }),
            scope_spans: vec![ScopeSpans {
                scope: Some(InstrumentationScope {
                    name: "scope".to_owned(),
                    ..InstrumentationScope::default()
                }),
                spans,
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        }]
    }

    #[test]
    fn the_largest_protobuf_fills_a_datagram_exactly_when_framed() {
        let framed = frame(&vec![0u8; MAX_PROTOBUF]);
        assert!(framed.len() <= MAX_DATAGRAM, "{}", framed.len());
        assert!(frame(&vec![0u8; MAX_PROTOBUF + 3]).len() > MAX_DATAGRAM);
        assert!(framed.starts_with(b"{\"format\":\"json\",\"version\":1}\nT1S"));
    }

    #[test]
    fn a_batch_is_cut_into_datagrams_that_each_fit_and_keep_every_span() {
        let spans: Vec<Span> = (0..40).map(|i| span(&format!("s{i}"), 5_000)).collect();
        let out = datagrams(batch(spans));
        assert_eq!(out.too_large, 0);
        assert!(out.fitting.len() >= 4, "{}", out.fitting.len());
        let mut names = Vec::new();
        for request in &out.fitting {
            let bytes = request.encode_to_vec();
            assert!(bytes.len() <= MAX_PROTOBUF, "{}", bytes.len());
            assert!(frame(&bytes).len() <= MAX_DATAGRAM);
            let scope = &request.resource_spans[0].scope_spans[0];
            assert_eq!(scope.scope.as_ref().unwrap().name, "scope");
            assert!(request.resource_spans[0].resource.is_some());
            names.extend(scope.spans.iter().map(|s| s.name.clone()));
        }
        let expected: Vec<String> = (0..40).map(|i| format!("s{i}")).collect();
        assert_eq!(names, expected);
    }

    #[test]
    fn a_span_too_large_for_any_datagram_is_counted_and_the_rest_sent() {
        let spans = vec![
            span("small", 10),
            span("huge", MAX_PROTOBUF),
            span("also", 10),
        ];
        let out = datagrams(batch(spans));
        assert_eq!(out.too_large, 1);
        let sent: Vec<&str> = out
            .fitting
            .iter()
            .flat_map(|r| r.resource_spans[0].scope_spans[0].spans.iter())
            .map(|s| s.name.as_str())
            .collect();
        assert_eq!(sent, ["small", "also"]);
    }

    #[test]
    fn a_span_just_under_the_limit_fits_alone() {
        let empty = request(&batch(vec![])[0], &batch(vec![])[0].scope_spans[0], vec![]);
        let room = MAX_PROTOBUF - empty.encoded_len() - PREFIX_SLACK - 64;
        let out = datagrams(batch(vec![span("edge", room)]));
        assert_eq!((out.fitting.len(), out.too_large), (1, 0));
        assert!(out.fitting[0].encoded_len() <= MAX_PROTOBUF);
    }
}
