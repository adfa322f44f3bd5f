//! The service's three routes on ALB events, traced by lambda-otel-lite (its
//! default sync mode: every invocation's spans to stdout before the next
//! event, for a log forwarder). `/api/users/{id}` has a child span for the
//! lookup, as the service has.

use aws_lambda_events::{
    alb::{AlbTargetGroupRequest, AlbTargetGroupResponse},
    encodings::Body,
};
use http::{HeaderMap, HeaderValue};
use lambda_otel_lite::{OtelTracingLayer, TelemetryConfig, init_telemetry};
use lambda_runtime::{Error, LambdaEvent, Runtime, service_fn};
use serde_json::{Value, json};
use tower::ServiceBuilder;

fn route(path: &str) -> (i64, Value) {
    match path {
        "/" => (200, json!({"message": "Hello from axum-xray-otel"})),
        "/api/database" => (200, json!({"rows": 1})),
        _ => match path.strip_prefix("/api/users/").map(str::parse::<u32>) {
            Some(Ok(id @ 1..=100)) => {
                let _lookup = tracing::info_span!("SELECT users", user_id = id).entered();
                (
                    200,
                    json!({"id": id, "name": format!("User {id}"), "email": format!("user{id}@example.com")}),
                )
            }
            Some(_) => (404, json!({"error": "user not found"})),
            None => (404, json!({"error": "not found"})),
        },
    }
}

async fn handler(
    event: LambdaEvent<AlbTargetGroupRequest>,
) -> Result<AlbTargetGroupResponse, Error> {
    let (status, body) = route(event.payload.path.as_deref().unwrap_or("/"));
    let mut headers = HeaderMap::new();
    headers.insert("content-type", HeaderValue::from_static("application/json"));
    let mut response = AlbTargetGroupResponse::default();
    response.status_code = status;
    response.headers = headers;
    response.body = Some(Body::Text(body.to_string()));
    Ok(response)
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let (_, completion) = init_telemetry(TelemetryConfig::default()).await?;
    let service = ServiceBuilder::new()
        .layer(OtelTracingLayer::new(completion).with_name("handler"))
        .service(service_fn(handler));
    Runtime::new(service).run().await
}
