//! `DATABASE_URL_SECRET_ARN`: the database URL read from Secrets Manager
//! once at start-up, so deployments never hold it in an environment
//! variable, a task definition or Terraform state. (ECS injects it as
//! `DATABASE_URL` from the task definition's `secrets` instead.)

use std::time::Duration;

use aws_config::SdkConfig;

use crate::config::database::DatabaseUrl;

/// Bound on the one `GetSecretValue` call, retries included.
const TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("cannot read the database URL secret {arn}: {detail}")]
    Read { arn: String, detail: String },
    /// The value is never repeated: it holds a password.
    #[error("the secret {arn} is not a sqlite: or postgres:// URL ({problem})")]
    NotAUrl { arn: String, problem: String },
}

/// The URL the secret `arn` holds as its string.
pub async fn database_url(sdk: &SdkConfig, arn: &str) -> Result<DatabaseUrl, SecretError> {
    let config = aws_sdk_secretsmanager::config::Builder::from(sdk)
        .timeout_config(
            aws_config::timeout::TimeoutConfig::builder()
                .operation_timeout(TIMEOUT)
                .build(),
        )
        .build();
    let client = aws_sdk_secretsmanager::Client::from_conf(config);
    let read = |detail: String| SecretError::Read {
        arn: arn.to_owned(),
        detail,
    };
    let output = client
        .get_secret_value()
        .secret_id(arn)
        .send()
        .await
        .map_err(|e| read(aws_sdk_secretsmanager::error::DisplayErrorContext(e).to_string()))?;
    let value = output
        .secret_string()
        .ok_or_else(|| read("the secret has no string value".to_owned()))?;
    DatabaseUrl::parse(value.trim()).map_err(|problem| SecretError::NotAUrl {
        arn: arn.to_owned(),
        problem,
    })
}
