//! AWS SDK clients, built once from one `aws-config` load.
//!
//! [`sdk_config`] is the only place the AWS SDK's shared settings are
//! resolved: the region from `AWS_REGION` (never guessed, so nothing probes
//! instance metadata), credentials from the default chain (environment,
//! ECS container credentials, profile), or on Lambda from the function's
//! environment only. Credentials are resolved on the first call, never at
//! start-up, so readiness and Lambda init never wait for them. The SDK reads
//! its own variables itself (`AWS_ENDPOINT_URL_<SERVICE>`, `AWS_MAX_ATTEMPTS`,
//! `AWS_RETRY_MODE`).
//!
//! Every client comes from [`client()`], with the [`trace::TraceInterceptor`]:
//! one CLIENT span per operation and an `X-Amzn-Trace-Id` header on every
//! request.

mod client;
mod resource;
pub mod trace;

use aws_config::{BehaviorVersion, Region, SdkConfig};

use crate::config::{Config, SamplerConfig, Target, TracesAuth};

pub use client::{SdkClient, Settings, client};
pub use trace::TraceInterceptor;

/// Whether anything this configuration turns on calls AWS: the users table,
/// the events queue, span export signed for X-Ray, or X-Ray's sampling APIs
/// called directly (not on Lambda, where the sampler polls nothing).
pub fn is_needed(config: &Config) -> bool {
    let signed_sampling = match &config.telemetry.traces.sampler {
        SamplerConfig::Xray(xray) => config.aws.lambda.is_none() && xray.signing_region().is_some(),
        _ => false,
    };
    config.aws.users_table.is_some()
        || config.aws.events_queue_url.is_some()
        || matches!(config.telemetry.traces.otlp.auth, TracesAuth::SigV4 { .. })
        || signed_sampling
}

/// Loads the AWS SDK's shared configuration (region, credentials chain,
/// retry settings, endpoint overrides). Call once at start-up and build
/// every client and the span signer from the result; it does no network I/O.
pub async fn sdk_config(config: &Config) -> SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest()).http_client(https_client());
    // `AWS_REGION`, else the X-Ray endpoint's region when spans are signed.
    let signing_region = match &config.telemetry.traces.otlp.auth {
        TracesAuth::SigV4 { region } => Some(region),
        TracesAuth::None => None,
    };
    if let Some(region) = config.aws.region.as_ref().or(signing_region) {
        loader = loader.region(Region::new(region.clone()));
    }
    if config.target == Target::Lambda {
        // Lambda puts the function role's credentials in the environment;
        // the rest of the default chain would only add probes to init.
        loader = loader.credentials_provider(
            aws_config::environment::EnvironmentVariableCredentialsProvider::new(),
        );
    }
    loader.load().await
}

/// The HTTPS client every AWS client and credentials provider shares:
/// rustls on ring (see Cargo.toml), the system's root certificates.
fn https_client() -> aws_smithy_runtime_api::client::http::SharedHttpClient {
    use aws_smithy_http_client::{
        Builder,
        tls::{Provider, rustls_provider::CryptoMode},
    };
    Builder::new()
        .tls_provider(Provider::rustls(CryptoMode::Ring))
        .build_https()
}
