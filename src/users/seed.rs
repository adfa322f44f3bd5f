//! The users every store starts from, and `axum-xray-otel seed-users`:
//! writes users 1 to N into the DynamoDB table with `BatchWriteItem`
//! (idempotent: the same items each time), retrying unprocessed items.

use std::time::Duration;

use aws_sdk_dynamodb::{
    error::{DisplayErrorContext, ProvideErrorMetadata},
    types::{
        AttributeDefinition, BillingMode, KeySchemaElement, KeyType, PutRequest,
        ScalarAttributeType, TableStatus, WriteRequest,
    },
};

use super::{DynamoDbUsers, MAX_USER_ID, User, dynamodb::to_item};

/// DynamoDB's limit per `BatchWriteItem`.
const BATCH: usize = 25;
/// Per call: creating a table, or a cold DynamoDB Local, takes longer than
/// the request path's `DYNAMODB_TIMEOUT_MS` should allow.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// Rounds of retrying unprocessed items before giving up.
const MAX_ROUNDS: u32 = 10;

/// User `id` as seeded everywhere (in-process store, `seed-users`).
pub fn user(id: u64) -> User {
    User {
        id,
        name: format!("User {id}"),
        email: format!("user{id}@example.com"),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    #[error("--count must be from 1 to {MAX_USER_ID}")]
    Count,
    #[error("{0}")]
    Aws(String),
    #[error("{0} items still unprocessed after {MAX_ROUNDS} rounds (throttled?)")]
    Unprocessed(usize),
    #[error("table {0} did not become ACTIVE in time")]
    NotActive(String),
}

fn aws(e: impl std::error::Error + 'static) -> SeedError {
    SeedError::Aws(DisplayErrorContext(e).to_string())
}

/// Creates the table if asked, then writes users 1 to `count`.
pub async fn run(store: &DynamoDbUsers, count: u64, create_table: bool) -> Result<(), SeedError> {
    if !(1..=MAX_USER_ID).contains(&count) {
        return Err(SeedError::Count);
    }
    if create_table {
        ensure_table(store).await?;
    }
    let ids: Vec<u64> = (1..=count).collect();
    for chunk in ids.chunks(BATCH) {
        let requests = chunk
            .iter()
            .map(|&id| {
                let put = PutRequest::builder()
                    .set_item(Some(to_item(&user(id))))
                    .build()
                    .map_err(aws)?;
                Ok(WriteRequest::builder().put_request(put).build())
            })
            .collect::<Result<Vec<_>, SeedError>>()?;
        write_all(store, requests).await?;
    }
    Ok(())
}

/// One batch, re-sending what DynamoDB left unprocessed with a growing pause.
async fn write_all(
    store: &DynamoDbUsers,
    mut requests: Vec<WriteRequest>,
) -> Result<(), SeedError> {
    let mut pause = Duration::from_millis(50);
    for _ in 0..MAX_ROUNDS {
        let output = store
            .client()
            .batch_write_item()
            .request_items(store.table(), requests)
            .send()
            .await
            .map_err(aws)?;
        requests = output
            .unprocessed_items
            .and_then(|mut items| items.remove(store.table()))
            .unwrap_or_default();
        if requests.is_empty() {
            return Ok(());
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_secs(2));
    }
    Err(SeedError::Unprocessed(requests.len()))
}

/// On-demand table with `id` (number) as partition key; an existing one is kept.
async fn ensure_table(store: &DynamoDbUsers) -> Result<(), SeedError> {
    let client = store.client();
    let created = client
        .create_table()
        .table_name(store.table())
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("id")
                .attribute_type(ScalarAttributeType::N)
                .build()
                .map_err(aws)?,
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("id")
                .key_type(KeyType::Hash)
                .build()
                .map_err(aws)?,
        )
        .send()
        .await;
    match created {
        Ok(_) => {}
        Err(e) if e.code() == Some("ResourceInUseException") => {}
        Err(e) => return Err(aws(e)),
    }
    // Real DynamoDB takes seconds to create a table; DynamoDB Local none.
    for _ in 0..120 {
        let table = client
            .describe_table()
            .table_name(store.table())
            .send()
            .await
            .map_err(aws)?;
        if table.table.and_then(|t| t.table_status) == Some(TableStatus::Active) {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    Err(SeedError::NotActive(store.table().to_owned()))
}

/// `seed-users`: the table from `USERS_TABLE`, the client from the one
/// aws-config load (no tracing: this is a one-off command).
pub async fn run_from_config(
    config: &crate::config::Config,
    count: u64,
    create_table: bool,
) -> Result<String, SeedError> {
    let Some(table) = config.aws.users_table.clone() else {
        return Err(SeedError::Aws("USERS_TABLE must be set".to_owned()));
    };
    let sdk = crate::aws::sdk_config(config).await;
    let settings = crate::aws::Settings {
        timeout: CALL_TIMEOUT.max(config.aws.dynamodb_timeout),
        metrics: crate::telemetry::metrics::Metrics::default(),
    };
    let client = crate::aws::client(&sdk, &settings);
    let store = DynamoDbUsers::new(client, table.clone());
    run(&store, count, create_table).await?;
    Ok(format!("seeded users 1 to {count} into table {table}"))
}
