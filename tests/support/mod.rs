//! Test doubles and helpers shared by the integration tests.
#![allow(dead_code, unreachable_pub)]

pub mod aws_proxy;
pub mod dynamodb;
pub mod ecs_credentials;
pub mod emf;
pub mod lambda_api;
pub mod load;
pub mod moto;
pub mod otlp;
pub mod postgres;
pub mod process;
pub mod upstream;
pub mod xray;
pub mod xray_otlp;
pub mod xray_sampling;
pub mod xray_udp;

use std::time::Duration;

/// The deadline for anything a test waits on; never a synchronisation sleep.
pub const DEADLINE: Duration = Duration::from_secs(20);

pub type TestResult<T = ()> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// An HTTP client for tests (reqwest is built without a default crypto provider).
pub fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .timeout(DEADLINE)
        .build()
        .expect("test client")
}

pub const XRAY_ROOT: &str = "1-5759e988-bd862e3fe1be46a994272793";
pub const XRAY_TRACE_HEX: &str = "5759e988bd862e3fe1be46a994272793";
pub const XRAY_PARENT: &str = "53995c3f42cd8ad8";
