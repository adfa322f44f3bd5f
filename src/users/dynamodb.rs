//! Users in a DynamoDB table: `id` (number) is the partition key, `name`
//! and `email` are strings. Reads with `GetItem`, creates with a
//! conditional `PutItem`.
//!
//! Every failure becomes a 503 ([`StoreError`]). Causes an operator has to
//! fix (missing table, access denied, no credentials) are logged once each,
//! with what to fix; the request span records every occurrence anyway.

use std::{
    collections::HashMap,
    sync::atomic::{AtomicBool, Ordering},
    time::Duration,
};

use aws_sdk_dynamodb::{
    Client,
    error::{ProvideErrorMetadata, SdkError},
    types::AttributeValue,
};

use super::{Created, StoreError, StoreFuture, User, UserStore};

/// What a throttled client is told to wait (`Retry-After`).
const THROTTLED_RETRY_AFTER: Duration = Duration::from_secs(1);

pub struct DynamoDbUsers {
    client: Client,
    table: String,
    logged: Logged,
}

/// Which operator-facing causes have been logged already.
#[derive(Default)]
struct Logged {
    missing_table: AtomicBool,
    access_denied: AtomicBool,
    no_credentials: AtomicBool,
}

impl DynamoDbUsers {
    pub fn new(client: Client, table: String) -> Self {
        Self {
            client,
            table,
            logged: Logged::default(),
        }
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    /// Maps an SDK error to a 503 cause, logging operator causes once.
    fn classify<E, R>(&self, error: &SdkError<E, R>) -> StoreError
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
        R: std::fmt::Debug,
    {
        let detail = aws_sdk_dynamodb::error::DisplayErrorContext(error).to_string();
        let code = error.code().unwrap_or_default();
        let once = |flag: &AtomicBool, fix: &str| {
            if !flag.swap(true, Ordering::Relaxed) {
                tracing::error!(table = %self.table, cause = %detail, "users table unusable: {fix}");
            }
        };
        match code {
            "ResourceNotFoundException" => once(
                &self.logged.missing_table,
                "the table does not exist in this account and region; create it \
                 (terraform module dynamodb-table, or `axum-xray-otel seed-users --create-table`) \
                 or fix USERS_TABLE / AWS_REGION",
            ),
            "AccessDeniedException"
            | "UnrecognizedClientException"
            | "InvalidSignatureException"
            | "ExpiredTokenException" => once(
                &self.logged.access_denied,
                "access denied; the task or function role needs dynamodb:GetItem, \
                 dynamodb:PutItem and dynamodb:BatchWriteItem on the table's ARN (docs/iam.md)",
            ),
            "ProvisionedThroughputExceededException"
            | "ThrottlingException"
            | "RequestLimitExceeded" => {
                return StoreError::Throttled(detail, THROTTLED_RETRY_AFTER);
            }
            // Identity resolution fails before anything is sent: a dispatch
            // failure that is neither I/O nor a timeout.
            _ if is_unsent(error) => once(
                &self.logged.no_credentials,
                "the request could not be built, usually because no AWS credentials were \
                 found (environment, ECS task role or profile)",
            ),
            _ => {}
        }
        StoreError::Unavailable(detail)
    }
}

impl UserStore for DynamoDbUsers {
    fn get(&self, id: u64) -> StoreFuture<'_, Option<User>> {
        Box::pin(async move {
            let output = self
                .client
                .get_item()
                .table_name(&self.table)
                .key("id", AttributeValue::N(id.to_string()))
                .send()
                .await
                .map_err(|e| self.classify(&e))?;
            output.item.map(|item| from_item(id, &item)).transpose()
        })
    }

    fn create(&self, user: User) -> StoreFuture<'_, Created> {
        Box::pin(async move {
            let result = self
                .client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(to_item(&user)))
                .condition_expression("attribute_not_exists(id)")
                .send()
                .await;
            match result {
                Ok(_) => Ok(Created::Yes),
                Err(e) if e.code() == Some("ConditionalCheckFailedException") => {
                    Ok(Created::AlreadyExists)
                }
                Err(e) => Err(self.classify(&e)),
            }
        })
    }
}

fn is_unsent<E, R>(error: &SdkError<E, R>) -> bool {
    match error {
        SdkError::ConstructionFailure(_) => true,
        SdkError::DispatchFailure(e) => e.is_other() || e.is_user(),
        _ => false,
    }
}

pub fn to_item(user: &User) -> HashMap<String, AttributeValue> {
    HashMap::from([
        ("id".to_owned(), AttributeValue::N(user.id.to_string())),
        ("name".to_owned(), AttributeValue::S(user.name.clone())),
        ("email".to_owned(), AttributeValue::S(user.email.clone())),
    ])
}

/// A stored item missing a field is the table's fault: 503, not a crash.
fn from_item(id: u64, item: &HashMap<String, AttributeValue>) -> Result<User, StoreError> {
    let text = |key: &str| {
        item.get(key)
            .and_then(|v| v.as_s().ok())
            .cloned()
            .ok_or_else(|| {
                StoreError::Unavailable(format!("user {id}: item has no string '{key}'"))
            })
    };
    Ok(User {
        id,
        name: text("name")?,
        email: text("email")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_round_trip_and_incomplete_items_are_errors() {
        let user = User {
            id: 9,
            name: "Ada".into(),
            email: "ada@example.com".into(),
        };
        assert_eq!(from_item(9, &to_item(&user)), Ok(user.clone()));
        let mut item = to_item(&user);
        item.remove("email");
        assert!(matches!(
            from_item(9, &item),
            Err(StoreError::Unavailable(_))
        ));
    }
}
