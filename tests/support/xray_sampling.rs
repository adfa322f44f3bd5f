//! A double of X-Ray's two sampling APIs: `POST /GetSamplingRules` (paged,
//! one rule a page) and `POST /SamplingTargets`. As the collector's
//! `awsproxy` it refuses signed requests; as X-Ray itself (reached as an
//! HTTP proxy for `xray.<region>.amazonaws.com`) every request's SigV4
//! signature is recomputed by botocore. Requests are read strictly in the
//! shapes of botocore's xray service model (unknown or missing fields are a
//! 400, as X-Ray answers); the statistics received are summed per rule.

use std::{
    collections::BTreeMap,
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::{SystemTime, UNIX_EPOCH},
};

use axum::{
    Json, Router,
    extract::State,
    http::{HeaderMap, Method, StatusCode, Uri},
    response::{IntoResponse, Response},
    routing::post,
};
use serde::Deserialize;
use serde_json::{Value, json};

/// One rule as X-Ray stores it (`SamplingRule`).
#[derive(Clone, Debug)]
pub struct Rule {
    pub name: &'static str,
    pub priority: i64,
    pub fixed_rate: f64,
    pub reservoir_size: u64,
    pub url_path: &'static str,
    pub http_method: &'static str,
    pub service_name: &'static str,
}

impl Rule {
    /// X-Ray's own `Default` rule: 1 a second, then 5 %.
    pub fn default_rule() -> Self {
        Rule {
            name: "Default",
            priority: 10000,
            fixed_rate: 0.05,
            reservoir_size: 1,
            url_path: "*",
            http_method: "*",
            service_name: "*",
        }
    }

    fn record(&self) -> Value {
        json!({
            "SamplingRule": {
                "RuleName": self.name,
                "RuleARN": format!("arn:aws:xray:eu-west-1:123456789012:sampling-rule/{}", self.name),
                "ResourceARN": "*",
                "Priority": self.priority,
                "FixedRate": self.fixed_rate,
                "ReservoirSize": self.reservoir_size,
                "ServiceName": self.service_name,
                "ServiceType": "*",
                "Host": "*",
                "HTTPMethod": self.http_method,
                "URLPath": self.url_path,
                "Version": 1,
                "Attributes": {}
            },
            "CreatedAt": 1_700_000_000.0,
            "ModifiedAt": 1_700_000_000.0
        })
    }
}

/// What one rule's statistics documents added up to.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    pub requests: u64,
    pub sampled: u64,
    pub borrowed: u64,
}

#[derive(Default)]
struct Inner {
    rules: Vec<Rule>,
    rule_fetches: u64,
    target_calls: u64,
    totals: BTreeMap<String, Totals>,
    client_ids: Vec<String>,
    /// Requests that did not follow the API's shapes, or were signed.
    errors: Vec<String>,
}

#[derive(Clone, Default)]
struct Shared(Arc<Mutex<Inner>>, Option<Arc<Signing>>);

/// X-Ray's own check: botocore, and the credentials IAM knows.
struct Signing {
    verifier: super::xray_otlp::Verifier,
    credentials: Value,
}

pub struct SamplingApi {
    addr: SocketAddr,
    shared: Shared,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for SamplingApi {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl SamplingApi {
    /// As the collector's awsproxy: unsigned requests only.
    pub async fn start(rules: Vec<Rule>) -> std::io::Result<Self> {
        Self::serve(Shared::default(), rules).await
    }

    /// As X-Ray: requests signed for `xray` in `region` with this key only.
    pub async fn start_signed(
        rules: Vec<Rule>,
        region: &str,
        access_key: &str,
        secret: &str,
    ) -> std::io::Result<Self> {
        let signing = Signing {
            verifier: super::xray_otlp::Verifier::start()?,
            credentials: json!({
                "region": region,
                "keys": { access_key: { "secret": secret, "token": null } }
            }),
        };
        Self::serve(Shared(Arc::default(), Some(Arc::new(signing))), rules).await
    }

    async fn serve(shared: Shared, rules: Vec<Rule>) -> std::io::Result<Self> {
        shared.0.lock().unwrap().rules = rules;
        let app = Router::new()
            .route("/GetSamplingRules", post(get_sampling_rules))
            .route("/SamplingTargets", post(sampling_targets))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self { addr, shared, task })
    }

    /// The `endpoint=` of `OTEL_TRACES_SAMPLER_ARG`, or the `HTTP_PROXY` in front of X-Ray.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn rule_fetches(&self) -> u64 {
        self.shared.0.lock().unwrap().rule_fetches
    }

    pub fn target_calls(&self) -> u64 {
        self.shared.0.lock().unwrap().target_calls
    }

    pub fn totals(&self) -> BTreeMap<String, Totals> {
        self.shared.0.lock().unwrap().totals.clone()
    }

    pub fn client_ids(&self) -> Vec<String> {
        self.shared.0.lock().unwrap().client_ids.clone()
    }

    pub fn errors(&self) -> Vec<String> {
        self.shared.0.lock().unwrap().errors.clone()
    }
}

fn invalid(shared: &Shared, problem: String) -> Response {
    shared.0.lock().unwrap().errors.push(problem.clone());
    let body = json!({"__type": "InvalidRequestException", "message": problem});
    (StatusCode::BAD_REQUEST, Json(body)).into_response()
}

/// The awsproxy signs for the app: what reaches it is unsigned. X-Ray
/// wants a valid signature. `Err` says why a request is refused.
async fn authorized(
    shared: &Shared,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(), String> {
    let Some(signing) = shared.1.clone() else {
        return match headers.contains_key("authorization") {
            true => Err("a signed request through the awsproxy".into()),
            false => Ok(()),
        };
    };
    // Through a proxy the request line carries the whole URL.
    let url = match uri.scheme() {
        Some(_) => uri.to_string(),
        None => {
            let host = headers
                .get("host")
                .and_then(|h| h.to_str().ok())
                .unwrap_or_default();
            format!("http://{host}{uri}")
        }
    };
    let request = json!({
        "method": method.as_str(),
        "url": url,
        "headers": headers
            .iter()
            .map(|(k, v)| [k.as_str(), v.to_str().unwrap_or_default()])
            .collect::<Vec<_>>(),
        "body": body.iter().map(|b| format!("{b:02x}")).collect::<String>(),
        "service": "xray",
        "region": signing.credentials["region"],
        "credentials": signing.credentials["keys"],
    });
    let verdict = tokio::task::spawn_blocking(move || signing.verifier.verify(&request))
        .await
        .map_err(|e| e.to_string())?;
    match verdict["ok"] == true {
        true => Ok(()),
        false => Err(format!("signature refused: {}", verdict["reason"])),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
struct RulesRequest {
    next_token: Option<String>,
}

async fn get_sampling_rules(
    State(shared): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    if let Err(problem) = authorized(&shared, &method, &uri, &headers, &body).await {
        return invalid(&shared, problem);
    }
    let request: RulesRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return invalid(&shared, format!("GetSamplingRules: {e}")),
    };
    let mut inner = shared.0.lock().unwrap();
    let page: usize = match request.next_token.as_deref() {
        None => 0,
        Some(token) => match token.strip_prefix("page-").and_then(|n| n.parse().ok()) {
            Some(n) => n,
            None => {
                drop(inner);
                return invalid(&shared, format!("unknown NextToken {token}"));
            }
        },
    };
    if page == 0 {
        inner.rule_fetches += 1;
    }
    let records: Vec<Value> = inner
        .rules
        .iter()
        .skip(page)
        .take(1)
        .map(Rule::record)
        .collect();
    let next = (page + 1 < inner.rules.len()).then(|| format!("page-{}", page + 1));
    Json(json!({"SamplingRuleRecords": records, "NextToken": next})).into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
struct TargetsRequest {
    sampling_statistics_documents: Vec<StatisticsDocument>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
struct StatisticsDocument {
    rule_name: String,
    #[serde(rename = "ClientID")]
    client_id: String,
    timestamp: f64,
    request_count: u64,
    sampled_count: u64,
    borrow_count: Option<u64>,
}

async fn sampling_targets(
    State(shared): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    if let Err(problem) = authorized(&shared, &method, &uri, &headers, &body).await {
        return invalid(&shared, problem);
    }
    let request: TargetsRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return invalid(&shared, format!("SamplingTargets: {e}")),
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let docs = &request.sampling_statistics_documents;
    if docs.is_empty() || docs.len() > 25 {
        return invalid(&shared, format!("{} statistics documents", docs.len()));
    }
    for doc in docs {
        let id_ok =
            doc.client_id.len() == 24 && doc.client_id.bytes().all(|b| b.is_ascii_hexdigit());
        if !id_ok || (doc.timestamp - now).abs() > 60.0 || doc.sampled_count > doc.request_count {
            let problem = format!(
                "statistics for {}: ClientID {}, Timestamp {}, {} sampled of {}",
                doc.rule_name, doc.client_id, doc.timestamp, doc.sampled_count, doc.request_count
            );
            return invalid(&shared, problem);
        }
    }
    let mut inner = shared.0.lock().unwrap();
    inner.target_calls += 1;
    let mut targets = Vec::new();
    for doc in docs {
        let totals = inner.totals.entry(doc.rule_name.clone()).or_default();
        totals.requests += doc.request_count;
        totals.sampled += doc.sampled_count;
        totals.borrowed += doc.borrow_count.unwrap_or(0);
        if !inner.client_ids.contains(&doc.client_id) {
            inner.client_ids.push(doc.client_id.clone());
        }
        let Some(rule) = inner.rules.iter().find(|r| r.name == doc.rule_name) else {
            continue;
        };
        // No `ReservoirQuota`: the app keeps borrowing, as before any quota.
        targets.push(json!({"RuleName": rule.name, "FixedRate": rule.fixed_rate, "Interval": 1}));
    }
    Json(json!({
        "SamplingTargetDocuments": targets,
        "LastRuleModification": 1_700_000_000.0,
        "UnprocessedStatistics": []
    }))
    .into_response()
}
