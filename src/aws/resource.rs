//! The resource an AWS operation names, as span attributes, for the
//! services X-Ray's own SDKs annotate: DynamoDB tables, SQS queues, S3
//! buckets and keys, SNS topics, Lambda functions.
//!
//! Inputs of the service crates this binary links are read by type
//! ([`from_input`]); for the others the serialized request says it
//! ([`from_request`]), so a new client is annotated without code here.
//! The collector's awsxray translator puts `aws.dynamodb.table_names` and
//! `aws.queue_url` into the subsegment's `aws` block; the rest become
//! its metadata.

use aws_smithy_runtime_api::{
    client::interceptors::context::Input, client::orchestrator::HttpRequest,
};
use opentelemetry::{Array, KeyValue, StringValue, Value};
use opentelemetry_semantic_conventions::attribute as semconv;

/// What the collector reads as the queue (`aws.queue_url`; semconv's
/// `aws.sqs.queue.url` is set too, for other backends).
const AWS_QUEUE_URL: &str = "aws.queue_url";
/// The name X-Ray's SDKs give an invoked function (next to `faas.invoked_name`).
const AWS_LAMBDA_FUNCTION_NAME: &str = "aws.lambda.function.name";

/// Attributes read from a linked service's typed input.
pub fn from_input(input: &Input) -> Vec<KeyValue> {
    if let Some(tables) = dynamodb_tables(input) {
        let tables = tables.into_iter().map(StringValue::from).collect();
        return vec![KeyValue::new(
            semconv::AWS_DYNAMODB_TABLE_NAMES,
            Value::Array(Array::String(tables)),
        )];
    }
    match sqs_queue_url(input) {
        Some(url) => vec![
            KeyValue::new(AWS_QUEUE_URL, url.to_owned()),
            KeyValue::new(semconv::AWS_SQS_QUEUE_URL, url.to_owned()),
        ],
        None => Vec::new(),
    }
}

/// Attributes read from the request of a service whose crate is not linked.
pub fn from_request(service: &str, request: &HttpRequest) -> Vec<KeyValue> {
    let path = path_segments(request.uri());
    match service {
        "S3" => s3_bucket_and_key(request.uri())
            .map(|(bucket, key)| {
                let mut kv = vec![KeyValue::new(semconv::AWS_S3_BUCKET, bucket)];
                kv.extend(key.map(|k| KeyValue::new(semconv::AWS_S3_KEY, k)));
                kv
            })
            .unwrap_or_default(),
        // `/2015-03-31/functions/{FunctionName}/invocations`
        "Lambda" => match path.as_slice() {
            [_, "functions", name, ..] => {
                let name = percent_decode(name);
                vec![
                    KeyValue::new(AWS_LAMBDA_FUNCTION_NAME, name.clone()),
                    KeyValue::new(semconv::FAAS_INVOKED_NAME, name),
                ]
            }
            _ => Vec::new(),
        },
        // A form body with `TopicArn=...` (awsQuery), or a JSON one.
        "SNS" => request
            .body()
            .bytes()
            .and_then(|body| form_value(body, "TopicArn").or_else(|| json_value(body, "TopicArn")))
            .map(|arn| vec![KeyValue::new(semconv::AWS_SNS_TOPIC_ARN, arn)])
            .unwrap_or_default(),
        _ => Vec::new(),
    }
}

fn dynamodb_tables(input: &Input) -> Option<Vec<String>> {
    use aws_sdk_dynamodb::operation::{
        batch_write_item::BatchWriteItemInput, create_table::CreateTableInput,
        describe_table::DescribeTableInput, get_item::GetItemInput, put_item::PutItemInput,
    };
    let one = |name: Option<&str>| Some(name.map(str::to_owned).into_iter().collect());
    if let Some(i) = input.downcast_ref::<GetItemInput>() {
        one(i.table_name())
    } else if let Some(i) = input.downcast_ref::<PutItemInput>() {
        one(i.table_name())
    } else if let Some(i) = input.downcast_ref::<BatchWriteItemInput>() {
        let mut names: Vec<String> = i
            .request_items()
            .into_iter()
            .flatten()
            .map(|(t, _)| t.clone())
            .collect();
        names.sort();
        Some(names)
    } else if let Some(i) = input.downcast_ref::<CreateTableInput>() {
        one(i.table_name())
    } else if let Some(i) = input.downcast_ref::<DescribeTableInput>() {
        one(i.table_name())
    } else {
        None
    }
}

fn sqs_queue_url(input: &Input) -> Option<&str> {
    use aws_sdk_sqs::operation::{
        delete_message::DeleteMessageInput, get_queue_attributes::GetQueueAttributesInput,
        receive_message::ReceiveMessageInput, send_message::SendMessageInput,
        send_message_batch::SendMessageBatchInput,
    };
    macro_rules! first_of {
        ($($ty:ty),+) => {$(
            if let Some(i) = input.downcast_ref::<$ty>() {
                return i.queue_url();
            }
        )+};
    }
    first_of!(
        SendMessageInput,
        SendMessageBatchInput,
        ReceiveMessageInput,
        DeleteMessageInput,
        GetQueueAttributesInput
    );
    None
}

/// The path's segments, still percent-encoded, without the query.
fn path_segments(uri: &str) -> Vec<&str> {
    let after_scheme = uri.split_once("://").map_or(uri, |(_, rest)| rest);
    let path = after_scheme.find('/').map_or("", |i| &after_scheme[i..]);
    let path = path.split(['?', '#']).next().unwrap_or_default();
    path.split('/').filter(|s| !s.is_empty()).collect()
}

/// Virtual-hosted (`bucket.s3.<region>.amazonaws.com/key`) or path style
/// (`<endpoint>/bucket/key`).
fn s3_bucket_and_key(uri: &str) -> Option<(String, Option<String>)> {
    let after_scheme = uri.split_once("://").map_or(uri, |(_, rest)| rest);
    let host = after_scheme.split(['/', '?']).next()?;
    let key_of =
        |segments: &[&str]| (!segments.is_empty()).then(|| percent_decode(&segments.join("/")));
    let segments = path_segments(uri);
    match host.split_once(".s3.").or_else(|| host.split_once(".s3-")) {
        Some((bucket, _)) => Some((bucket.to_owned(), key_of(&segments))),
        None => {
            let (bucket, key) = segments.split_first()?;
            Some((percent_decode(bucket), key_of(key)))
        }
    }
}

/// One field of an `application/x-www-form-urlencoded` body.
fn form_value(body: &[u8], name: &str) -> Option<String> {
    let body = std::str::from_utf8(body).ok()?;
    body.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k == name).then(|| percent_decode(&v.replace('+', " ")))
    })
}

/// One string field of a JSON object body.
fn json_value(body: &[u8], name: &str) -> Option<String> {
    let body: serde_json::Value = serde_json::from_slice(body).ok()?;
    body.get(name)?.as_str().map(str::to_owned)
}

/// `%3A` -> `:`; a malformed escape is kept as it is.
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'%')
            .then(|| s.get(i + 1..i + 3))
            .flatten()
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match escaped {
            Some(byte) => {
                out.push(byte);
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use aws_smithy_types::body::SdkBody;

    use super::*;

    fn request(uri: &str, body: &'static str) -> HttpRequest {
        let mut request = HttpRequest::new(SdkBody::from(body));
        request.set_uri(uri).unwrap();
        request
    }

    fn attrs(service: &str, uri: &str, body: &'static str) -> Vec<(String, String)> {
        from_request(service, &request(uri, body))
            .into_iter()
            .map(|kv| (kv.key.to_string(), kv.value.to_string()))
            .collect()
    }

    fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
        p.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn s3_buckets_and_keys_in_either_style() {
        assert_eq!(
            attrs(
                "S3",
                "https://my-bucket.s3.eu-west-1.amazonaws.com/a/b%20c.json?x-id=PutObject",
                ""
            ),
            pairs(&[("aws.s3.bucket", "my-bucket"), ("aws.s3.key", "a/b c.json")])
        );
        assert_eq!(
            attrs("S3", "http://127.0.0.1:9000/my-bucket/k?x-id=GetObject", ""),
            pairs(&[("aws.s3.bucket", "my-bucket"), ("aws.s3.key", "k")])
        );
        assert_eq!(
            attrs("S3", "http://127.0.0.1:9000/my-bucket?list-type=2", ""),
            pairs(&[("aws.s3.bucket", "my-bucket")])
        );
    }

    #[test]
    fn lambda_function_names_and_sns_topics() {
        assert_eq!(
            attrs(
                "Lambda",
                "https://lambda.eu-west-1.amazonaws.com/2015-03-31/functions/arn%3Aaws%3Alambda%3Aeu-west-1%3A1%3Afunction%3Af/invocations",
                ""
            ),
            pairs(&[
                (
                    "aws.lambda.function.name",
                    "arn:aws:lambda:eu-west-1:1:function:f"
                ),
                ("faas.invoked_name", "arn:aws:lambda:eu-west-1:1:function:f"),
            ])
        );
        assert_eq!(
            attrs(
                "SNS",
                "https://sns.eu-west-1.amazonaws.com/",
                "Action=Publish&TopicArn=arn%3Aaws%3Asns%3Aeu-west-1%3A1%3Atopic&Message=hi"
            ),
            pairs(&[("aws.sns.topic.arn", "arn:aws:sns:eu-west-1:1:topic")])
        );
        assert_eq!(
            attrs(
                "SNS",
                "https://sns.eu-west-1.amazonaws.com/",
                r#"{"TopicArn":"arn:aws:sns:eu-west-1:1:topic","Message":"hi"}"#
            ),
            pairs(&[("aws.sns.topic.arn", "arn:aws:sns:eu-west-1:1:topic")])
        );
        assert!(
            attrs(
                "STS",
                "https://sts.amazonaws.com/",
                "Action=GetCallerIdentity"
            )
            .is_empty()
        );
    }

    #[test]
    fn sqs_inputs_name_their_queue() {
        let url = "https://sqs.eu-west-1.amazonaws.com/1/events";
        let input = Input::erase(
            aws_sdk_sqs::operation::send_message::SendMessageInput::builder()
                .queue_url(url)
                .message_body("{}")
                .build()
                .unwrap(),
        );
        let got: Vec<(String, String)> = from_input(&input)
            .into_iter()
            .map(|kv| (kv.key.to_string(), kv.value.to_string()))
            .collect();
        assert_eq!(
            got,
            pairs(&[("aws.queue_url", url), ("aws.sqs.queue.url", url)])
        );
    }
}
