//! Property tests of incoming trace-header parsing through the public API:
//! `X-Amzn-Trace-Id`, `traceparent`, `tracestate` and `baggage`, alone and
//! together, well-formed, nearly well-formed and arbitrary. Nothing panics,
//! what is valid is understood exactly, and time grows linearly with size.
//!
//! About 1,000,000 cases in all; `FUZZ_SCALE=10` runs ten times as many
//! (RELIABILITY.md has the figures of the longer run).

use std::{
    borrow::Cow,
    time::{Duration, Instant},
};

use axum_xray_otel::{
    config::Propagator,
    telemetry::propagation::{Propagation, XRAY_HEADER, header_map, parse_xray},
};
use http::{HeaderMap, HeaderName, HeaderValue};
use opentelemetry::{
    baggage::BaggageExt,
    trace::{SpanId, TraceContextExt, TraceId},
};
use proptest::{prelude::*, test_runner::Config};

fn cases(base: u32) -> Config {
    let scale = std::env::var("FUZZ_SCALE")
        .ok()
        .and_then(|v| v.parse::<u32>().ok())
        .unwrap_or(1);
    Config {
        cases: base * scale,
        // Shrinking a failure, not finding one, is what takes time.
        max_shrink_iters: 10_000,
        // Integration tests have no lib.rs for proptest to put regressions
        // next to; a failure prints its minimal input instead.
        failure_persistence: None,
        ..Config::default()
    }
}

fn all() -> Propagation {
    Propagation::new(&[
        Propagator::Xray,
        Propagator::TraceContext,
        Propagator::Baggage,
    ])
}

fn hex(len: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop::sample::select(b"0123456789abcdef".as_slice()),
        len..=len,
    )
    .prop_map(|b| String::from_utf8(b).expect("ascii"))
}

/// Characters that make trouble in these headers, plus a little of everything.
fn nasty_char() -> impl Strategy<Value = char> {
    prop_oneof![
        4 => prop::sample::select(
            "=;,-:|?&% \t\"'\\01aAfFgG9xX".chars().collect::<Vec<_>>()
        ),
        1 => any::<char>(),
    ]
}

fn nasty_string(max: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(nasty_char(), 0..max).prop_map(|c| c.into_iter().collect())
}

/// A string with one random edit: a character inserted, replaced or removed.
fn mutated(base: String) -> impl Strategy<Value = String> {
    let len = base.chars().count();
    (0..=len, nasty_char(), 0..4u8).prop_map(move |(at, c, op)| {
        let mut chars: Vec<char> = base.chars().collect();
        match op {
            0 => chars.insert(at, c),
            1 if at < len => chars[at] = c,
            2 if at < len => {
                chars.remove(at);
            }
            _ => {}
        }
        chars.into_iter().collect()
    })
}

#[derive(Clone, Debug)]
struct XrayParts {
    epoch: String,
    random: String,
    parent: Option<String>,
    sampled: Option<&'static str>,
    extra: Vec<(String, String)>,
    trailing_semicolon: bool,
}

impl XrayParts {
    fn render(&self) -> String {
        let mut parts = vec![format!("Root=1-{}-{}", self.epoch, self.random)];
        if let Some(p) = &self.parent {
            parts.push(format!("Parent={p}"));
        }
        if let Some(s) = self.sampled {
            parts.push(format!("Sampled={s}"));
        }
        parts.extend(self.extra.iter().map(|(k, v)| format!("{k}={v}")));
        let mut text = parts.join(";");
        if self.trailing_semicolon {
            text.push(';');
        }
        text
    }
}

fn xray_parts() -> impl Strategy<Value = XrayParts> {
    (
        hex(8),
        hex(24),
        prop::option::of(hex(16)),
        prop::option::of(prop::sample::select(vec!["0", "1", "?"])),
        prop::collection::vec(
            (
                prop::sample::select(vec!["Self", "Lineage", "Custom_1", "x"]),
                "[a-zA-Z0-9:|.\\-]{0,20}",
            )
                .prop_map(|(k, v)| (k.to_owned(), v)),
            0..3,
        ),
        any::<bool>(),
    )
        .prop_map(
            |(epoch, random, parent, sampled, extra, trailing_semicolon)| XrayParts {
                epoch,
                random,
                parent,
                sampled,
                extra,
                trailing_semicolon,
            },
        )
}

fn traceparent_parts() -> impl Strategy<Value = (String, String, String, String)> {
    (
        prop_oneof![Just("00".to_owned()), hex(2)],
        hex(32),
        hex(16),
        prop_oneof![Just("01".to_owned()), Just("00".to_owned()), hex(2)],
    )
}

fn list(item: BoxedStrategy<String>, max: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(item, 0..max).prop_map(|v| v.join(","))
}

fn tracestate() -> impl Strategy<Value = String> {
    let entry = prop_oneof![
        ("[a-z][a-z0-9_\\-*/]{0,10}", "[ -+\\--<>-~]{0,16}").prop_map(|(k, v)| format!("{k}={v}")),
        nasty_string(20),
    ]
    .boxed();
    list(entry, 8)
}

fn baggage() -> impl Strategy<Value = String> {
    let entry = prop_oneof![
        (
            "[a-zA-Z0-9_]{1,8}",
            "[a-zA-Z0-9%_ ]{0,12}",
            "(;[a-z]{1,4}(=[a-z0-9]{0,4})?)?"
        )
            .prop_map(|(k, v, p)| format!("{k}={v}{p}")),
        nasty_string(20),
    ]
    .boxed();
    list(entry, 8)
}

fn extract(pairs: &[(&'static str, String)]) -> opentelemetry::Context {
    all().extract(&header_map(
        pairs.iter().map(|(k, v)| (*k, Cow::Borrowed(v.as_str()))),
    ))
}

proptest! {
    #![proptest_config(cases(250_000))]

    /// Well-formed X-Ray headers parse to exactly their parts, and become
    /// the parent (or the adopted root) of the server span.
    #[test]
    fn valid_xray_headers_mean_what_they_say(parts in xray_parts()) {
        let text = parts.render();
        let root = TraceId::from_hex(&format!("{}{}", parts.epoch, parts.random)).expect("hex");
        let parent = parts.parent.as_deref().map(|p| SpanId::from_hex(p).expect("hex"));
        let parsed = parse_xray(&text);
        let zero = root == TraceId::INVALID || parent == Some(SpanId::INVALID);
        if zero {
            prop_assert!(parsed.is_none(), "{text}");
            return Ok(());
        }
        let parsed = parsed.ok_or_else(|| TestCaseError::fail(format!("rejected {text}")))?;
        prop_assert_eq!(parsed.trace_id, root);
        prop_assert_eq!(parsed.parent, parent);
        prop_assert_eq!(parsed.sampled, match parts.sampled {
            Some("1") => Some(true),
            Some("0") => Some(false),
            _ => None,
        });
        let cx = extract(&[(XRAY_HEADER, text)]);
        if let Some(parent) = parent {
            let span = cx.span();
            let sc = span.span_context();
            prop_assert_eq!(sc.trace_id(), root);
            prop_assert_eq!(sc.span_id(), parent);
            prop_assert!(sc.is_remote());
        }
    }
}

proptest! {
    #![proptest_config(cases(200_000))]

    /// Nearly valid X-Ray headers never panic; what parses has a real root.
    #[test]
    fn mutated_xray_headers_never_panic(text in xray_parts().prop_flat_map(|p| mutated(p.render()))) {
        if let Some(parsed) = parse_xray(&text) {
            prop_assert!(parsed.trace_id != TraceId::INVALID);
            prop_assert!(parsed.parent != Some(SpanId::INVALID));
            prop_assert!(!text.bytes().any(|b| b.is_ascii_whitespace()));
        }
        let _ = extract(&[(XRAY_HEADER, text)]);
    }

    /// Valid W3C traceparents (version 00 exactly 55 bytes) are the parent
    /// when no X-Ray header is present; edited ones never panic and, when
    /// accepted, carry the trace id they spell.
    #[test]
    fn traceparents_are_exact_or_ignored(
        (version, trace, span, flags) in traceparent_parts(),
        edit in any::<bool>(),
        ts in tracestate(),
    ) {
        let text = format!("{version}-{trace}-{span}-{flags}");
        let text = if edit {
            // A random edit, chosen deterministically from the parts.
            let at = usize::from(trace.as_bytes()[0]) % (text.len() + 1);
            let mut t = text.clone();
            t.insert(at, char::from(span.as_bytes()[0]));
            t
        } else {
            text
        };
        let cx = extract(&[("traceparent", text.clone()), ("tracestate", ts)]);
        let span_ref = cx.span();
        let sc = span_ref.span_context();
        let strictly_valid = !edit
            && version == "00"
            && trace.bytes().any(|b| b != b'0')
            && span.bytes().any(|b| b != b'0');
        if strictly_valid {
            prop_assert!(sc.is_valid(), "{text}");
            prop_assert_eq!(sc.trace_id().to_string(), trace);
            prop_assert_eq!(sc.span_id().to_string(), span);
        }
        if sc.is_valid() {
            prop_assert!(text.len() >= 55, "{text}");
            prop_assert!(!text.starts_with("ff"), "{text}");
            prop_assert_eq!(sc.trace_id().to_string(), &text[3..35]);
        }
    }
}

proptest! {
    #![proptest_config(cases(150_000))]

    /// Baggage and tracestate in any shape never panic, and well-formed
    /// baggage entries are kept.
    #[test]
    fn baggage_and_tracestate_never_panic(b in baggage(), ts in tracestate(), tp in traceparent_parts()) {
        let traceparent = format!("{}-{}-{}-{}", tp.0, tp.1, tp.2, tp.3);
        let cx = extract(&[("baggage", b.clone()), ("tracestate", ts), ("traceparent", traceparent)]);
        let baggage = cx.baggage();
        prop_assert!(baggage.len() <= b.split(',').count());
    }
}

proptest! {
    #![proptest_config(cases(200_000))]

    /// Arbitrary bytes in all four headers, repeated headers included:
    /// extraction never panics, and an X-Ray header that parses wins.
    #[test]
    fn arbitrary_bytes_in_every_header_never_panic(
        values in prop::collection::vec(
            (0..4usize, prop_oneof![
                3 => nasty_string(80).prop_map(String::into_bytes),
                1 => prop::collection::vec(any::<u8>(), 0..80),
            ]),
            0..6,
        )
    ) {
        const NAMES: [&str; 4] = [XRAY_HEADER, "traceparent", "tracestate", "baggage"];
        let mut headers = HeaderMap::new();
        for (name, bytes) in &values {
            if let Ok(value) = HeaderValue::from_bytes(bytes) {
                headers.append(HeaderName::from_static(NAMES[*name]), value);
            }
        }
        let cx = all().extract(&headers);
        let first_xray = headers
            .get(XRAY_HEADER)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_xray);
        if let Some(xray) = first_xray
            && xray.parent.is_some()
        {
            prop_assert_eq!(cx.span().span_context().trace_id(), xray.trace_id);
        }
    }
}

/// The best of `runs` timings of `f` (the minimum is the least noisy).
fn best_of(runs: usize, mut f: impl FnMut()) -> Duration {
    (0..runs)
        .map(|_| {
            let started = Instant::now();
            f();
            started.elapsed()
        })
        .min()
        .unwrap_or_default()
}

/// Headers of about `size` bytes each, built to stress the parsers: many
/// list entries, many separators, a long traceparent suffix.
fn large_headers(size: usize) -> Vec<(&'static str, String)> {
    let repeat = |unit: &str| unit.repeat(size / unit.len());
    vec![
        (
            XRAY_HEADER,
            format!(
                "Root=1-5759e988-bd862e3fe1be46a994272793;{}",
                repeat("Lineage=a87bd80c:1|68fd508a:5;")
            ),
        ),
        (
            "traceparent",
            format!(
                "01-5759e988bd862e3fe1be46a994272793-53995c3f42cd8ad8-01-{}",
                repeat("a")
            ),
        ),
        ("tracestate", repeat("vendor=opaque-value,")),
        ("baggage", repeat("key=value%20x;prop=1,")),
    ]
}

#[test]
fn parse_time_grows_linearly_with_header_size() {
    let sizes = [1024, 8 * 1024, 64 * 1024];
    let per_header = ["x-amzn-trace-id", "traceparent", "tracestate", "baggage"];
    let mut report = Vec::new();
    for (i, name) in per_header.iter().enumerate() {
        let times: Vec<Duration> = sizes
            .iter()
            .map(|&size| {
                let headers = large_headers(size);
                // The X-Ray case alone, and each other header next to it, so
                // the X-Ray header does not win and hide the others.
                let pairs = if i == 0 {
                    vec![headers[0].clone()]
                } else {
                    vec![headers[i].clone(), headers[1].clone()]
                };
                let map = header_map(pairs.iter().map(|(k, v)| (*k, Cow::Borrowed(v.as_str()))));
                best_of(15, || {
                    std::hint::black_box(all().extract(std::hint::black_box(&map)));
                })
            })
            .collect();
        report.push(format!("{name}: {times:?}"));
        // Linear is 8x per step; quadratic would be 64x. Small inputs are
        // dominated by fixed costs, so only an upper bound is meaningful.
        for step in times.windows(2) {
            let ratio = step[1].as_secs_f64() / step[0].as_secs_f64().max(1e-9);
            assert!(
                ratio < 24.0,
                "{name}: {:?} -> {:?} is {ratio:.1}x for 8x the input",
                step[0],
                step[1]
            );
        }
    }
    eprintln!("extract time at 1, 8, 64 KiB:\n  {}", report.join("\n  "));
}
