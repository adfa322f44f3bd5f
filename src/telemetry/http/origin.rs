//! Where the client sent the request: scheme, host and port, so X-Ray can
//! show the URL the client called (`https://api.example.com/api/users/42`
//! behind an ALB, not the task's private address).
//!
//! The ALB sets `X-Forwarded-Proto` and `X-Forwarded-Port` and keeps the
//! client's `Host`; API Gateway and function URLs do the same, and lambda_http
//! also builds an absolute URI from the event. Every value is validated and
//! dropped when it is not a plain scheme, host name, IP literal or port, so
//! nothing a client sends can be spliced into a URL.

use axum::extract::Request;
use http::{HeaderMap, HeaderName, Version};

static X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
static X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
static X_FORWARDED_PORT: HeaderName = HeaderName::from_static("x-forwarded-port");

/// Longest DNS name (RFC 1035), also a bound on IP literals.
const MAX_HOST_LEN: usize = 253;

#[derive(Debug, PartialEq, Eq)]
pub(super) struct Origin<'a> {
    pub scheme: &'static str,
    pub address: Option<&'a str>,
    pub port: Option<i64>,
}

/// The scheme the client used: `X-Forwarded-Proto`, else the URI's, else
/// the listener's plain `http`.
pub(super) fn scheme(request: &Request) -> &'static str {
    first_value(request.headers(), &X_FORWARDED_PROTO)
        .and_then(parse_scheme)
        .or_else(|| request.uri().scheme_str().and_then(parse_scheme))
        .unwrap_or("http")
}

/// The scheme (from [`scheme`]), host and port the client used.
pub(super) fn origin<'a>(request: &'a Request, scheme: &'static str) -> Origin<'a> {
    let headers = request.headers();
    let uri = request.uri();
    let (address, host_port) = first_value(headers, &X_FORWARDED_HOST)
        .and_then(split_host)
        .or_else(|| {
            headers
                .get(http::header::HOST)
                .and_then(|v| v.to_str().ok())
                .and_then(split_host)
        })
        .or_else(|| uri.authority().and_then(|a| split_host(a.as_str())))
        .map_or((None, None), |(host, port)| (Some(host), port));
    let port = first_value(headers, &X_FORWARDED_PORT)
        .and_then(parse_port)
        .or(host_port);
    Origin {
        scheme,
        address,
        port,
    }
}

/// `network.protocol.version` as semconv spells it.
pub(super) fn protocol_version(version: Version) -> Option<&'static str> {
    Some(match version {
        Version::HTTP_10 => "1.0",
        Version::HTTP_11 => "1.1",
        Version::HTTP_2 => "2",
        Version::HTTP_3 => "3",
        _ => return None,
    })
}

/// The first entry of a header a chain of proxies may have extended.
fn first_value<'a>(headers: &'a HeaderMap, name: &HeaderName) -> Option<&'a str> {
    let value = headers.get(name)?.to_str().ok()?;
    Some(value.split(',').next()?.trim())
}

fn parse_scheme(value: &str) -> Option<&'static str> {
    if value.eq_ignore_ascii_case("https") {
        Some("https")
    } else if value.eq_ignore_ascii_case("http") {
        Some("http")
    } else {
        None
    }
}

fn parse_port(value: &str) -> Option<i64> {
    if value.is_empty() || value.len() > 5 || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let port: i64 = value.parse().ok()?;
    (1..=65535).contains(&port).then_some(port)
}

/// `host[:port]` into a validated host and an optional valid port; a bad
/// port drops the whole value (it may not be the host it seems).
fn split_host(value: &str) -> Option<(&str, Option<i64>)> {
    let value = value.trim();
    let (host, port) = if value.starts_with('[') {
        // An IPv6 literal, "[::1]" or "[::1]:8080".
        let end = value.find(']')?;
        let (host, rest) = value.split_at(end + 1);
        match rest {
            "" => (host, None),
            _ => (host, Some(rest.strip_prefix(':')?)),
        }
    } else {
        match value.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (value, None),
        }
    };
    let port = match port {
        Some(port) => Some(parse_port(port)?),
        None => None,
    };
    valid_host(host).then_some((host, port))
}

fn valid_host(host: &str) -> bool {
    if host.is_empty() || host.len() > MAX_HOST_LEN {
        return false;
    }
    if let Some(inner) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        return !inner.is_empty()
            && inner
                .bytes()
                .all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.');
    }
    host.split('.').all(|label| {
        !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(uri: &str, headers: &[(&str, &str)]) -> Request {
        let mut builder = http::Request::builder().uri(uri);
        for (k, v) in headers {
            builder = builder.header(*k, *v);
        }
        builder.body(axum::body::Body::empty()).unwrap()
    }

    fn of(uri: &str, headers: &[(&str, &str)]) -> (String, Option<String>, Option<i64>) {
        let r = request(uri, headers);
        let o = origin(&r, scheme(&r));
        (o.scheme.to_owned(), o.address.map(str::to_owned), o.port)
    }

    #[test]
    fn behind_an_alb_the_forwarded_scheme_and_port_and_the_host_win() {
        let got = of(
            "/api/users/42",
            &[
                ("host", "api.example.com"),
                ("x-forwarded-proto", "https"),
                ("x-forwarded-port", "443"),
            ],
        );
        assert_eq!(
            got,
            ("https".into(), Some("api.example.com".into()), Some(443))
        );
    }

    #[test]
    fn without_proxy_headers_it_is_the_listener_and_the_host_header() {
        let got = of("/", &[("host", "127.0.0.1:8080")]);
        assert_eq!(got, ("http".into(), Some("127.0.0.1".into()), Some(8080)));
        let got = of("/", &[("host", "[::1]:9000")]);
        assert_eq!(got, ("http".into(), Some("[::1]".into()), Some(9000)));
    }

    #[test]
    fn lambda_http_absolute_uris_give_scheme_and_host() {
        let got = of("https://abc.lambda-url.eu-west-1.on.aws/api/users/1", &[]);
        assert_eq!(
            got,
            (
                "https".into(),
                Some("abc.lambda-url.eu-west-1.on.aws".into()),
                None
            )
        );
    }

    #[test]
    fn forwarded_host_wins_over_host() {
        let got = of(
            "/",
            &[
                ("host", "internal:8080"),
                ("x-forwarded-host", "shop.example.com"),
            ],
        );
        assert_eq!(got, ("http".into(), Some("shop.example.com".into()), None));
    }

    #[test]
    fn garbage_is_dropped_never_trusted_into_a_url() {
        for host in [
            "evil.com/x?",
            "a b",
            "user@host",
            "host:99999",
            "host:80x",
            "-bad.com",
            "[::1",
            "[zz]",
            "",
            "a..b",
        ] {
            let (_, address, port) = of("/", &[("host", host)]);
            assert_eq!((address, port), (None, None), "{host:?}");
        }
        let (scheme, _, port) = of(
            "/",
            &[
                ("x-forwarded-proto", "javascript"),
                ("x-forwarded-port", "0"),
            ],
        );
        assert_eq!((scheme.as_str(), port), ("http", None));
        let long = format!("{}.com", "a".repeat(260));
        assert_eq!(of("/", &[("host", &long)]).1, None);
    }

    #[test]
    fn the_first_proxy_entry_is_the_clients() {
        let got = of(
            "/",
            &[
                ("host", "h.example"),
                ("x-forwarded-proto", "https, http"),
                ("x-forwarded-port", "8443, 80"),
            ],
        );
        assert_eq!(got, ("https".into(), Some("h.example".into()), Some(8443)));
    }

    #[test]
    fn protocol_versions_use_semconv_spelling() {
        assert_eq!(protocol_version(Version::HTTP_11), Some("1.1"));
        assert_eq!(protocol_version(Version::HTTP_2), Some("2"));
    }
}
