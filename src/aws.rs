//! The process's one AWS configuration: region and the default credentials
//! chain (environment, Lambda's variables, ECS container credentials via
//! `AWS_CONTAINER_CREDENTIALS_FULL_URI`, profile), loaded once.

use aws_config::{BehaviorVersion, Region, SdkConfig};

use crate::config::{Config, TracesAuth};

/// Loads the SDK configuration. The region is `AWS_REGION`, else the X-Ray
/// endpoint's (so no instance-metadata lookup delays start-up); credentials
/// are resolved lazily, on first use.
pub async fn sdk_config(config: &Config) -> SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest());
    let signing_region = match &config.otlp_traces_auth {
        TracesAuth::SigV4 { region } => Some(region),
        TracesAuth::None => None,
    };
    if let Some(region) = config.region.as_ref().or(signing_region) {
        loader = loader.region(Region::new(region.clone()));
    }
    loader.load().await
}
