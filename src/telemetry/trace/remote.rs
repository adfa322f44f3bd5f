//! The remote service and operation of a CLIENT span, as CloudWatch
//! Application Signals names a dependency (`aws.remote.service`,
//! `aws.remote.operation`).
//!
//! The rules follow ADOT's metric attribute generator: explicit `aws.remote.*`
//! first, then RPC, then database, then `peer.service`, and last the peer
//! address and the URL's first path segment. Both the stable and the legacy
//! semantic-convention keys are read, since spans carry either.

use opentelemetry::{KeyValue, Value};

/// What ADOT reports when no attribute names the remote service.
pub(crate) const UNKNOWN_REMOTE_SERVICE: &str = "UnknownRemoteService";
/// What ADOT reports when no attribute names the remote operation.
pub(crate) const UNKNOWN_REMOTE_OPERATION: &str = "UnknownRemoteOperation";

/// SQL keywords that may open a statement, longest first so `SELECT` never
/// shadows a longer one; a statement's operation is the keyword it opens with.
const SQL_KEYWORDS: &[&str] = &[
    "CREATE TABLE",
    "DROP TABLE",
    "ALTER TABLE",
    "TRUNCATE",
    "SELECT",
    "INSERT",
    "UPDATE",
    "DELETE",
    "MERGE",
    "UPSERT",
    "CALL",
    "WITH",
];

/// The `(aws.remote.service, aws.remote.operation)` of a CLIENT span.
pub(crate) fn remote_service_and_operation(attributes: &[KeyValue]) -> (String, String) {
    let get = |key: &str| string(attributes, key);
    let (mut service, mut operation) =
        if get("aws.remote.service").is_some() || get("aws.remote.operation").is_some() {
            (get("aws.remote.service"), get("aws.remote.operation"))
        } else if get("rpc.service").is_some() || get("rpc.method").is_some() {
            let service = get("rpc.service").map(|s| {
                if get("rpc.system").as_deref() == Some("aws-api") {
                    format!("AWS::{s}")
                } else {
                    s
                }
            });
            (service, get("rpc.method"))
        } else if let Some(db) = first(&get, &["db.system.name", "db.system"]) {
            let operation = first(&get, &["db.operation.name", "db.operation"]).or_else(|| {
                first(&get, &["db.query.text", "db.statement"]).and_then(|s| sql_keyword(&s))
            });
            (Some(db), operation)
        } else {
            (None, None)
        };
    if get("aws.remote.service").is_none()
        && let Some(peer) = get("peer.service")
    {
        service = Some(peer);
    }
    let service = service.unwrap_or_else(|| peer_address(attributes));
    if operation.is_none() {
        operation = url_operation(&get);
    }
    (
        service,
        operation.unwrap_or_else(|| UNKNOWN_REMOTE_OPERATION.to_owned()),
    )
}

fn first(get: &impl Fn(&str) -> Option<String>, keys: &[&str]) -> Option<String> {
    keys.iter().find_map(|k| get(k))
}

/// The attribute as text (integers too, since ports are recorded as i64).
fn string(attributes: &[KeyValue], key: &str) -> Option<String> {
    attributes
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .and_then(|kv| match &kv.value {
            Value::String(s) => Some(s.as_str().to_owned()),
            Value::I64(i) => Some(i.to_string()),
            _ => None,
        })
        .filter(|s| !s.is_empty())
}

/// `host:port` of the peer, else the unknown service.
fn peer_address(attributes: &[KeyValue]) -> String {
    let get = |key: &str| string(attributes, key);
    for (host, port) in [
        ("server.address", "server.port"),
        ("net.peer.name", "net.peer.port"),
    ] {
        if let Some(host) = get(host) {
            return match get(port) {
                Some(port) => format!("{host}:{port}"),
                None => host,
            };
        }
    }
    UNKNOWN_REMOTE_SERVICE.to_owned()
}

/// `METHOD /first-segment` from the URL, as ADOT names an HTTP dependency.
fn url_operation(get: &impl Fn(&str) -> Option<String>) -> Option<String> {
    let path = first(get, &["url.full", "http.url"]).map(|url| api_path(&url));
    let method = first(get, &["http.request.method", "http.method"]);
    match (method, path) {
        (Some(m), Some(p)) => Some(format!("{m} {p}")),
        (Some(m), None) => Some(format!("{m} {UNKNOWN_REMOTE_OPERATION}")),
        (None, p) => p,
    }
}

/// `/` plus the first segment of the URL's path, or `/`.
fn api_path(url: &str) -> String {
    let after_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
    let path = after_scheme
        .find('/')
        .map_or("", |i| &after_scheme[i..])
        .split(['?', '#'])
        .next()
        .unwrap_or("");
    match path.split('/').nth(1) {
        Some(segment) => format!("/{segment}"),
        None => "/".to_owned(),
    }
}

/// The SQL keyword a statement opens with, looking at its first 20 characters.
fn sql_keyword(statement: &str) -> Option<String> {
    let head: String = statement.trim_start().chars().take(20).collect();
    let upper = head.to_uppercase();
    SQL_KEYWORDS
        .iter()
        .find(|k| {
            upper.starts_with(*k)
                && upper[k.len()..]
                    .chars()
                    .next()
                    .is_none_or(|c| !c.is_alphanumeric() && c != '_')
        })
        .map(|k| (*k).to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kv(pairs: &[(&'static str, &str)]) -> Vec<KeyValue> {
        pairs
            .iter()
            .map(|(k, v)| KeyValue::new(*k, v.to_string()))
            .collect()
    }

    fn derive(pairs: &[(&'static str, &str)]) -> (String, String) {
        remote_service_and_operation(&kv(pairs))
    }

    // Cases after aws-observability/aws-otel-python-instrumentation
    // aws-opentelemetry-distro/src/amazon/opentelemetry/distro/_aws_metric_attribute_generator.py
    // (`_set_remote_service_and_operation`, `_generate_remote_operation`).
    #[test]
    fn explicit_remote_attributes_win() {
        let got = derive(&[
            ("aws.remote.service", "Orders"),
            ("aws.remote.operation", "Place"),
            ("rpc.service", "DynamoDB"),
        ]);
        assert_eq!(got, ("Orders".into(), "Place".into()));
    }

    #[test]
    fn aws_sdk_call_names_the_aws_service() {
        let got = derive(&[
            ("rpc.system", "aws-api"),
            ("rpc.service", "DynamoDB"),
            ("rpc.method", "GetItem"),
        ]);
        assert_eq!(got, ("AWS::DynamoDB".into(), "GetItem".into()));
    }

    #[test]
    fn database_operation_or_statement_keyword() {
        let got = derive(&[
            ("db.system.name", "postgresql"),
            ("db.operation.name", "SELECT"),
        ]);
        assert_eq!(got, ("postgresql".into(), "SELECT".into()));
        let got = derive(&[
            ("db.system", "postgresql"),
            ("db.statement", "insert into t values (1)"),
        ]);
        assert_eq!(got, ("postgresql".into(), "INSERT".into()));
        let got = derive(&[("db.system", "postgresql"), ("db.statement", "selection")]);
        assert_eq!(got, ("postgresql".into(), UNKNOWN_REMOTE_OPERATION.into()));
    }

    #[test]
    fn peer_service_overrides_all_but_explicit_remote_service() {
        let got = derive(&[
            ("rpc.service", "S3"),
            ("rpc.method", "GetObject"),
            ("peer.service", "Storage"),
        ]);
        assert_eq!(got, ("Storage".into(), "GetObject".into()));
    }

    #[test]
    fn http_client_is_named_by_address_and_first_path_segment() {
        let mut attrs = kv(&[
            ("server.address", "api.example.com"),
            ("url.full", "https://api.example.com/users/42?x=1"),
            ("http.request.method", "GET"),
        ]);
        attrs.push(KeyValue::new("server.port", 443_i64));
        let got = remote_service_and_operation(&attrs);
        assert_eq!(got, ("api.example.com:443".into(), "GET /users".into()));
        let got = derive(&[("http.url", "http://h"), ("http.method", "POST")]);
        assert_eq!(got, (UNKNOWN_REMOTE_SERVICE.into(), "POST /".into()));
    }

    #[test]
    fn nothing_known_is_unknown() {
        let got = derive(&[]);
        assert_eq!(
            got,
            (
                UNKNOWN_REMOTE_SERVICE.into(),
                UNKNOWN_REMOTE_OPERATION.into()
            )
        );
    }
}
