//! The OTLP exporter variables traces and metrics share: the protocol, the
//! endpoints (per the OpenTelemetry specification) and the header lists.

use super::{reader::Reader, vars::*};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OtlpProtocol {
    HttpProtobuf,
    Grpc,
}

const PROTOCOLS: [(&str, OtlpProtocol); 2] = [
    ("http/protobuf", OtlpProtocol::HttpProtobuf),
    ("grpc", OtlpProtocol::Grpc),
];

pub(super) type Headers = Vec<(http::HeaderName, http::HeaderValue)>;

/// `OTEL_EXPORTER_OTLP_PROTOCOL`, the default of each signal's own protocol.
pub(super) fn general_protocol(r: &mut Reader<'_>) -> OtlpProtocol {
    r.choice(
        OTEL_EXPORTER_OTLP_PROTOCOL,
        OtlpProtocol::HttpProtobuf,
        &PROTOCOLS,
    )
}

/// One signal's protocol (`protocol_var`, else `general`) and endpoint.
pub(super) fn signal(
    r: &mut Reader<'_>,
    general: OtlpProtocol,
    protocol_var: &'static str,
    endpoint_var: &'static str,
    path: &str,
) -> (OtlpProtocol, String) {
    let protocol = r.choice(protocol_var, general, &PROTOCOLS);
    (protocol, signal_endpoint(r, protocol, endpoint_var, path))
}

/// Per the OTel spec: the signal-specific endpoint (`specific`) is used as
/// is; the general one gets `path` (`/v1/traces`) appended for http/protobuf.
fn signal_endpoint(
    r: &mut Reader<'_>,
    protocol: OtlpProtocol,
    specific: &'static str,
    path: &str,
) -> String {
    if r.get(specific).is_some() {
        return r.url(specific, &format!("http://localhost:4318{path}"));
    }
    let (default, suffix) = match protocol {
        OtlpProtocol::HttpProtobuf => ("http://localhost:4318", path),
        OtlpProtocol::Grpc => ("http://localhost:4317", ""),
    };
    let base = r.url(OTEL_EXPORTER_OTLP_ENDPOINT, default);
    format!("{}{suffix}", base.trim_end_matches('/'))
}

/// `key=value` pairs separated by commas, values percent-decoded (the
/// OTLP exporter specification's format).
pub(super) fn headers(r: &mut Reader<'_>, var: &'static str) -> Headers {
    let Some(raw) = r.get(var) else {
        return Vec::new();
    };
    let mut headers = Vec::new();
    for pair in raw.split(',').filter(|p| !p.trim().is_empty()) {
        let parsed = pair.split_once('=').and_then(|(key, value)| {
            let name = http::HeaderName::try_from(key.trim()).ok()?;
            let mut value = http::HeaderValue::try_from(percent_decode(value.trim())?).ok()?;
            // Often a credential: never printed by `Debug`.
            value.set_sensitive(true);
            Some((name, value))
        });
        match parsed {
            Some(header) => headers.push(header),
            None => {
                let key = pair.split('=').next().unwrap_or("").trim();
                r.fail(
                    var,
                    format!("'{key}=…' is not a header as key=value (values percent-encoded)"),
                );
            }
        }
    }
    headers
}

/// The general headers with the signal's own replacing any of the same name.
pub(super) fn merged_headers(general: Headers, signal: Headers) -> Headers {
    let mut headers: Vec<_> = general
        .into_iter()
        .filter(|(name, _)| !signal.iter().any(|(t, _)| t == name))
        .collect();
    headers.extend(signal);
    headers
}

/// `%XX` escapes decoded; `None` for a broken escape or bytes that are not UTF-8.
fn percent_decode(value: &str) -> Option<String> {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            if !hex.iter().all(u8::is_ascii_hexdigit) {
                return None;
            }
            out.push(u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_escapes_are_decoded_and_broken_ones_refused() {
        assert_eq!(percent_decode("a%20b%2Cc").as_deref(), Some("a b,c"));
        assert_eq!(percent_decode("%zz"), None);
        assert_eq!(percent_decode("%2"), None);
        assert_eq!(percent_decode("%ff"), None);
    }
}
