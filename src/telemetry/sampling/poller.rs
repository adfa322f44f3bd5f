//! The task that keeps the rules and quotas fresh, on the app's runtime:
//! `GetSamplingRules` every polling interval (5 minutes by default, plus up
//! to 5 s of jitter), and every 10 s (or the `Interval` X-Ray asks for, plus
//! up to 100 ms) each rule's counts to `GetSamplingTargets`, whose answer
//! sets the rules' quotas and rates and says when the rules changed.

use std::{
    sync::{Arc, atomic::Ordering::Relaxed},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use opentelemetry_sdk::trace::{IdGenerator, RandomIdGenerator};
use tokio::time::Instant;

use super::{
    Shared,
    client::{GetSamplingTargetsResult, SamplingStatisticsDocument, XrayClient},
    rules::RuleSet,
};

/// The SDKs' default pace of `GetSamplingTargets`.
const TARGETS_INTERVAL: Duration = Duration::from_secs(10);
const RULES_JITTER: Duration = Duration::from_secs(5);
const TARGETS_JITTER: Duration = Duration::from_millis(100);
/// Rules not refreshed for this long are dropped for the local fallback.
const RULES_TTL: Duration = Duration::from_secs(3600);
/// `GetSamplingTargets` takes at most this many documents at once.
const MAX_DOCUMENTS: usize = 25;

pub(super) struct Poller {
    client: XrayClient,
    shared: Arc<Shared>,
    polling_interval: Duration,
    client_id: String,
    random: RandomIdGenerator,
    /// Epoch seconds of the last rules fetched.
    rules_fetched_at: f64,
    rules_ok_at: Option<Instant>,
    /// X-Ray's trouble is logged once, until it answers again.
    failure_logged: bool,
}

/// A 24-hex-digit client id, as `GetSamplingTargets` wants.
pub(super) fn client_id() -> String {
    let bytes = RandomIdGenerator::default().new_trace_id().to_bytes();
    bytes[..12].iter().map(|b| format!("{b:02x}")).collect()
}

impl Poller {
    pub(super) fn new(client: XrayClient, shared: Arc<Shared>, polling_interval: Duration) -> Self {
        Poller {
            client,
            shared,
            polling_interval,
            client_id: client_id(),
            random: RandomIdGenerator::default(),
            rules_fetched_at: 0.0,
            rules_ok_at: None,
            failure_logged: false,
        }
    }

    pub(super) async fn run(mut self) {
        let mut next_rules = Instant::now();
        let mut next_targets = Instant::now() + TARGETS_INTERVAL;
        loop {
            tokio::time::sleep_until(next_rules.min(next_targets)).await;
            let now = Instant::now();
            if now >= next_rules {
                let loaded = self.refresh_rules().await;
                // Until the first rules arrive, retry at the targets' pace.
                let wait = match loaded || self.rules_ok_at.is_some() {
                    true => self.polling_interval,
                    false => self.polling_interval.min(TARGETS_INTERVAL),
                };
                next_rules = Instant::now() + wait + self.jitter(RULES_JITTER);
            }
            if now >= next_targets {
                let (interval, rules_changed) = self.report().await;
                next_targets = Instant::now() + interval + self.jitter(TARGETS_JITTER);
                if rules_changed {
                    next_rules = Instant::now();
                }
            }
        }
    }

    fn jitter(&self, max: Duration) -> Duration {
        let random = u64::from_be_bytes(self.random.new_span_id().to_bytes());
        max.mul_f64((random >> 11) as f64 / (1u64 << 53) as f64)
    }

    async fn refresh_rules(&mut self) -> bool {
        match self.client.rules().await {
            Ok(records) => {
                let previous = self.shared.rules.load_full();
                let set = RuleSet::new(records, previous.as_deref());
                tracing::info!(rules = set.rules.len(), "x-ray sampling rules loaded");
                self.shared.rules.store(Some(Arc::new(set)));
                self.rules_fetched_at = epoch_secs(SystemTime::now());
                self.rules_ok_at = Some(Instant::now());
                self.failure_logged = false;
                true
            }
            Err(error) => {
                let stale = self.rules_ok_at.is_none_or(|at| at.elapsed() > RULES_TTL);
                if stale {
                    self.shared.rules.store(None);
                }
                self.failed(&error, stale);
                false
            }
        }
    }

    /// Sends the counts since the last report; the next interval, and
    /// whether the rules changed since they were fetched.
    async fn report(&mut self) -> (Duration, bool) {
        let Some(set) = self.shared.rules.load_full() else {
            return (TARGETS_INTERVAL, false);
        };
        let now = epoch_secs(SystemTime::now());
        let documents: Vec<_> = set
            .rules
            .iter()
            .filter_map(|rule| {
                let state = &rule.state;
                // Requests first: a concurrent sample lands in the next report whole.
                let request_count = state.requests.swap(0, Relaxed);
                (request_count > 0).then(|| SamplingStatisticsDocument {
                    rule_name: rule.name.clone(),
                    client_id: self.client_id.clone(),
                    timestamp: now,
                    request_count,
                    sampled_count: state.sampled.swap(0, Relaxed),
                    borrow_count: state.borrowed.swap(0, Relaxed),
                })
            })
            .collect();
        let mut interval = None::<Duration>;
        let mut rules_changed = false;
        let mut documents = documents.into_iter().peekable();
        while documents.peek().is_some() {
            let chunk: Vec<_> = documents.by_ref().take(MAX_DOCUMENTS).collect();
            match self.client.targets(chunk).await {
                Ok(answer) => {
                    let (next, changed) = self.apply(&set, answer);
                    interval = next.into_iter().chain(interval).min();
                    rules_changed |= changed;
                }
                Err(error) => self.failed(&error, false),
            }
        }
        (interval.unwrap_or(TARGETS_INTERVAL), rules_changed)
    }

    fn apply(&self, set: &RuleSet, answer: GetSamplingTargetsResult) -> (Option<Duration>, bool) {
        let mut interval = None::<Duration>;
        for target in answer.sampling_target_documents {
            let Some(rule) = set.get(&target.rule_name) else {
                continue;
            };
            if let Some(rate) = target.fixed_rate {
                rule.state.set_fixed_rate(rate);
            }
            // A quota always comes with its TTL.
            if let (Some(quota), Some(ttl)) = (target.reservoir_quota, target.reservoir_quota_ttl) {
                rule.state
                    .reservoir
                    .assign(quota, (ttl.max(0.0) * 1000.0) as u64);
            }
            if let Some(secs) = target.interval.filter(|s| *s > 0) {
                let secs = Duration::from_secs(secs);
                interval = Some(interval.map_or(secs, |i| i.min(secs)));
            }
        }
        let changed = answer
            .last_rule_modification
            .is_some_and(|at| at > self.rules_fetched_at);
        (interval, changed)
    }

    fn failed(&mut self, error: &str, local: bool) {
        if std::mem::replace(&mut self.failure_logged, true) {
            tracing::debug!(%error, "x-ray sampling still unreachable");
        } else if local {
            tracing::warn!(
                %error,
                "cannot reach X-Ray for sampling rules; sampling 1 request/s plus 5% locally until it answers"
            );
        } else {
            tracing::warn!(%error, "cannot reach X-Ray for sampling; keeping the last rules");
        }
    }
}

fn epoch_secs(time: SystemTime) -> f64 {
    time.duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::telemetry::sampling::{client::Auth, reservoir::Take};

    fn answer(json: &str) -> GetSamplingTargetsResult {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn targets_set_quotas_rates_and_the_next_interval() {
        crate::telemetry::install_crypto_provider();
        let client = XrayClient::new("http://127.0.0.1:1".into(), Auth::None, TARGETS_INTERVAL);
        let shared = Arc::new(Shared {
            rules: Default::default(),
            service: Default::default(),
            fallback: Default::default(),
        });
        let mut poller = Poller::new(client.unwrap(), shared, Duration::from_secs(300));
        poller.rules_fetched_at = 1_000.0;
        let rules: Vec<super::super::client::SamplingRule> = serde_json::from_value(serde_json::json!([
            {"RuleName": "a", "Priority": 1, "FixedRate": 0.5, "ReservoirSize": 1, "ServiceName": "*",
             "ServiceType": "*", "Host": "*", "HTTPMethod": "*", "URLPath": "*", "ResourceARN": "*", "Version": 1},
            {"RuleName": "b", "Priority": 2, "FixedRate": 0.5, "ReservoirSize": 1, "ServiceName": "*",
             "ServiceType": "*", "Host": "*", "HTTPMethod": "*", "URLPath": "*", "ResourceARN": "*", "Version": 1}
        ]))
        .unwrap();
        let set = RuleSet::new(rules, None);
        let ttl = epoch_secs(SystemTime::now()) + 60.0;
        let (interval, changed) = poller.apply(
            &set,
            answer(&format!(
                r#"{{"SamplingTargetDocuments":[
                {{"RuleName":"a","FixedRate":0.0,"ReservoirQuota":2,"ReservoirQuotaTTL":{ttl},"Interval":7}},
                {{"RuleName":"b","FixedRate":1.0,"Interval":3}},
                {{"RuleName":"gone","FixedRate":1.0,"Interval":1}}],
                "LastRuleModification":999.0,"UnprocessedStatistics":[]}}"#
            )),
        );
        assert_eq!((interval, changed), (Some(Duration::from_secs(3)), false));
        let now_ms = (epoch_secs(SystemTime::now()) * 1000.0) as u64;
        let a = set.get("a").unwrap();
        let takes: Vec<_> = (0..3).map(|_| a.state.reservoir.take(now_ms)).collect();
        assert_eq!(takes, [Take::Quota, Take::Quota, Take::Empty]);
        assert!(!by_rule_rate(a), "rate 0 from the target");
        assert!(
            by_rule_rate(set.get("b").unwrap()),
            "rate 1 from the target"
        );
        let (_, changed) = poller.apply(
            &set,
            answer(r#"{"SamplingTargetDocuments":[],"LastRuleModification":1001.0}"#),
        );
        assert!(changed, "rules modified after they were fetched");
    }

    /// A decision with the reservoir spent, so only the fixed rate speaks.
    fn by_rule_rate(rule: &super::super::rules::Rule) -> bool {
        let spent = u64::MAX / 2;
        rule.state.reservoir.assign(0, spent);
        let id = RandomIdGenerator::default().new_trace_id();
        rule.sample(id, 0) == opentelemetry_sdk::trace::SamplingDecision::RecordAndSample
    }

    #[test]
    fn client_ids_are_24_hex_digits() {
        let (a, b) = (client_id(), client_id());
        assert_eq!(a.len(), 24);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()), "{a}");
        assert_ne!(a, b);
    }
}
