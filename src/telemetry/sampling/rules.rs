//! The rule set from `GetSamplingRules`: matched in priority order (then by
//! name) on the service's name, type and ARN and the request's host, method,
//! path and attributes; the first match samples from its reservoir, then at
//! its fixed rate, and counts what it did for `GetSamplingTargets`.

use std::{
    collections::HashMap,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering::Relaxed},
    },
};

use opentelemetry::{KeyValue, trace::TraceId};
use opentelemetry_sdk::trace::{Sampler, SamplingDecision, ShouldSample};
use opentelemetry_semantic_conventions::attribute as semconv;

use super::{
    client::SamplingRule,
    reservoir::{Reservoir, Take},
    wildcard,
};

/// What the resource says about this service, fixed at start-up.
#[derive(Clone, Debug, Default)]
pub(super) struct Service {
    pub(super) name: String,
    /// X-Ray's service type: `AWS::ECS::Container`, `AWS::Lambda::Function`.
    pub(super) kind: Option<String>,
    pub(super) arn: Option<String>,
}

/// A rule's counters and its reservoir: they outlive a refresh of the rules.
#[derive(Debug, Default)]
pub(super) struct RuleState {
    /// `f64` bits: the rule's `FixedRate`, or the one X-Ray last assigned.
    fixed_rate: AtomicU64,
    pub(super) reservoir: Reservoir,
    pub(super) requests: AtomicU64,
    pub(super) sampled: AtomicU64,
    pub(super) borrowed: AtomicU64,
}

impl RuleState {
    pub(super) fn set_fixed_rate(&self, rate: f64) {
        self.fixed_rate
            .store(rate.clamp(0.0, 1.0).to_bits(), Relaxed);
    }

    fn fixed_rate(&self) -> f64 {
        f64::from_bits(self.fixed_rate.load(Relaxed))
    }
}

#[derive(Debug)]
pub(super) struct Rule {
    pub(super) name: String,
    priority: i64,
    service_name: String,
    service_type: String,
    host: String,
    http_method: String,
    url_path: String,
    resource_arn: String,
    attributes: Vec<(String, String)>,
    pub(super) state: Arc<RuleState>,
}

/// The request's facts a rule reads, from the SERVER span's attributes.
#[derive(Debug, Default)]
struct Request<'a> {
    method: Option<&'a str>,
    original_method: Option<&'a str>,
    path: Option<&'a str>,
    host: Option<&'a str>,
}

impl<'a> Request<'a> {
    fn from_attributes(attributes: &'a [KeyValue]) -> Self {
        let mut request = Request::default();
        for kv in attributes {
            let value = || match &kv.value {
                opentelemetry::Value::String(s) => Some(s.as_str()),
                _ => None,
            };
            match kv.key.as_str() {
                semconv::HTTP_REQUEST_METHOD => request.method = value(),
                semconv::HTTP_REQUEST_METHOD_ORIGINAL => request.original_method = value(),
                semconv::URL_PATH => request.path = value(),
                semconv::SERVER_ADDRESS => request.host = value(),
                _ => {}
            }
        }
        request
    }

    /// Semconv's `_OTHER` stands for a method it does not list: match the real one.
    fn method(&self) -> Option<&'a str> {
        match self.method {
            Some("_OTHER") => self.original_method,
            method => method,
        }
    }
}

/// A pattern against a value that may be missing: only `*` matches nothing.
fn matches(pattern: &str, value: Option<&str>) -> bool {
    match value {
        Some(value) => wildcard::matches(pattern, value),
        None => pattern == "*",
    }
}

impl Rule {
    /// Carries over `state` (a rule of the same name in the previous set).
    pub(super) fn new(rule: SamplingRule, state: Option<Arc<RuleState>>) -> Self {
        let state = state.unwrap_or_default();
        state.reservoir.set_size(rule.reservoir_size);
        state.set_fixed_rate(rule.fixed_rate);
        let mut attributes: Vec<_> = rule.attributes.into_iter().collect();
        attributes.sort();
        Rule {
            name: rule.rule_name,
            priority: rule.priority,
            service_name: rule.service_name,
            service_type: rule.service_type,
            host: rule.host,
            http_method: rule.http_method,
            url_path: rule.url_path,
            resource_arn: rule.resource_arn,
            attributes,
            state,
        }
    }

    fn applies_to(&self, service: &Service, request: &Request<'_>, span: &[KeyValue]) -> bool {
        matches(&self.service_name, Some(&service.name))
            && matches(&self.service_type, service.kind.as_deref())
            && matches(&self.resource_arn, service.arn.as_deref())
            && matches(&self.host, request.host)
            && matches(&self.http_method, request.method())
            && matches(&self.url_path, request.path)
            && self.attributes.iter().all(|(key, pattern)| {
                let value = span.iter().find(|kv| kv.key.as_str() == key);
                matches(pattern, value.map(|kv| kv.value.as_str()).as_deref())
            })
    }

    /// The reservoir first, then the fixed rate over the trace id; counted.
    pub(super) fn sample(&self, trace_id: TraceId, now_ms: u64) -> SamplingDecision {
        let state = &self.state;
        state.requests.fetch_add(1, Relaxed);
        let take = state.reservoir.take(now_ms);
        let sampled = match take {
            Take::Quota | Take::Borrowed => true,
            Take::Empty => by_ratio(state.fixed_rate(), trace_id),
        };
        if take == Take::Borrowed {
            state.borrowed.fetch_add(1, Relaxed);
        }
        if sampled {
            state.sampled.fetch_add(1, Relaxed);
            SamplingDecision::RecordAndSample
        } else {
            SamplingDecision::Drop
        }
    }
}

/// The SDK's trace-id ratio sampler, so a fixed rate splits traces as it does.
pub(super) fn by_ratio(rate: f64, trace_id: TraceId) -> bool {
    let result = Sampler::TraceIdRatioBased(rate).should_sample(
        None,
        trace_id,
        "",
        &opentelemetry::trace::SpanKind::Server,
        &[],
        &[],
    );
    result.decision == SamplingDecision::RecordAndSample
}

/// The rules in the order they are tried.
#[derive(Debug, Default)]
pub(super) struct RuleSet {
    pub(super) rules: Vec<Rule>,
}

impl RuleSet {
    /// Version 1 rules only (the only version the SDKs know), ordered by
    /// priority then name; each keeps the state of its namesake in `previous`.
    pub(super) fn new(records: Vec<SamplingRule>, previous: Option<&RuleSet>) -> Self {
        let mut states: HashMap<&str, &Arc<RuleState>> = previous
            .map(|set| {
                set.rules
                    .iter()
                    .map(|r| (r.name.as_str(), &r.state))
                    .collect()
            })
            .unwrap_or_default();
        let mut rules: Vec<Rule> = records
            .into_iter()
            .filter(|rule| rule.version == 1)
            .map(|rule| {
                let state = states.remove(rule.rule_name.as_str()).cloned();
                Rule::new(rule, state)
            })
            .collect();
        rules.sort_by(|a, b| a.priority.cmp(&b.priority).then(a.name.cmp(&b.name)));
        RuleSet { rules }
    }

    /// The first rule that applies to a span with `attributes`.
    pub(super) fn find(&self, service: &Service, attributes: &[KeyValue]) -> Option<&Rule> {
        let request = Request::from_attributes(attributes);
        self.rules
            .iter()
            .find(|rule| rule.applies_to(service, &request, attributes))
    }

    pub(super) fn get(&self, name: &str) -> Option<&Rule> {
        self.rules.iter().find(|rule| rule.name == name)
    }
}

#[cfg(test)]
#[path = "rules_tests.rs"]
mod tests;
