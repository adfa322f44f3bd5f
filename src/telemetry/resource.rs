//! The resource every span carries: who we are and where we run.
//!
//! The SDK's default detectors read `OTEL_SERVICE_NAME` and
//! `OTEL_RESOURCE_ATTRIBUTES`; we add the version, the cloud and the Lambda
//! or ECS facts. ECS task metadata is read once at start-up, from the task's
//! local metadata endpoint, so traces and metrics carry the same resource.

use std::time::Duration;

use opentelemetry::{Array, Key, KeyValue, StringValue, Value};
use opentelemetry_sdk::Resource;
use opentelemetry_semantic_conventions::attribute as semconv;
use serde::Deserialize;

use crate::config::Config;

const SERVICE_NAME: Key = Key::from_static_str(semconv::SERVICE_NAME);
const METADATA_TIMEOUT: Duration = Duration::from_secs(2);

pub(super) fn service_name(config: &Config) -> String {
    if let Some(name) = &config.telemetry.service_name {
        return name.clone();
    }
    match Resource::builder().build().get(&SERVICE_NAME) {
        Some(name) if !name.as_str().starts_with("unknown_service") => name.to_string(),
        _ => env!("CARGO_PKG_NAME").to_owned(),
    }
}

pub(super) fn build(config: &Config) -> Resource {
    let mut attributes = vec![
        KeyValue::new(semconv::SERVICE_VERSION, env!("CARGO_PKG_VERSION")),
        KeyValue::new(semconv::CLOUD_PROVIDER, "aws"),
    ];
    if let Some(region) = &config.aws.region {
        attributes.push(KeyValue::new(semconv::CLOUD_REGION, region.clone()));
    }
    // `lambda` is set exactly when the target is Lambda (config decides that).
    match &config.aws.lambda {
        Some(lambda) => {
            attributes.extend([
                KeyValue::new(semconv::CLOUD_PLATFORM, "aws_lambda"),
                KeyValue::new(semconv::FAAS_NAME, lambda.function_name.clone()),
                KeyValue::new(semconv::FAAS_VERSION, lambda.function_version.clone()),
                KeyValue::new(
                    semconv::FAAS_MAX_MEMORY,
                    i64::from(lambda.memory_mb) * 1024 * 1024,
                ),
            ]);
            if let Some(stream) = &lambda.log_stream {
                attributes.push(KeyValue::new(semconv::FAAS_INSTANCE, stream.clone()));
            }
        }
        None if config.aws.ecs_metadata_uri.is_some() => {
            attributes.push(KeyValue::new(semconv::CLOUD_PLATFORM, "aws_ecs"));
        }
        None => {}
    }
    Resource::builder()
        .with_service_name(service_name(config))
        .with_attributes(attributes)
        .build()
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
struct TaskMetadata {
    #[serde(rename = "TaskARN")]
    task_arn: Option<String>,
    cluster: Option<String>,
    launch_type: Option<String>,
    family: Option<String>,
    revision: Option<String>,
    availability_zone: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
struct ContainerMetadata {
    #[serde(rename = "ContainerARN")]
    container_arn: Option<String>,
    log_options: Option<LogOptions>,
}

#[derive(Deserialize)]
struct LogOptions {
    #[serde(rename = "awslogs-group")]
    group: Option<String>,
    #[serde(rename = "awslogs-stream")]
    stream: Option<String>,
}

/// `base` plus the task's ARN, cluster, launch type and log group.
pub(super) async fn with_ecs_metadata(
    base: Resource,
    uri: &str,
) -> Result<Resource, reqwest::Error> {
    let attributes = fetch_ecs_metadata(uri).await?;
    Ok(Resource::builder_empty()
        .with_attributes(
            base.iter()
                .map(|(k, v)| KeyValue::new(k.clone(), v.clone())),
        )
        .with_attributes(attributes)
        .build())
}

async fn fetch_ecs_metadata(uri: &str) -> Result<Vec<KeyValue>, reqwest::Error> {
    let client = reqwest::Client::builder()
        .timeout(METADATA_TIMEOUT)
        .build()?;
    let task: TaskMetadata = get_json(&client, &format!("{uri}/task")).await?;
    let container: ContainerMetadata = get_json(&client, uri).await?;
    let mut out = Vec::new();
    let mut push = |key: &'static str, value: Option<String>| {
        if let Some(v) = value {
            out.push(KeyValue::new(key, v));
        }
    };
    push(semconv::AWS_ECS_TASK_ARN, task.task_arn);
    push(semconv::AWS_ECS_CLUSTER_ARN, task.cluster);
    push(
        semconv::AWS_ECS_LAUNCHTYPE,
        task.launch_type.map(|t| t.to_ascii_lowercase()),
    );
    push(semconv::AWS_ECS_TASK_FAMILY, task.family);
    push(semconv::AWS_ECS_TASK_REVISION, task.revision);
    push(semconv::CLOUD_AVAILABILITY_ZONE, task.availability_zone);
    push(semconv::AWS_ECS_CONTAINER_ARN, container.container_arn);
    if let Some(logs) = container.log_options {
        // semconv types these two as string arrays.
        for (key, value) in [
            (semconv::AWS_LOG_GROUP_NAMES, logs.group),
            (semconv::AWS_LOG_STREAM_NAMES, logs.stream),
        ] {
            if let Some(v) = value {
                out.push(KeyValue::new(
                    key,
                    Value::Array(Array::String(vec![StringValue::from(v)])),
                ));
            }
        }
    }
    Ok(out)
}

async fn get_json<T: serde::de::DeserializeOwned + Default>(
    client: &reqwest::Client,
    url: &str,
) -> Result<T, reqwest::Error> {
    let bytes = client
        .get(url)
        .send()
        .await?
        .error_for_status()?
        .bytes()
        .await?;
    // A body that is not the documented JSON yields empty metadata, not an error.
    Ok(serde_json::from_slice(&bytes).unwrap_or_default())
}
