//! Where the service runs on AWS and the AWS resources it uses: the region,
//! the Lambda sandbox or the ECS task, the users table and the events queue.

use std::time::Duration;

use super::{Target, reader::Reader, vars::*};

#[derive(Clone, Debug)]
pub struct Aws {
    pub region: Option<String>,
    /// Present exactly when the target is Lambda.
    pub lambda: Option<LambdaEnv>,
    pub ecs_metadata_uri: Option<String>,
    /// Users live in this DynamoDB table when set, else in the process.
    pub users_table: Option<String>,
    /// Bound on one DynamoDB operation, retries included.
    pub dynamodb_timeout: Duration,
    /// `POST /api/events` sends to this SQS queue when set.
    pub events_queue_url: Option<String>,
    /// Bound on one SQS operation, retries included.
    pub events_timeout: Duration,
}

/// Facts about the Lambda sandbox, present when the target is Lambda.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LambdaEnv {
    pub runtime_api: String,
    pub function_name: String,
    pub function_version: String,
    pub memory_mb: u32,
    pub log_stream: Option<String>,
    /// Invocations one process serves at once: above 1 on Lambda Managed
    /// Instances (`AWS_LAMBDA_MAX_CONCURRENCY`), else 1.
    pub max_concurrency: u32,
}

impl Aws {
    pub(super) fn read(r: &mut Reader<'_>, target: Target) -> Self {
        let lambda = (target == Target::Lambda).then(|| read_lambda_env(r));
        let region = r.get(AWS_REGION);
        let ecs_metadata_uri = r.get(ECS_CONTAINER_METADATA_URI_V4);
        let users_table = read_users_table(r, region.is_some());
        let events_queue_url = read_events_queue_url(r, region.is_some());
        Aws {
            region,
            lambda,
            ecs_metadata_uri,
            users_table,
            dynamodb_timeout: r.nonzero_millis(DYNAMODB_TIMEOUT_MS, 1000, 60_000),
            events_queue_url,
            events_timeout: r.nonzero_millis(EVENTS_TIMEOUT_MS, 1000, 60_000),
        }
    }
}

/// lambda_runtime panics when these are missing; we report them instead.
fn read_lambda_env(r: &mut Reader<'_>) -> LambdaEnv {
    let required = |r: &mut Reader<'_>, var: &'static str| {
        r.get(var).unwrap_or_else(|| {
            r.fail(var, "must be set when APP_TARGET is lambda");
            String::new()
        })
    };
    let runtime_api = required(r, AWS_LAMBDA_RUNTIME_API);
    let function_name = required(r, AWS_LAMBDA_FUNCTION_NAME);
    let function_version = required(r, AWS_LAMBDA_FUNCTION_VERSION);
    if r.get(AWS_LAMBDA_FUNCTION_MEMORY_SIZE).is_none() {
        r.fail(
            AWS_LAMBDA_FUNCTION_MEMORY_SIZE,
            "must be set when APP_TARGET is lambda",
        );
    }
    let memory_mb = r.number(AWS_LAMBDA_FUNCTION_MEMORY_SIZE, 128u32, 1, 1 << 20);
    LambdaEnv {
        runtime_api,
        function_name,
        function_version,
        memory_mb,
        log_stream: r.get(AWS_LAMBDA_LOG_STREAM_NAME),
        max_concurrency: r.number(AWS_LAMBDA_MAX_CONCURRENCY, 1u32, 1, 65_535),
    }
}

/// A DynamoDB table name (3 to 255 of `A-Za-z0-9_.-`). The region is then
/// required: guessing it would mean probing instance metadata at start-up.
fn read_users_table(r: &mut Reader<'_>, has_region: bool) -> Option<String> {
    let table = r.get(USERS_TABLE)?;
    let valid_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-');
    if !(3..=255).contains(&table.len()) || !table.chars().all(valid_char) {
        r.fail(
            USERS_TABLE,
            format!("'{table}' is not a DynamoDB table name (3 to 255 of A-Z a-z 0-9 _ . -)"),
        );
    }
    if !has_region {
        r.fail(AWS_REGION, "must be set when USERS_TABLE is set");
    }
    Some(table)
}

/// An SQS queue URL (`https://sqs.<region>.amazonaws.com/<account>/<name>`;
/// `http` for a local endpoint). The region is then required, as for the table.
fn read_events_queue_url(r: &mut Reader<'_>, has_region: bool) -> Option<String> {
    let url = r.get(EVENTS_QUEUE_URL)?;
    let valid = reqwest::Url::parse(&url).is_ok_and(|u| {
        matches!(u.scheme(), "http" | "https")
            && u.host_str().is_some()
            && u.path_segments().is_some_and(|s| s.count() == 2)
    });
    if !valid {
        r.fail(
            EVENTS_QUEUE_URL,
            format!("'{url}' is not an SQS queue URL (https://sqs.<region>.amazonaws.com/<account>/<name>)"),
        );
    }
    if !has_region {
        r.fail(AWS_REGION, "must be set when EVENTS_QUEUE_URL is set");
    }
    Some(url)
}

#[cfg(test)]
mod tests {
    use super::super::{LAMBDA, parse};
    use super::*;

    #[test]
    fn defaults_match_the_documented_table() {
        let aws = parse(&[]).unwrap().aws;
        assert_eq!(aws.users_table, None);
        assert_eq!(aws.events_queue_url, None);
        assert_eq!(aws.dynamodb_timeout, Duration::from_millis(1000));
        assert_eq!(aws.lambda, None);
    }

    #[test]
    fn users_table_needs_a_valid_name_and_a_region() {
        let c = parse(&[("USERS_TABLE", "users-prod"), ("AWS_REGION", "eu-west-1")]).unwrap();
        assert_eq!(c.aws.users_table.as_deref(), Some("users-prod"));
        let err = parse(&[("USERS_TABLE", "users")]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid configuration: AWS_REGION: must be set when USERS_TABLE is set"
        );
        let err = parse(&[("USERS_TABLE", "a/b"), ("AWS_REGION", "eu-west-1")]).unwrap_err();
        assert_eq!(err.0[0].var, "USERS_TABLE");
        let err = parse(&[("DYNAMODB_TIMEOUT_MS", "0")]).unwrap_err();
        assert_eq!(err.0[0].var, "DYNAMODB_TIMEOUT_MS");
    }

    #[test]
    fn events_queue_url_needs_a_queue_url_and_a_region() {
        let url = "https://sqs.eu-west-1.amazonaws.com/123456789012/events";
        let c = parse(&[("EVENTS_QUEUE_URL", url), ("AWS_REGION", "eu-west-1")]).unwrap();
        assert_eq!(c.aws.events_queue_url.as_deref(), Some(url));
        assert_eq!(c.aws.events_timeout, Duration::from_millis(1000));
        let err = parse(&[("EVENTS_QUEUE_URL", url)]).unwrap_err();
        assert_eq!(err.0[0].var, "AWS_REGION");
        for bad in ["events", "https://sqs.eu-west-1.amazonaws.com/events"] {
            let err = parse(&[("EVENTS_QUEUE_URL", bad), ("AWS_REGION", "eu-west-1")]).unwrap_err();
            assert_eq!(err.0[0].var, "EVENTS_QUEUE_URL", "{bad}");
        }
    }

    #[test]
    fn the_lambda_sandbox_is_described_from_its_variables() {
        let lambda = parse(&LAMBDA).unwrap().aws.lambda.unwrap();
        assert_eq!(
            lambda,
            LambdaEnv {
                runtime_api: "127.0.0.1:9001".into(),
                function_name: "f".into(),
                function_version: "$LATEST".into(),
                memory_mb: 128,
                log_stream: None,
                max_concurrency: 1,
            }
        );
        let mut managed = LAMBDA.to_vec();
        managed.push(("AWS_LAMBDA_MAX_CONCURRENCY", "8"));
        let lambda = parse(&managed).unwrap().aws.lambda.unwrap();
        assert_eq!(lambda.max_concurrency, 8);
        managed.push(("AWS_LAMBDA_MAX_CONCURRENCY", "0"));
        let err = parse(&managed).unwrap_err();
        assert_eq!(err.0[0].var, "AWS_LAMBDA_MAX_CONCURRENCY");
    }

    #[test]
    fn lambda_target_without_runtime_variables_names_each_one() {
        let err = parse(&[("APP_TARGET", "lambda")]).unwrap_err();
        let vars: Vec<&str> = err.0.iter().map(|e| e.var).collect();
        assert_eq!(
            vars,
            vec![
                "AWS_LAMBDA_RUNTIME_API",
                "AWS_LAMBDA_FUNCTION_NAME",
                "AWS_LAMBDA_FUNCTION_VERSION",
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE"
            ]
        );
    }
}
