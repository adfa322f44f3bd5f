//! axum-xray-otel: one axum Router served on ECS Fargate (HTTP behind an ALB)
//! or on AWS Lambda (lambda_http), chosen at run time, with OpenTelemetry
//! traces that AWS X-Ray joins correctly on both.
//!
//! - [`config`] reads the environment once into a typed `Config`.
//! - [`app`] is the Router: routes, errors, middleware.
//! - [`telemetry`] owns tracing, logs and propagation.
//! - [`aws`] loads the AWS SDK configuration (region, credentials) once.
//! - [`serve`] runs the Router on the chosen target; nothing else knows which.
//! - [`db`] is the traced SQL pool (SQLite or PostgreSQL) with its migrations.
//! - [`tls`] is the one TLS configuration every HTTP client shares.
//! - [`users`] is where users live (in process or DynamoDB); [`aws`] builds
//!   the AWS SDK clients, traced.

pub mod app;
pub mod aws;
pub mod cli;
pub mod config;
pub mod db;
pub mod events;
pub mod serve;
pub mod telemetry;
pub mod tls;
pub mod users;
