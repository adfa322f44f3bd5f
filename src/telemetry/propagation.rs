//! Trace context propagation shared by both targets and by outgoing calls.
//!
//! Incoming: `X-Amzn-Trace-Id` (parsed strictly here), W3C `traceparent` /
//! `tracestate` and `baggage`, as selected by `OTEL_PROPAGATORS`. When both an
//! X-Ray and a W3C header are valid, X-Ray wins: it is what the ALB and Lambda
//! send. A header that is malformed in any way is ignored as if absent.
//!
//! X-Ray allows a `Root` without a `Parent` (the ALB sends exactly that). The
//! SDK cannot express "this trace id, no parent", so such a header becomes an
//! [`IncomingRoot`] value in the context: `trace::start_server_span` turns it
//! into the span's own trace id, and the sampler honours its `Sampled` flag.

use std::borrow::Cow;

use http::{HeaderMap, HeaderName, HeaderValue};
use opentelemetry::{
    Context,
    propagation::{Extractor, Injector, TextMapPropagator},
    trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState},
};
use opentelemetry_aws::trace::XrayPropagator;
use opentelemetry_sdk::propagation::{BaggagePropagator, TraceContextPropagator};

use crate::config::Propagator;

pub const XRAY_HEADER: &str = "x-amzn-trace-id";
// Looked up by `HeaderName`: a `&str` key is parsed and checked on every request.
static XRAY_HEADER_NAME: HeaderName = HeaderName::from_static(XRAY_HEADER);
static TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");

/// Longer X-Ray headers are treated as malformed (a real one is under 200 bytes).
const MAX_XRAY_HEADER_LEN: usize = 512;

/// A parsed `X-Amzn-Trace-Id`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct XrayHeader {
    pub trace_id: TraceId,
    pub parent: Option<SpanId>,
    /// `None` when absent or `?`: the receiver decides.
    pub sampled: Option<bool>,
}

/// A trace id (and sampling decision) received without a parent span, or a
/// parent received with the sampling decision left to us.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IncomingRoot {
    pub trace_id: TraceId,
    pub sampled: Option<bool>,
}

/// Parses an `X-Amzn-Trace-Id` value; `None` if anything about it is malformed.
pub fn parse_xray(value: &str) -> Option<XrayHeader> {
    // Only visible ASCII: whitespace (even after `;`) and control bytes are malformed.
    if value.len() > MAX_XRAY_HEADER_LEN || !value.bytes().all(|b| b.is_ascii_graphic()) {
        return None;
    }
    let (mut root, mut parent, mut sampled) = (None, None, None);
    let value = value.strip_suffix(';').unwrap_or(value);
    for part in value.split(';') {
        let (key, val) = part.split_once('=')?;
        let slot_taken = match key {
            "Root" => root.replace(parse_xray_trace_id(val)?).is_some(),
            "Parent" => parent.replace(parse_span_id(val)?).is_some(),
            "Sampled" => {
                let decision = match val {
                    "1" => Some(true),
                    "0" => Some(false),
                    "?" => None,
                    _ => return None,
                };
                sampled.replace(decision).is_some()
            }
            // Self, Lineage and custom keys: allowed, not used.
            _ => key.is_empty() || !key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'),
        };
        if slot_taken {
            return None;
        }
    }
    Some(XrayHeader {
        trace_id: root?,
        parent,
        sampled: sampled.flatten(),
    })
}

/// `1-5759e988-bd862e3fe1be46a994272793` -> the 128-bit trace id.
fn parse_xray_trace_id(value: &str) -> Option<TraceId> {
    let rest = value.strip_prefix("1-")?;
    let (epoch, random) = rest.split_once('-')?;
    let epoch: [u8; 4] = lower_hex(epoch)?;
    let random: [u8; 12] = lower_hex(random)?;
    let mut id = [0; 16];
    id[..4].copy_from_slice(&epoch);
    id[4..].copy_from_slice(&random);
    (id != [0; 16]).then(|| TraceId::from_bytes(id))
}

fn parse_span_id(value: &str) -> Option<SpanId> {
    let id: [u8; 8] = lower_hex(value)?;
    (id != [0; 8]).then(|| SpanId::from_bytes(id))
}

/// Exactly `2 * N` lower-case hex digits as bytes, decoded without the
/// allocations of `format!` and `from_str_radix`.
fn lower_hex<const N: usize>(s: &str) -> Option<[u8; N]> {
    let digits = s.as_bytes();
    if digits.len() != 2 * N {
        return None;
    }
    let nibble = |b: u8| match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        _ => None,
    };
    let mut out = [0; N];
    for (byte, pair) in out.iter_mut().zip(digits.chunks_exact(2)) {
        *byte = nibble(pair[0])? << 4 | nibble(pair[1])?;
    }
    Some(out)
}

/// W3C Trace Context level 1: `vv-<32 hex>-<16 hex>-ff`, lower-case, exact
/// lengths (the SDK's parser accepts short ids), version `ff` invalid, and
/// only version 00 is exactly 55 bytes.
fn is_valid_traceparent(value: &str) -> bool {
    let b = value.as_bytes();
    if b.len() < 55 || !b[..55].is_ascii() {
        return false;
    }
    if b.len() > 55 && (value.starts_with("00") || b[55] != b'-') {
        return false;
    }
    let dashes = b[2] == b'-' && b[35] == b'-' && b[52] == b'-';
    dashes
        && lower_hex::<1>(&value[..2]).is_some_and(|[version]| version != 0xff)
        && lower_hex::<16>(&value[3..35]).is_some()
        && lower_hex::<8>(&value[36..52]).is_some()
        && lower_hex::<1>(&value[53..55]).is_some()
}

/// The X-Ray form of a trace id, as X-Ray and CloudWatch Logs show it.
pub fn xray_trace_id(trace_id: TraceId) -> String {
    let hex = trace_id.to_string();
    format!("1-{}-{}", &hex[..8], &hex[8..])
}

/// The configured propagators, in one value shared by the server middleware,
/// the Lambda path (the same middleware) and the outgoing HTTP client.
#[derive(Clone, Debug)]
pub struct Propagation {
    xray: bool,
    tracecontext: bool,
    baggage: bool,
}

impl Propagation {
    pub fn new(propagators: &[Propagator]) -> Self {
        Self {
            xray: propagators.contains(&Propagator::Xray),
            tracecontext: propagators.contains(&Propagator::TraceContext),
            baggage: propagators.contains(&Propagator::Baggage),
        }
    }

    /// The parent context of a server span, from the request's headers.
    pub fn extract(&self, headers: &HeaderMap) -> Context {
        let carrier = HeaderCarrier(headers);
        let mut cx = Context::new();
        if self.baggage {
            cx = BaggagePropagator::new().extract_with_context(&cx, &carrier);
        }
        let xray = headers
            .get(&XRAY_HEADER_NAME)
            .and_then(|v| v.to_str().ok())
            .filter(|_| self.xray)
            .and_then(parse_xray);
        if let Some(xray) = xray {
            return with_xray(cx, xray);
        }
        let traceparent = headers.get(&TRACEPARENT).and_then(|v| v.to_str().ok());
        if self.tracecontext && traceparent.is_some_and(is_valid_traceparent) {
            let w3c = TraceContextPropagator::new().extract_with_context(&cx, &carrier);
            if w3c.span().span_context().is_valid() {
                return w3c;
            }
        }
        cx
    }

    /// Writes the headers that carry `cx`'s span to a downstream service.
    pub fn inject(&self, cx: &Context, headers: &mut HeaderMap) {
        let mut carrier = HeaderInjector(headers);
        if self.xray {
            XrayPropagator::new().inject_context(cx, &mut carrier);
        }
        if self.tracecontext {
            TraceContextPropagator::new().inject_context(cx, &mut carrier);
        }
        if self.baggage {
            BaggagePropagator::new().inject_context(cx, &mut carrier);
        }
    }
}

fn with_xray(cx: Context, xray: XrayHeader) -> Context {
    let root = IncomingRoot {
        trace_id: xray.trace_id,
        sampled: xray.sampled,
    };
    let Some(parent) = xray.parent else {
        return cx.with_value(root);
    };
    let flags = if xray.sampled == Some(true) {
        TraceFlags::SAMPLED
    } else {
        TraceFlags::default()
    };
    let span = SpanContext::new(xray.trace_id, parent, flags, true, TraceState::NONE);
    let cx = cx.with_remote_span_context(span);
    // A parent without a decision leaves sampling to us, as a root would.
    if xray.sampled.is_none() {
        cx.with_value(root)
    } else {
        cx
    }
}

struct HeaderCarrier<'a>(&'a HeaderMap);

impl Extractor for HeaderCarrier<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(HeaderName::as_str).collect()
    }
}

struct HeaderInjector<'a>(&'a mut HeaderMap);

impl Injector for HeaderInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        let name = HeaderName::from_bytes(key.as_bytes());
        let value = HeaderValue::from_str(&value);
        if let (Ok(name), Ok(value)) = (name, value) {
            self.0.insert(name, value);
        }
    }
}

/// Used by tests and the fuzz harness: a header map from pairs.
pub fn header_map<'a>(pairs: impl IntoIterator<Item = (&'a str, Cow<'a, str>)>) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (k, v) in pairs {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(k.as_bytes()),
            HeaderValue::from_str(&v),
        ) {
            map.append(name, value);
        }
    }
    map
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROOT: &str = "1-5759e988-bd862e3fe1be46a994272793";
    const TRACE: &str = "5759e988bd862e3fe1be46a994272793";

    fn trace_id() -> TraceId {
        TraceId::from_hex(TRACE).unwrap()
    }

    #[test]
    fn parses_full_header() {
        let h = parse_xray(&format!("Root={ROOT};Parent=53995c3f42cd8ad8;Sampled=1")).unwrap();
        assert_eq!(h.trace_id, trace_id());
        assert_eq!(
            h.parent,
            Some(SpanId::from_hex("53995c3f42cd8ad8").unwrap())
        );
        assert_eq!(h.sampled, Some(true));
    }

    #[test]
    fn parses_alb_header_without_parent_or_sampled() {
        let h = parse_xray(&format!("Root={ROOT}")).unwrap();
        assert_eq!((h.trace_id, h.parent, h.sampled), (trace_id(), None, None));
        let h = parse_xray(&format!(
            "Self=1-67891234-12456789abcdef012345678;Root={ROOT}"
        ))
        .unwrap();
        assert_eq!(h.trace_id, trace_id());
    }

    #[test]
    fn accepts_lineage_and_trailing_semicolon() {
        let h = parse_xray(&format!(
            "Root={ROOT};Parent=53995c3f42cd8ad8;Sampled=0;Lineage=a87bd80c:1|68fd508a:5;"
        ))
        .unwrap();
        assert_eq!(h.sampled, Some(false));
    }

    #[test]
    fn rejects_malformed_headers() {
        let long = format!("Root={ROOT};Data={}", "a".repeat(5000));
        for bad in [
            "",
            "Root=",
            "Root=1-5759e988-bd862e3fe1be46a99427279",
            "Root=1-5759e988-bd862e3fe1be46a9942727933",
            "Root=1-5759e98g-bd862e3fe1be46a994272793",
            "Root=1-5759e988-bd862e3fe1be46a99427279-",
            "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8adG",
            "Root=1-5759E988-BD862E3FE1BE46A994272793",
            "Root=2-5759e988-bd862e3fe1be46a994272793",
            "Root=1-00000000-000000000000000000000000",
            "root=1-5759e988-bd862e3fe1be46a994272793",
            "Root=1-5759e988-bd862e3fe1be46a994272793; Parent=53995c3f42cd8ad8",
            "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad",
            "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=0000000000000000",
            "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=yes",
            "Root=1-5759e988-bd862e3fe1be46a994272793;Root=1-5759e988-bd862e3fe1be46a994272794",
            "Root=1-5759e988-bd862e3fe1be46a994272793;;Sampled=1",
            "Parent=53995c3f42cd8ad8;Sampled=1",
            "Root=1-5759e988-bd862e3fe1be46a994272793;Parent",
            &long,
        ] {
            assert_eq!(parse_xray(bad), None, "accepted {bad:?}");
        }
    }

    #[test]
    fn traceparent_must_have_exact_lengths() {
        assert!(is_valid_traceparent(
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
        ));
        assert!(is_valid_traceparent(
            "01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-later"
        ));
        for bad in [
            "00-0af7651916cd43dd8448eb211c80319-b7ad6b7169203331-01",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b716920333-01",
            "00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01",
            "ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-x",
            "00_0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-0\u{e9}",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-\u{e9}",
        ] {
            assert!(!is_valid_traceparent(bad), "{bad}");
        }
    }

    #[test]
    fn formats_trace_ids_in_xray_form() {
        assert_eq!(xray_trace_id(trace_id()), ROOT);
    }

    fn extract(pairs: &[(&str, &str)]) -> Context {
        let all = [
            Propagator::Xray,
            Propagator::TraceContext,
            Propagator::Baggage,
        ];
        Propagation::new(&all).extract(&header_map(
            pairs.iter().map(|(k, v)| (*k, Cow::Borrowed(*v))),
        ))
    }

    #[test]
    fn xray_wins_over_traceparent() {
        let cx = extract(&[
            (
                "x-amzn-trace-id",
                &format!("Root={ROOT};Parent=53995c3f42cd8ad8;Sampled=1"),
            ),
            (
                "traceparent",
                "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            ),
        ]);
        let span = cx.span();
        let sc = span.span_context();
        assert_eq!(sc.trace_id(), trace_id());
        assert!(sc.is_sampled() && sc.is_remote());
    }

    #[test]
    fn malformed_xray_falls_back_to_traceparent() {
        let cx = extract(&[
            ("x-amzn-trace-id", "Root=garbage"),
            (
                "traceparent",
                "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            ),
        ]);
        assert_eq!(
            cx.span().span_context().trace_id(),
            TraceId::from_hex("0af7651916cd43dd8448eb211c80319c").unwrap()
        );
    }

    #[test]
    fn root_only_header_becomes_an_incoming_root() {
        let cx = extract(&[("x-amzn-trace-id", &format!("Root={ROOT}"))]);
        assert!(!cx.span().span_context().is_valid());
        assert_eq!(
            cx.get::<IncomingRoot>(),
            Some(&IncomingRoot {
                trace_id: trace_id(),
                sampled: None
            })
        );
    }

    #[test]
    fn disabled_propagators_are_ignored() {
        let only_w3c = Propagation::new(&[Propagator::TraceContext]);
        let cx = only_w3c.extract(&header_map([(
            "x-amzn-trace-id",
            Cow::Owned(format!("Root={ROOT};Parent=53995c3f42cd8ad8;Sampled=1")),
        )]));
        assert!(!cx.span().span_context().is_valid());
        assert!(cx.get::<IncomingRoot>().is_none());
    }

    #[test]
    fn injects_both_formats_with_the_sampling_flag() {
        let sc = SpanContext::new(
            trace_id(),
            SpanId::from_hex("53995c3f42cd8ad8").unwrap(),
            TraceFlags::default(),
            false,
            TraceState::NONE,
        );
        let cx = Context::new().with_remote_span_context(sc);
        let mut headers = HeaderMap::new();
        Propagation::new(&[Propagator::Xray, Propagator::TraceContext]).inject(&cx, &mut headers);
        assert_eq!(
            headers["x-amzn-trace-id"],
            format!("Root={ROOT};Parent=53995c3f42cd8ad8;Sampled=0")
        );
        assert_eq!(
            headers["traceparent"],
            format!("00-{TRACE}-53995c3f42cd8ad8-00")
        );
    }
}
