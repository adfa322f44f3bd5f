//! The Router through `oneshot`: every route, happy and error paths, and
//! captured Lambda events (ALB, function URL, API Gateway v1 and v2).

mod support;

use std::{collections::HashMap, time::Duration};

use axum::{
    Router,
    body::Body,
    http::{Request, StatusCode},
    routing::get,
};
use axum_xray_otel::{
    app::{self, AppState, Limits},
    config::{Config, Propagator},
    serve::lambda::prepare,
    telemetry::{http::RequestTracing, propagation::Propagation},
};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

fn config(extra: &[(&str, &str)]) -> Config {
    let mut env: HashMap<String, String> =
        [("USERS_LATENCY_MS", "0"), ("OTEL_TRACES_EXPORTER", "none")]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
    for (k, v) in extra {
        env.insert((*k).to_owned(), (*v).to_owned());
    }
    Config::from_lookup(|k| env.get(k).cloned()).expect("valid test config")
}

fn tracing_off() -> RequestTracing {
    RequestTracing {
        propagation: Propagation::new(&[Propagator::Xray]),
        tracer: None,
        trace_health_checks: false,
        metrics: Default::default(),
    }
}

fn limits(config: &Config) -> Limits {
    Limits {
        request_timeout: config.server.request_timeout,
        max_body_bytes: config.server.max_body_bytes,
        max_in_flight: config.server.max_in_flight_requests,
    }
}

fn router_with(extra: &[(&str, &str)]) -> Router {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let config = config(extra);
    app::router(
        AppState::from_config(&config, Default::default()).unwrap(),
        tracing_off(),
        limits(&config),
    )
}

async fn send(router: &Router, request: Request<Body>) -> (StatusCode, Value) {
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let content_type = response.headers().get("content-type").cloned();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(
        content_type.as_ref().map(|v| v.to_str().unwrap()),
        Some("application/json"),
        "{status}"
    );
    (status, serde_json::from_slice(&bytes).unwrap())
}

async fn get_path(router: &Router, path: &str) -> (StatusCode, Value) {
    send(router, Request::get(path).body(Body::empty()).unwrap()).await
}

#[tokio::test]
async fn root_names_the_service_and_target() {
    let (status, body) = get_path(&router_with(&[]), "/").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body,
        json!({
            "message": "Hello from axum with OpenTelemetry!",
            "service": "axum-xray-otel",
            "version": env!("CARGO_PKG_VERSION"),
            "target": "http",
        })
    );
    let (_, body) = get_path(&router_with(&[("OTEL_SERVICE_NAME", "orders")]), "/").await;
    assert_eq!(body["service"], "orders");
}

#[tokio::test]
async fn health_is_ok() {
    assert_eq!(
        get_path(&router_with(&[]), "/health").await,
        (StatusCode::OK, json!({"status": "ok"}))
    );
}

#[tokio::test]
async fn users_are_found_by_id() {
    let (status, body) = get_path(&router_with(&[]), "/api/users/42").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body,
        json!({"id": 42, "name": "User 42", "email": "user42@example.com"})
    );
}

#[tokio::test]
async fn user_ids_are_validated() {
    let router = router_with(&[]);
    for path in [
        "/api/users/0",
        "/api/users/-3",
        "/api/users/abc",
        "/api/users/1.5",
        "/api/users/%00",
        "/api/users/%FF%FE",
    ] {
        let (status, body) = get_path(&router, path).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}");
        assert_eq!(body["error"], "bad_request", "{path}");
    }
    for path in ["/api/users/1001", "/api/users/99999999999999999999"] {
        let (status, body) = get_path(&router, path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(body["error"], "not_found");
    }
}

#[tokio::test]
async fn database_returns_the_rows_the_migrations_wrote() {
    let (status, mut body) = get_path(&router_with(&[]), "/api/database").await;
    assert_eq!(status, StatusCode::OK);
    assert!(body["execution_time_ms"].is_u64(), "{body}");
    body.as_object_mut().unwrap().remove("execution_time_ms");
    assert_eq!(
        body,
        json!({
            "query": "SELECT id, name FROM users ORDER BY id LIMIT $1",
            "results": [{"id": 1, "name": "Alice"}, {"id": 2, "name": "Bob"}],
        })
    );
}

#[tokio::test]
async fn external_wraps_the_upstream_json() -> support::TestResult {
    let upstream = support::upstream::Upstream::start(support::upstream::Behaviour::Json).await?;
    let router = router_with(&[("EXTERNAL_URL", &upstream.url())]);
    let (status, body) = get_path(&router, "/api/external").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body,
        json!({"external_response": {"url": "delay", "ok": true}, "status": "success"})
    );
    Ok(())
}

#[tokio::test]
async fn external_failures_are_502_or_504_without_internals() -> support::TestResult {
    use support::upstream::{Behaviour, Upstream};
    for (behaviour, status, code) in [
        (Behaviour::Error, StatusCode::BAD_GATEWAY, "bad_gateway"),
        (Behaviour::Garbage, StatusCode::BAD_GATEWAY, "bad_gateway"),
        (
            Behaviour::Hang,
            StatusCode::GATEWAY_TIMEOUT,
            "gateway_timeout",
        ),
    ] {
        let upstream = Upstream::start(behaviour).await?;
        let router = router_with(&[
            ("EXTERNAL_URL", &upstream.url()),
            ("EXTERNAL_TIMEOUT_MS", "300"),
        ]);
        let (got, body) = get_path(&router, "/api/external").await;
        assert_eq!(got, status, "{behaviour:?}");
        assert_eq!(body["error"], code);
        let text = body.to_string();
        assert!(
            !text.contains("127.0.0.1") && !text.contains("boom"),
            "leaks internals: {text}"
        );
    }
    // Nothing listening at all.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await?
        .local_addr()?;
    let router = router_with(&[("EXTERNAL_URL", &format!("http://{closed}/"))]);
    assert_eq!(
        get_path(&router, "/api/external").await.0,
        StatusCode::BAD_GATEWAY
    );
    Ok(())
}

#[tokio::test]
async fn unknown_routes_and_methods_get_json_errors() {
    let router = router_with(&[]);
    assert_eq!(
        get_path(&router, "/nope").await,
        (
            StatusCode::NOT_FOUND,
            json!({"error": "not_found", "message": "no route for this path"})
        )
    );
    let (status, body) = send(
        &router,
        Request::post("/health").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(body["error"], "method_not_allowed");
}

#[tokio::test]
async fn oversized_bodies_get_413() {
    let router = router_with(&[("MAX_BODY_BYTES", "16")]);
    let request = Request::get("/health")
        .header("content-length", "1000")
        .body(Body::from(vec![b'x'; 1000]))
        .unwrap();
    let (status, body) = send(&router, request).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(body["error"], "payload_too_large");
}

#[tokio::test(start_paused = true)]
async fn slow_handlers_time_out_with_504() {
    let router = router_with(&[("USERS_LATENCY_MS", "60000"), ("REQUEST_TIMEOUT_SECS", "2")]);
    let (status, body) = get_path(&router, "/api/users/1").await;
    assert_eq!(status, StatusCode::GATEWAY_TIMEOUT);
    assert_eq!(
        body,
        json!({"error": "gateway_timeout", "message": "Gateway Timeout"})
    );
}

async fn boom() -> &'static str {
    panic!("secret detail")
}

#[tokio::test]
async fn a_panicking_handler_gets_500_and_the_router_keeps_serving() {
    let config = config(&[]);
    let routes = Router::new()
        .route("/boom", get(boom))
        .route("/fine", get(|| async { "fine" }))
        .fallback(app::not_found);
    let router = app::with_middleware(routes, tracing_off(), limits(&config));
    let (status, body) = get_path(&router, "/boom").await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(
        body,
        json!({"error": "internal_error", "message": "Internal Server Error"})
    );
    let response = router
        .clone()
        .oneshot(Request::get("/fine").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

/// A captured event, through lambda_http's conversion and our stage handling.
#[tokio::test]
async fn the_body_limit_is_the_configured_one_not_axums_default() {
    // axum's extractors stop at 2 MiB unless told otherwise.
    let router = router_with(&[("MAX_BODY_BYTES", "3145728")]);
    let json = Some("application/json");
    let long = format!(r#"{{"name":"{}","email":"a@b.c"}}"#, "x".repeat(2_500_000));
    let (status, answer) = send(&router, put_user("7", json, &long)).await;
    // Read whole, then refused for what it says: a name that long is invalid.
    assert_eq!(
        (status, answer["error"].as_str()),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("unprocessable_entity")
        )
    );
    let longer = format!(r#"{{"name":"{}","email":"a@b.c"}}"#, "x".repeat(3_200_000));
    let (status, answer) = send(&router, put_user("7", json, &longer)).await;
    assert_eq!(
        (status, answer["error"].as_str()),
        (StatusCode::PAYLOAD_TOO_LARGE, Some("payload_too_large"))
    );
}

async fn boom_later() -> &'static str {
    tokio::task::yield_now().await;
    panic!("secret detail")
}

async fn wait_ms(ms: u64) -> axum::Json<Value> {
    tokio::time::sleep(Duration::from_millis(ms)).await;
    axum::Json(json!({ "waited_ms": ms }))
}

#[tokio::test(start_paused = true)]
async fn the_guard_catches_later_panics_and_times_out_only_what_is_late() {
    let config = config(&[("REQUEST_TIMEOUT_SECS", "2")]);
    let routes = Router::new()
        .route("/boom-later", get(boom_later))
        .route("/in-time", get(|| wait_ms(1_900)))
        .route("/late", get(|| wait_ms(2_100)))
        .fallback(app::not_found);
    let router = app::with_middleware(routes, tracing_off(), limits(&config));
    // A panic after the handler first waited, not only on its first poll.
    let (status, body) = get_path(&router, "/boom-later").await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(body["error"], "internal_error");
    // Waiting is fine up to the deadline, and only up to it.
    let (status, body) = get_path(&router, "/in-time").await;
    assert_eq!(
        (status, body),
        (StatusCode::OK, json!({ "waited_ms": 1_900 }))
    );
    let (status, body) = get_path(&router, "/late").await;
    assert_eq!(status, StatusCode::GATEWAY_TIMEOUT);
    assert_eq!(body["error"], "gateway_timeout");
}

async fn lambda_event(router: &Router, file: &str) -> (StatusCode, Value) {
    lambda_payload(router, &support::lambda_api::event(file)).await
}

async fn lambda_payload(router: &Router, event: &str) -> (StatusCode, Value) {
    let request = lambda_http::request::from_str(event).expect("valid event");
    let request = prepare(request, true);
    let (parts, body) = request.into_parts();
    let request = Request::from_parts(parts, Body::from(body.to_vec()));
    send(router, request).await
}

#[tokio::test]
async fn captured_lambda_events_reach_the_right_route() {
    let router = router_with(&[]);
    let (status, body) = lambda_event(&router, "alb.json").await;
    assert_eq!((status, body["id"].clone()), (StatusCode::OK, json!(42)));
    let (status, body) = lambda_event(&router, "function-url.json").await;
    assert_eq!((status, body["id"].clone()), (StatusCode::OK, json!(7)));
    let (status, body) = lambda_event(&router, "apigw-rest.json").await;
    assert_eq!(
        (status, body["id"].clone()),
        (StatusCode::OK, json!(5)),
        "REST stage must not reach the router"
    );
    let (status, body) = lambda_event(&router, "apigw-http.json").await;
    assert_eq!(
        (status, body["query"].clone()),
        (
            StatusCode::OK,
            json!("SELECT id, name FROM users ORDER BY id LIMIT $1")
        ),
        "HTTP API stage must not reach the router"
    );
    let (status, body) = lambda_event(&router, "health.json").await;
    assert_eq!((status, body), (StatusCode::OK, json!({"status": "ok"})));
}

#[tokio::test]
async fn a_custom_domain_keeps_a_path_that_starts_like_the_stage() {
    // Behind a custom domain the mapping removes the stage, so a path whose
    // first segment equals the stage name is the route itself.
    let mut event: Value =
        serde_json::from_str(&support::lambda_api::event("apigw-http.json")).expect("json");
    event["rawPath"] = json!("/api/users/3");
    event["requestContext"]["stage"] = json!("api");
    event["requestContext"]["domainName"] = json!("service.example.com");
    event["requestContext"]["http"]["path"] = json!("/api/users/3");
    let (status, body) = lambda_payload(&router_with(&[]), &event.to_string()).await;
    assert_eq!((status, body["id"].clone()), (StatusCode::OK, json!(3)));
}

#[test]
fn timeouts_are_configurable() {
    assert_eq!(
        config(&[("REQUEST_TIMEOUT_SECS", "3")])
            .server
            .request_timeout,
        Duration::from_secs(3)
    );
}

fn put_user(id: &str, content_type: Option<&str>, body: &str) -> Request<Body> {
    let mut request = Request::put(format!("/api/users/{id}"));
    if let Some(content_type) = content_type {
        request = request.header("content-type", content_type);
    }
    request.body(Body::from(body.to_owned())).unwrap()
}

#[tokio::test]
async fn users_are_created_once_then_found() {
    let router = router_with(&[]);
    let json = Some("application/json");
    let ada = r#"{"name":"Ada","email":"ada@example.com"}"#;
    let (status, body) = send(&router, put_user("500", json, ada)).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(
        body,
        json!({"id": 500, "name": "Ada", "email": "ada@example.com"})
    );
    assert_eq!(
        get_path(&router, "/api/users/500").await,
        (StatusCode::OK, body)
    );
    let (status, body) = send(&router, put_user("500", json, ada)).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(
        body,
        json!({"error": "conflict", "message": "user 500 already exists"})
    );
    // The seeded users exist already; unseeded ids are absent until created.
    let (status, _) = send(&router, put_user("42", json, ada)).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(
        get_path(&router, "/api/users/501").await.0,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn bad_user_bodies_get_4xx_in_our_shape() {
    let router = router_with(&[("MAX_BODY_BYTES", "256")]);
    let json = Some("application/json");
    let cases = [
        ("7", json, "{", StatusCode::BAD_REQUEST, "bad_request"),
        (
            "7",
            json,
            r#"{"name":"Ada"}"#,
            StatusCode::UNPROCESSABLE_ENTITY,
            "unprocessable_entity",
        ),
        (
            "7",
            json,
            r#"{"name":1,"email":"a@b.c"}"#,
            StatusCode::UNPROCESSABLE_ENTITY,
            "unprocessable_entity",
        ),
        (
            "7",
            json,
            r#"{"name":"Ada","email":"a@b.c","admin":true}"#,
            StatusCode::UNPROCESSABLE_ENTITY,
            "unprocessable_entity",
        ),
        (
            "7",
            json,
            r#"{"name":"","email":"a@b.c"}"#,
            StatusCode::UNPROCESSABLE_ENTITY,
            "unprocessable_entity",
        ),
        (
            "7",
            json,
            r#"{"name":"Ada","email":"nope"}"#,
            StatusCode::UNPROCESSABLE_ENTITY,
            "unprocessable_entity",
        ),
        (
            "7",
            None,
            r#"{"name":"Ada","email":"a@b.c"}"#,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        ),
        (
            "0",
            json,
            r#"{"name":"Ada","email":"a@b.c"}"#,
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            "1001",
            json,
            r#"{"name":"Ada","email":"a@b.c"}"#,
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
    ];
    for (id, content_type, body, want, code) in cases {
        let (status, answer) = send(&router, put_user(id, content_type, body)).await;
        assert_eq!(
            (status, answer["error"].as_str()),
            (want, Some(code)),
            "{id} {body}"
        );
        assert!(answer["message"].is_string());
    }
    let big = format!(r#"{{"name":"{}","email":"a@b.c"}}"#, "x".repeat(300));
    let (status, answer) = send(&router, put_user("7", json, &big)).await;
    assert_eq!(
        (status, answer["error"].as_str()),
        (StatusCode::PAYLOAD_TOO_LARGE, Some("payload_too_large"))
    );
}
