//! The process's one AWS configuration: region and the default credentials
//! chain (environment, Lambda's variables, ECS container credentials via
//! `AWS_CONTAINER_CREDENTIALS_FULL_URI`, profile), loaded once.

use aws_config::{BehaviorVersion, Region, SdkConfig};

use crate::config::Config;

/// Loads the SDK configuration. The region is `AWS_REGION` from [`Config`]
/// when set; credentials are resolved lazily, on first use.
pub async fn sdk_config(config: &Config) -> SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest());
    if let Some(region) = &config.region {
        loader = loader.region(Region::new(region.clone()));
    }
    loader.load().await
}
