//! X-Ray centralized sampling (`OTEL_TRACES_SAMPLER=xray`), as ADOT's SDKs
//! do it: rules from `GetSamplingRules`, quotas from `GetSamplingTargets`,
//! through the collector's `awsproxy` or signed straight to X-Ray.
//!
//! [`RemoteSampler`] decides for a new trace (the tracer wraps it in the
//! SDK's parent-based sampler, and `XraySampler` applies an incoming X-Ray
//! decision first). On the request path it reads the current rule set
//! through an `ArcSwap` and counts with atomics; the [`poller`] task swaps
//! in new rules and assigns quotas. Until rules arrive, or once they are an
//! hour old, it samples 1 request a second plus 5 % of the rest.

mod client;
mod poller;
mod reservoir;
mod rules;
mod wildcard;

use std::{
    sync::Arc,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use arc_swap::ArcSwapOption;
use opentelemetry::{
    Context, Key, KeyValue,
    trace::{Link, SpanKind, TraceId, TraceState},
};
use opentelemetry_sdk::{
    Resource,
    trace::{SamplingDecision, SamplingResult, ShouldSample},
};
use opentelemetry_semantic_conventions::attribute as semconv;

use super::trace::credentials::{CredentialsCache, Reloader};
use crate::config::XraySampling;
use client::{Auth, XrayClient};
use reservoir::Window;
use rules::{RuleSet, Service};

/// The local fallback's fixed rate, after its one request a second.
const FALLBACK_RATE: f64 = 0.05;
/// Each call to X-Ray's sampling APIs gets this long.
const API_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug)]
struct Shared {
    rules: ArcSwapOption<RuleSet>,
    service: Service,
    fallback: Window,
}

/// Samples new traces by X-Ray's rules; cheap to clone.
#[derive(Clone, Debug)]
pub(super) struct RemoteSampler(Arc<Shared>);

/// The polling task: started once logging is set up, so that its first
/// failure is not lost; stopped (with the credentials reload) when dropped.
pub(super) struct Polling {
    poller: Option<poller::Poller>,
    task: Option<tokio::task::JoinHandle<()>>,
    _reloader: Option<Reloader>,
}

impl Polling {
    /// Spawns the task on the current Tokio runtime; a second call does nothing.
    pub(super) fn start(&mut self) {
        if let Some(poller) = self.poller.take() {
            self.task = Some(tokio::spawn(poller.run()));
        }
    }
}

impl Drop for Polling {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

impl RemoteSampler {
    /// A sampler fed by polling `config.endpoint` once [`Polling::start`]
    /// is called. An X-Ray endpoint (`https://xray.<region>.amazonaws.com`) is signed with
    /// the credentials of `aws`; anything else (the awsproxy) is not.
    pub(super) fn start(
        config: &XraySampling,
        resource: &Resource,
        aws: Option<&aws_config::SdkConfig>,
    ) -> Result<(Self, Polling), String> {
        let shared = Arc::new(Shared {
            rules: ArcSwapOption::empty(),
            service: service(resource),
            fallback: Window::default(),
        });
        let (auth, reloader) = match config.signing_region() {
            Some(region) => {
                let provider = aws.and_then(|aws| aws.credentials_provider()).ok_or(
                    "the xray sampler signs for X-Ray but no AWS configuration was loaded",
                )?;
                let (credentials, reloader) = CredentialsCache::spawn(provider);
                (
                    Auth::SigV4 {
                        credentials,
                        region,
                    },
                    Some(reloader),
                )
            }
            None => (Auth::None, None),
        };
        let client = XrayClient::new(config.endpoint.clone(), auth, API_TIMEOUT)
            .map_err(|e| format!("cannot build the X-Ray sampling client: {e}"))?;
        let poller = poller::Poller::new(client, shared.clone(), config.polling_interval);
        Ok((
            Self(shared),
            Polling {
                poller: Some(poller),
                task: None,
                _reloader: reloader,
            },
        ))
    }

    fn decide(&self, trace_id: TraceId, attributes: &[KeyValue]) -> SamplingDecision {
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let shared = &self.0;
        let rules = shared.rules.load();
        if let Some(rule) = rules
            .as_deref()
            .and_then(|set| set.find(&shared.service, attributes))
        {
            return rule.sample(trace_id, now_ms);
        }
        // No rules yet, or none matched (X-Ray always sends its `Default`).
        let sampled =
            shared.fallback.take(now_ms / 1000, 1) || rules::by_ratio(FALLBACK_RATE, trace_id);
        match sampled {
            true => SamplingDecision::RecordAndSample,
            false => SamplingDecision::Drop,
        }
    }
}

impl ShouldSample for RemoteSampler {
    fn should_sample(
        &self,
        _parent: Option<&Context>,
        trace_id: TraceId,
        _name: &str,
        _kind: &SpanKind,
        attributes: &[KeyValue],
        _links: &[Link],
    ) -> SamplingResult {
        SamplingResult {
            decision: self.decide(trace_id, attributes),
            attributes: Vec::new(),
            trace_state: TraceState::NONE,
        }
    }
}

/// The service's name, X-Ray type and ARN, from the resource, mapped as
/// ADOT's samplers map them.
fn service(resource: &Resource) -> Service {
    let get = |key: &'static str| {
        resource
            .get(&Key::from_static_str(key))
            .map(|v| v.as_str().into_owned())
    };
    let platform = get(semconv::CLOUD_PLATFORM);
    let kind = platform.as_deref().and_then(|platform| match platform {
        "aws_ec2" => Some("AWS::EC2::Instance"),
        "aws_ecs" => Some("AWS::ECS::Container"),
        "aws_eks" => Some("AWS::EKS::Container"),
        "aws_elastic_beanstalk" => Some("AWS::ElasticBeanstalk::Environment"),
        "aws_lambda" => Some("AWS::Lambda::Function"),
        _ => None,
    });
    let arn = get(semconv::AWS_ECS_CONTAINER_ARN).or_else(|| {
        (platform.as_deref() == Some("aws_lambda"))
            .then(|| get(semconv::CLOUD_RESOURCE_ID))
            .flatten()
    });
    Service {
        name: get(semconv::SERVICE_NAME).unwrap_or_default(),
        kind: kind.map(str::to_owned),
        arn,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sampler(rules: Option<RuleSet>) -> RemoteSampler {
        RemoteSampler(Arc::new(Shared {
            rules: ArcSwapOption::new(rules.map(Arc::new)),
            service: Service::default(),
            fallback: Window::default(),
        }))
    }

    fn random_trace_id() -> TraceId {
        use opentelemetry_sdk::trace::{IdGenerator, RandomIdGenerator};
        RandomIdGenerator::default().new_trace_id()
    }

    #[test]
    fn without_rules_one_a_second_then_five_percent() {
        let sampler = sampler(None);
        let n = 20_000;
        let sampled = (0..n)
            .filter(|_| sampler.decide(random_trace_id(), &[]) == SamplingDecision::RecordAndSample)
            .count();
        // One from the reservoir per second elapsed, the rest at 5 %:
        // 1,000 expected, 5 standard deviations (31) either side.
        let elapsed_seconds = 2;
        assert!(
            (1000 - 155..=1000 + 155 + elapsed_seconds).contains(&sampled),
            "{sampled} of {n}"
        );
    }

    #[test]
    fn the_service_type_and_arn_come_from_the_resource() {
        let resource = Resource::builder_empty()
            .with_attributes([
                KeyValue::new(semconv::SERVICE_NAME, "orders"),
                KeyValue::new(semconv::CLOUD_PLATFORM, "aws_ecs"),
                KeyValue::new(semconv::AWS_ECS_CONTAINER_ARN, "arn:aws:ecs:c"),
            ])
            .build();
        let s = service(&resource);
        assert_eq!(s.name, "orders");
        assert_eq!(s.kind.as_deref(), Some("AWS::ECS::Container"));
        assert_eq!(s.arn.as_deref(), Some("arn:aws:ecs:c"));
        let lambda = Resource::builder_empty()
            .with_attributes([KeyValue::new(semconv::CLOUD_PLATFORM, "aws_lambda")])
            .build();
        assert_eq!(
            service(&lambda).kind.as_deref(),
            Some("AWS::Lambda::Function")
        );
        assert_eq!(service(&Resource::builder_empty().build()).kind, None);
    }
}
