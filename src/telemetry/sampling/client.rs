//! The two X-Ray sampling APIs, `POST /GetSamplingRules` and
//! `POST /SamplingTargets` (botocore's xray service model, rest-json:
//! timestamps are epoch seconds), over plain HTTP to the collector's
//! `awsproxy`, which signs them, or signed with SigV4 straight to X-Ray.
//!
//! Two small JSON calls every few seconds do not need the AWS SDK's X-Ray
//! client: the awsproxy takes them unsigned, as ADOT's SDKs send them, and
//! the direct path reuses the span exporter's signer and credentials cache.

use std::{
    collections::HashMap,
    time::{Duration, SystemTime},
};

use opentelemetry_http::Bytes;
use serde::{Deserialize, Serialize};

use crate::telemetry::trace::{credentials::CredentialsCache, sigv4};

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct SamplingRule {
    #[serde(default)]
    pub(super) rule_name: String,
    pub(super) priority: i64,
    pub(super) fixed_rate: f64,
    pub(super) reservoir_size: u64,
    pub(super) service_name: String,
    pub(super) service_type: String,
    pub(super) host: String,
    #[serde(rename = "HTTPMethod")]
    pub(super) http_method: String,
    #[serde(rename = "URLPath")]
    pub(super) url_path: String,
    #[serde(rename = "ResourceARN")]
    pub(super) resource_arn: String,
    pub(super) version: i64,
    #[serde(default)]
    pub(super) attributes: HashMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct SamplingRuleRecord {
    sampling_rule: SamplingRule,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct GetSamplingRulesResult {
    #[serde(default)]
    sampling_rule_records: Vec<SamplingRuleRecord>,
    next_token: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct SamplingStatisticsDocument {
    pub(super) rule_name: String,
    #[serde(rename = "ClientID")]
    pub(super) client_id: String,
    /// Epoch seconds.
    pub(super) timestamp: f64,
    pub(super) request_count: u64,
    pub(super) sampled_count: u64,
    pub(super) borrow_count: u64,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct SamplingTargetDocument {
    pub(super) rule_name: String,
    pub(super) fixed_rate: Option<f64>,
    pub(super) reservoir_quota: Option<u64>,
    /// Epoch seconds.
    #[serde(rename = "ReservoirQuotaTTL")]
    pub(super) reservoir_quota_ttl: Option<f64>,
    /// Seconds until the next report for this rule.
    pub(super) interval: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct GetSamplingTargetsResult {
    #[serde(default)]
    pub(super) sampling_target_documents: Vec<SamplingTargetDocument>,
    /// Epoch seconds of the last rule change.
    pub(super) last_rule_modification: Option<f64>,
}

/// How requests are authenticated: not at all (the awsproxy signs), or SigV4.
pub(super) enum Auth {
    None,
    SigV4 {
        credentials: CredentialsCache,
        region: String,
    },
}

pub(super) struct XrayClient {
    http: reqwest::Client,
    endpoint: String,
    auth: Auth,
    timeout: Duration,
}

/// A page limit: X-Ray pages rules by 100, an account holds at most 25 rules.
const MAX_PAGES: usize = 10;

impl XrayClient {
    pub(super) fn new(endpoint: String, auth: Auth, timeout: Duration) -> reqwest::Result<Self> {
        let http = reqwest::Client::builder()
            .tls_backend_preconfigured(crate::tls::client_config())
            .timeout(timeout)
            .build()?;
        Ok(Self {
            http,
            endpoint,
            auth,
            timeout,
        })
    }

    /// Every rule, over every page.
    pub(super) async fn rules(&self) -> Result<Vec<SamplingRule>, String> {
        let mut rules = Vec::new();
        let mut next_token: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let body = serde_json::json!({ "NextToken": next_token });
            let page: GetSamplingRulesResult = self.post("/GetSamplingRules", &body).await?;
            rules.extend(
                page.sampling_rule_records
                    .into_iter()
                    .map(|r| r.sampling_rule),
            );
            next_token = page.next_token.filter(|t| !t.is_empty());
            if next_token.is_none() {
                break;
            }
        }
        Ok(rules)
    }

    pub(super) async fn targets(
        &self,
        documents: Vec<SamplingStatisticsDocument>,
    ) -> Result<GetSamplingTargetsResult, String> {
        let body = serde_json::json!({ "SamplingStatisticsDocuments": documents });
        self.post("/SamplingTargets", &body).await
    }

    async fn post<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        body: &serde_json::Value,
    ) -> Result<T, String> {
        let url = format!("{}{path}", self.endpoint);
        let body = Bytes::from(serde_json::to_vec(body).map_err(|e| e.to_string())?);
        let mut request = http::Request::post(&url)
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(body)
            .map_err(|e| format!("{url}: {e}"))?;
        if let Auth::SigV4 {
            credentials,
            region,
        } = &self.auth
        {
            let (cache, wait) = (credentials.clone(), self.timeout);
            // The cache waits on a condition variable before its first load.
            let credentials = tokio::task::spawn_blocking(move || cache.current(wait))
                .await
                .map_err(|e| e.to_string())??;
            sigv4::sign_request(&mut request, &credentials, region, SystemTime::now())
                .map_err(|e| format!("cannot sign {url}: {e}"))?;
        }
        let request: reqwest::Request = request.try_into().map_err(|e| format!("{url}: {e}"))?;
        let response = self
            .http
            .execute(request)
            .await
            .map_err(|e| format!("{url}: {e}"))?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(|e| format!("{url}: {e}"))?;
        if !status.is_success() {
            let text = String::from_utf8_lossy(&bytes[..bytes.len().min(512)]).into_owned();
            return Err(format!("{url}: {status}: {text}"));
        }
        serde_json::from_slice(&bytes).map_err(|e| format!("{url}: unexpected answer: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The answer shapes of X-Ray's API reference (GetSamplingRules, GetSamplingTargets).
    #[test]
    fn reads_the_documented_answers() {
        let rules: GetSamplingRulesResult = serde_json::from_str(
            r#"{"SamplingRuleRecords":[{"SamplingRule":{"RuleName":"Default",
            "RuleARN":"arn:aws:xray:us-east-1:123456789012:sampling-rule/Default",
            "ResourceARN":"*","Priority":10000,"FixedRate":0.05,"ReservoirSize":1,
            "ServiceName":"*","ServiceType":"*","Host":"*","HTTPMethod":"*","URLPath":"*",
            "Version":1,"Attributes":{}},"CreatedAt":0.0,"ModifiedAt":1530558121.0}],
            "NextToken":null}"#,
        )
        .unwrap();
        let rule = &rules.sampling_rule_records[0].sampling_rule;
        assert_eq!((rule.rule_name.as_str(), rule.priority), ("Default", 10000));
        assert_eq!((rule.fixed_rate, rule.reservoir_size), (0.05, 1));
        let targets: GetSamplingTargetsResult = serde_json::from_str(
            r#"{"SamplingTargetDocuments":[{"RuleName":"Default","FixedRate":0.1,
            "ReservoirQuota":2,"ReservoirQuotaTTL":1530923107.0,"Interval":10}],
            "LastRuleModification":1530920505.0,"UnprocessedStatistics":[]}"#,
        )
        .unwrap();
        let doc = &targets.sampling_target_documents[0];
        assert_eq!(doc.reservoir_quota, Some(2));
        assert_eq!(doc.reservoir_quota_ttl, Some(1_530_923_107.0));
        assert_eq!(doc.interval, Some(10));
    }

    #[test]
    fn statistics_use_the_documented_names() {
        let doc = SamplingStatisticsDocument {
            rule_name: "r".into(),
            client_id: "0123456789abcdef01234567".into(),
            timestamp: 1.5,
            request_count: 3,
            sampled_count: 2,
            borrow_count: 1,
        };
        assert_eq!(
            serde_json::to_value(doc).unwrap(),
            serde_json::json!({"RuleName":"r","ClientID":"0123456789abcdef01234567",
                "Timestamp":1.5,"RequestCount":3,"SampledCount":2,"BorrowCount":1})
        );
    }
}
