//! Why an export to the X-Ray OTLP endpoint failed, and what to do about it.
//!
//! The OTLP exporter reduces a refused export to "status code N"; the signing
//! client sees the answer itself, so it records the cause here and the
//! exporter guard reports it, once per cause per interval.

use std::sync::{Arc, Mutex};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Cause {
    /// The credentials chain gave nothing usable (yet).
    NoCredentials,
    /// 401/403: signature, expired or unknown credentials, or missing permissions.
    Forbidden,
    /// 400 naming `UpdateTraceSegmentDestination`: Transaction Search is off.
    TransactionSearchOff,
    /// 413: more than X-Ray takes in one request.
    TooLarge,
    /// 429, or a throttling exception under another status.
    Throttled,
    /// Any other refusal.
    Rejected,
}

impl Cause {
    /// The cause of a non-success answer, from its status and body.
    pub(crate) fn classify(status: u16, body: &[u8]) -> Self {
        let text = String::from_utf8_lossy(body).to_ascii_lowercase();
        match status {
            401 | 403 => Self::Forbidden,
            413 => Self::TooLarge,
            429 => Self::Throttled,
            _ if text.contains("throttl") => Self::Throttled,
            400 if text.contains("updatetracesegmentdestination")
                || text.contains("transaction search") =>
            {
                Self::TransactionSearchOff
            }
            _ => Self::Rejected,
        }
    }

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::NoCredentials => "no_credentials",
            Self::Forbidden => "forbidden",
            Self::TransactionSearchOff => "transaction_search_off",
            Self::TooLarge => "too_large",
            Self::Throttled => "throttled",
            Self::Rejected => "rejected",
        }
    }

    /// What an operator should do, in one sentence.
    pub(crate) fn advice(self) -> &'static str {
        match self {
            Self::NoCredentials => {
                "no AWS credentials for signing: give the ECS task or Lambda function a role \
                 (locally: AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY)"
            }
            Self::Forbidden => {
                "X-Ray refused the request: the role needs xray:PutSpans and \
                 xray:PutSpansForIndexing, the credentials must be current and the clock right \
                 (credentials are being reloaded)"
            }
            Self::TransactionSearchOff => {
                "X-Ray Transaction Search is off in this account and region: turn it on \
                 (aws xray update-trace-segment-destination --destination CloudWatchLogs, or \
                 the transaction-search Terraform module)"
            }
            Self::TooLarge => {
                "X-Ray takes at most 5 MB and 10,000 spans a request: lower \
                 OTEL_BSP_MAX_EXPORT_BATCH_SIZE or set OTEL_EXPORTER_OTLP_COMPRESSION=gzip"
            }
            Self::Throttled => {
                "X-Ray is throttling span ingestion: sample fewer traces \
                 (OTEL_TRACES_SAMPLER_ARG) or ask for a higher PutSpans quota"
            }
            Self::Rejected => "the traces endpoint refused the export; see detail",
        }
    }
}

/// One failed attempt: its cause and what the endpoint said (shortened).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Failure {
    pub(crate) cause: Cause,
    pub(crate) detail: String,
}

impl Failure {
    pub(crate) fn new(cause: Cause, detail: impl AsRef<str>) -> Self {
        let detail: String = detail
            .as_ref()
            .chars()
            .filter(|c| !c.is_control())
            .take(300)
            .collect();
        Self { cause, detail }
    }
}

/// The cause of the latest failed attempt, written by the signing client and
/// taken by the exporter guard when the export fails.
#[derive(Clone, Debug, Default)]
pub(crate) struct LastFailure(Arc<Mutex<Option<Failure>>>);

impl LastFailure {
    pub(crate) fn set(&self, failure: Option<Failure>) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = failure;
    }

    pub(crate) fn take(&self) -> Option<Failure> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).take()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_classified_by_status_and_message() {
        let search_off = br#"{"message":"Transaction Search is not enabled. Call UpdateTraceSegmentDestination to send spans to CloudWatch Logs."}"#;
        assert_eq!(
            Cause::classify(400, search_off),
            Cause::TransactionSearchOff
        );
        assert_eq!(Cause::classify(403, b"{}"), Cause::Forbidden);
        assert_eq!(Cause::classify(413, b""), Cause::TooLarge);
        assert_eq!(Cause::classify(429, b""), Cause::Throttled);
        assert_eq!(
            Cause::classify(400, br#"{"__type":"ThrottlingException"}"#),
            Cause::Throttled
        );
        assert_eq!(
            Cause::classify(400, br#"{"message":"bad span"}"#),
            Cause::Rejected
        );
    }

    #[test]
    fn details_are_one_short_line() {
        let failure = Failure::new(Cause::Rejected, format!("a\nb{}", "x".repeat(1000)));
        assert_eq!(failure.detail.len(), 300);
        assert!(failure.detail.starts_with("ab"));
    }
}
