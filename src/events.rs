//! The events queue (`EVENTS_QUEUE_URL`): `POST /api/events` sends each body
//! to SQS as one message. A second AWS service on the same client builder
//! and interceptor as DynamoDB (`aws::client`), so its calls are traced alike.

use std::time::Duration;

use aws_sdk_sqs::error::{DisplayErrorContext, ProvideErrorMetadata};

use crate::{config::Config, telemetry::metrics::Metrics, users::StoreError};

/// What a throttled client is told to wait (`Retry-After`).
const THROTTLED_RETRY_AFTER: Duration = Duration::from_secs(1);

#[derive(Clone, Debug)]
pub struct EventsQueue {
    client: aws_sdk_sqs::Client,
    queue_url: String,
}

impl EventsQueue {
    /// The queue `config` names, with a client from `sdk`; `None` when unset.
    pub fn from_config(
        config: &Config,
        sdk: Option<&aws_config::SdkConfig>,
        metrics: Metrics,
    ) -> Option<Self> {
        let (queue_url, sdk) = (config.aws.events_queue_url.as_ref()?, sdk?);
        let settings = crate::aws::Settings {
            timeout: config.aws.events_timeout,
            metrics,
        };
        Some(Self {
            client: crate::aws::client(sdk, &settings),
            queue_url: queue_url.clone(),
        })
    }

    /// Sends `body`; the message id SQS gave it.
    pub async fn send(&self, body: String) -> Result<String, StoreError> {
        let output = self
            .client
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(body)
            .send()
            .await
            .map_err(|error| {
                let detail = DisplayErrorContext(&error).to_string();
                match error.code() {
                    Some("ThrottlingException" | "RequestThrottled" | "KmsThrottled") => {
                        StoreError::Throttled(detail, THROTTLED_RETRY_AFTER)
                    }
                    _ => StoreError::Unavailable(detail),
                }
            })?;
        Ok(output.message_id.unwrap_or_default())
    }
}
