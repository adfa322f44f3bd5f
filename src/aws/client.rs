//! One builder for every AWS SDK client: [`client`] gives any `aws-sdk-*`
//! client our timeouts, the retries of the shared `SdkConfig`
//! (`AWS_MAX_ATTEMPTS`, `AWS_RETRY_MODE`), the trace interceptor and the
//! `rpc.client.call.duration` metric.
//!
//! Each service crate has its own `Config` type with the same inherent
//! methods, so the crates we use are listed once in [`sdk_clients!`].

use std::time::Duration;

use aws_config::{SdkConfig, timeout::TimeoutConfig};

use super::TraceInterceptor;
use crate::telemetry::metrics::Metrics;

/// How a client's calls are bounded and measured.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Bounds a whole operation, retries included; each attempt gets an
    /// equal share, so a hanging connection still leaves time to retry.
    pub timeout: Duration,
    pub metrics: Metrics,
}

/// An `aws-sdk-*` client built from the shared configuration plus ours.
pub trait SdkClient: Sized {
    fn from_sdk(sdk: &SdkConfig, timeouts: TimeoutConfig, trace: TraceInterceptor) -> Self;
}

macro_rules! sdk_clients {
    ($($service:ident),+ $(,)?) => {$(
        impl SdkClient for $service::Client {
            fn from_sdk(sdk: &SdkConfig, timeouts: TimeoutConfig, trace: TraceInterceptor) -> Self {
                let config = $service::config::Builder::from(sdk)
                    .timeout_config(timeouts)
                    .interceptor(trace)
                    .build();
                Self::from_conf(config)
            }
        }
    )+};
}

// A new service: add its crate to Cargo.toml and here (docs/extending.md).
sdk_clients!(aws_sdk_dynamodb, aws_sdk_sqs);

/// A client of any listed service, e.g. `aws::client::<aws_sdk_sqs::Client>(&sdk, &settings)`.
pub fn client<C: SdkClient>(sdk: &SdkConfig, settings: &Settings) -> C {
    let attempts = sdk.retry_config().map_or(3, |r| r.max_attempts()).max(1);
    let attempt_timeout = settings.timeout / attempts;
    let timeouts = TimeoutConfig::builder()
        .operation_timeout(settings.timeout)
        .operation_attempt_timeout(attempt_timeout)
        .connect_timeout(attempt_timeout)
        .build();
    C::from_sdk(
        sdk,
        timeouts,
        TraceInterceptor::new(sdk, settings.metrics.clone()),
    )
}
