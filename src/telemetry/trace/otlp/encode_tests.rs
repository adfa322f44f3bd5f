//! Our encoding against opentelemetry-proto's: any batch, encoded here and
//! decoded by prost, must equal what opentelemetry-otlp would have sent.

use std::{
    borrow::Cow,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use opentelemetry::{
    Array, InstrumentationScope, KeyValue, StringValue, Value,
    trace::{Event, Link, SpanContext, SpanId, SpanKind, Status, TraceFlags, TraceId, TraceState},
};
use opentelemetry_proto::{
    tonic::collector::trace::v1::ExportTraceServiceRequest,
    transform::{
        common::tonic::ResourceAttributesWithSchema,
        trace::tonic::group_spans_by_resource_and_scope,
    },
};
use opentelemetry_sdk::{
    Resource,
    trace::{SpanData, SpanEvents, SpanLinks},
};
use proptest::{collection::vec, option, prelude::*};
use prost::Message;

use super::encode::export_request;

fn reference(resource: &Resource, spans: Vec<SpanData>) -> ExportTraceServiceRequest {
    let resource = ResourceAttributesWithSchema::from(resource);
    ExportTraceServiceRequest {
        resource_spans: group_spans_by_resource_and_scope(spans, &resource),
    }
}

fn ours(resource: &Resource, spans: &[SpanData]) -> ExportTraceServiceRequest {
    let mut body = Vec::new();
    export_request(resource, spans, &mut body);
    ExportTraceServiceRequest::decode(body.as_slice()).expect("our bytes decode")
}

/// Short, empty, multi-byte and long enough for two- and three-byte lengths.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[a-z.]{0,12}",
        2 => "\\PC{0,40}",
        1 => (100usize..20_000).prop_map(|n| "x".repeat(n)),
    ]
}

fn value() -> impl Strategy<Value = Value> {
    let finite = -1e12f64..1e12;
    prop_oneof![
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::I64),
        finite.clone().prop_map(Value::F64),
        text().prop_map(|s| Value::String(s.into())),
        vec(any::<bool>(), 0..4).prop_map(|v| Value::Array(Array::Bool(v))),
        vec(any::<i64>(), 0..4).prop_map(|v| Value::Array(Array::I64(v))),
        vec(finite, 0..4).prop_map(|v| Value::Array(Array::F64(v))),
        vec("[a-z]{0,6}", 0..4).prop_map(|v| {
            Value::Array(Array::String(
                v.into_iter().map(StringValue::from).collect(),
            ))
        }),
    ]
}

fn attributes(max: usize) -> impl Strategy<Value = Vec<KeyValue>> {
    vec(
        ("[a-z_.]{0,16}", value()).prop_map(|(k, v)| KeyValue::new(k, v)),
        0..max,
    )
}

fn time() -> impl Strategy<Value = SystemTime> {
    // Before the epoch too: both encodings send 0 then.
    (-10i64..2_000_000_000_000_000_000).prop_map(|n| match u64::try_from(n) {
        Ok(n) => UNIX_EPOCH + Duration::from_nanos(n),
        Err(_) => UNIX_EPOCH - Duration::from_secs(1),
    })
}

fn context() -> impl Strategy<Value = SpanContext> {
    let states = prop_oneof![
        Just(TraceState::NONE),
        Just(TraceState::from_key_value([("vendor", "abc")]).unwrap()),
        Just(TraceState::from_key_value([("a", "1"), ("b", "2")]).unwrap()),
    ];
    (
        any::<u128>(),
        any::<u64>(),
        any::<u8>(),
        any::<bool>(),
        states,
    )
        .prop_map(|(trace, span, flags, remote, state)| {
            SpanContext::new(
                TraceId::from(trace),
                SpanId::from(span),
                TraceFlags::new(flags),
                remote,
                state,
            )
        })
}

fn scope() -> impl Strategy<Value = InstrumentationScope> {
    prop_oneof![
        Just(InstrumentationScope::builder("axum-xray-otel").build()),
        Just(
            InstrumentationScope::builder("other")
                .with_version("1.2.3")
                .with_schema_url("https://opentelemetry.io/schemas/1.30.0")
                .with_attributes([KeyValue::new("scope.attr", 7)])
                .build()
        ),
    ]
}

fn status() -> impl Strategy<Value = Status> {
    prop_oneof![
        Just(Status::Unset),
        Just(Status::Ok),
        text().prop_map(Status::error),
    ]
}

fn kind() -> impl Strategy<Value = SpanKind> {
    prop_oneof![
        Just(SpanKind::Internal),
        Just(SpanKind::Server),
        Just(SpanKind::Client),
        Just(SpanKind::Producer),
        Just(SpanKind::Consumer),
    ]
}

fn event() -> impl Strategy<Value = Event> {
    (text(), time(), attributes(3), 0u32..3)
        .prop_map(|(name, at, attrs, dropped)| Event::new(name, at, attrs, dropped))
}

fn link() -> impl Strategy<Value = Link> {
    (context(), attributes(3), 0u32..3)
        .prop_map(|(cx, attrs, dropped)| Link::new(cx, attrs, dropped))
}

fn span() -> impl Strategy<Value = SpanData> {
    let ids = (
        context(),
        option::of(any::<u64>()),
        any::<bool>(),
        kind(),
        text(),
    );
    let times = (time(), time(), attributes(12), 0u32..3);
    let rest = (
        vec(event(), 0..3),
        0u32..3,
        vec(link(), 0..2),
        0u32..3,
        status(),
        scope(),
    );
    (ids, times, rest).prop_map(
        |(
            (cx, parent, parent_remote, kind, name),
            (start, end, attributes, dropped_attributes),
            (events, dropped_events, links, dropped_links, status, scope),
        )| SpanData {
            span_context: cx,
            parent_span_id: parent.map_or(SpanId::INVALID, SpanId::from),
            parent_span_is_remote: parent_remote,
            span_kind: kind,
            name: Cow::Owned(name),
            start_time: start,
            end_time: end,
            attributes,
            dropped_attributes_count: dropped_attributes,
            events: events_of(events, dropped_events),
            links: links_of(links, dropped_links),
            status,
            instrumentation_scope: scope,
        },
    )
}

fn events_of(events: Vec<Event>, dropped_count: u32) -> SpanEvents {
    let mut all = SpanEvents::default();
    all.events = events;
    all.dropped_count = dropped_count;
    all
}

fn links_of(links: Vec<Link>, dropped_count: u32) -> SpanLinks {
    let mut all = SpanLinks::default();
    all.links = links;
    all.dropped_count = dropped_count;
    all
}

fn resource() -> impl Strategy<Value = Resource> {
    (attributes(8), any::<bool>()).prop_map(|(attrs, schema)| {
        let builder = Resource::builder_empty();
        let builder = if schema {
            builder.with_schema_url(attrs, "https://opentelemetry.io/schemas/1.30.0")
        } else {
            builder.with_attributes(attrs)
        };
        builder.build()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn any_batch_decodes_to_what_opentelemetry_proto_builds(
        resource in resource(),
        spans in vec(span(), 0..6),
    ) {
        let expected = reference(&resource, spans.clone());
        prop_assert_eq!(ours(&resource, &spans), expected);
    }
}

#[test]
fn a_request_span_as_the_service_makes_it() {
    let resource = Resource::builder().with_service_name("svc").build();
    let span = SpanData {
        span_context: SpanContext::new(
            TraceId::from(0x5f84c7a8_1234_5678_9abc_def012345678_u128),
            SpanId::from(0x53995c3f42cd8ad8_u64),
            TraceFlags::SAMPLED,
            false,
            TraceState::NONE,
        ),
        parent_span_id: SpanId::from(0x1122334455667788_u64),
        parent_span_is_remote: true,
        span_kind: SpanKind::Server,
        name: "GET /api/users/{id}".into(),
        start_time: UNIX_EPOCH + Duration::from_secs(1_700_000_000),
        end_time: UNIX_EPOCH + Duration::from_secs(1_700_000_001),
        attributes: vec![
            KeyValue::new("http.request.method", "GET"),
            KeyValue::new("http.response.status_code", 200_i64),
        ],
        dropped_attributes_count: 0,
        events: SpanEvents::default(),
        links: SpanLinks::default(),
        status: Status::Unset,
        instrumentation_scope: InstrumentationScope::builder("axum-xray-otel").build(),
    };
    let decoded = ours(&resource, std::slice::from_ref(&span));
    assert_eq!(decoded, reference(&resource, vec![span]));
    let spans = &decoded.resource_spans[0].scope_spans[0].spans;
    assert_eq!(spans[0].flags, 0x301, "sampled, parent known to be remote");
}
