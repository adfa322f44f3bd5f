//! One query's CLIENT span and duration measurement.
//!
//! The span carries the stable semconv keys and the legacy ones the
//! collector's `awsxray` translator reads for X-Ray's `sql` block
//! (`db.system`, `db.statement`, `db.name`, `db.user`,
//! `db.connection_string`; see `telemetry::db`). The text is the statement
//! with placeholders, never a bound value.

use std::{future::Future, time::Instant};

use opentelemetry::{
    KeyValue,
    context::FutureExt as _,
    trace::{Status, TraceContextExt as _},
};
use opentelemetry_semantic_conventions::attribute as semconv;

use super::{Db, DbError, statement::Statement};
use crate::telemetry::db::{
    LEGACY_CONNECTION_STRING, LEGACY_NAME, LEGACY_STATEMENT, LEGACY_SYSTEM, LEGACY_USER,
    start_client_span,
};

/// Runs `query` (migrations first if they have not run) within the
/// timeout, inside its span, and measures it.
pub(super) async fn traced<T>(
    db: &Db,
    sql: &'static str,
    query: impl Future<Output = Result<T, sqlx::Error>>,
) -> Result<T, DbError> {
    let statement = Statement::parse(sql);
    let server = db.server();
    let mut metric = vec![
        KeyValue::new(semconv::DB_SYSTEM_NAME, server.system),
        KeyValue::new(semconv::DB_NAMESPACE, server.namespace.clone()),
        KeyValue::new(semconv::DB_OPERATION_NAME, statement.operation.clone()),
    ];
    if let Some(collection) = &statement.collection {
        metric.push(KeyValue::new(
            semconv::DB_COLLECTION_NAME,
            collection.clone(),
        ));
    }
    let cx = start_client_span(
        statement.span_name(),
        span_attributes(db, &statement, &metric),
    );
    let started = Instant::now();
    let bounded = async {
        tokio::time::timeout(db.0.timeout, async {
            db.ensure_migrated().await.map_err(classify)?;
            query.await.map_err(classify)
        })
        .await
        .unwrap_or_else(|_| Err(Failure::timeout(db)))
    };
    let outcome = match &cx {
        Some(cx) => bounded.with_context(cx.clone()).await,
        None => bounded.await,
    };
    let error_type = outcome.as_ref().err().map(|f| f.error_type.as_str());
    db.0.metrics
        .record_db(&metric, error_type, started.elapsed());
    if let Some(cx) = cx {
        let span = cx.span();
        if let Err(failure) = &outcome {
            span.set_attribute(KeyValue::new(
                semconv::ERROR_TYPE,
                failure.error_type.clone(),
            ));
            if let Some(code) = &failure.status_code {
                span.set_attribute(KeyValue::new(
                    semconv::DB_RESPONSE_STATUS_CODE,
                    code.clone(),
                ));
            }
            span.set_status(Status::error(failure.error.to_string()));
        }
        span.end();
    }
    outcome.map_err(|f| f.error)
}

fn span_attributes(db: &Db, statement: &Statement, metric: &[KeyValue]) -> Vec<KeyValue> {
    let server = db.server();
    let mut attributes = metric.to_vec();
    attributes.extend([
        KeyValue::new(semconv::DB_QUERY_TEXT, statement.text.clone()),
        KeyValue::new(LEGACY_SYSTEM, server.system),
        KeyValue::new(LEGACY_STATEMENT, statement.text.clone()),
        KeyValue::new(LEGACY_NAME, server.namespace.clone()),
    ]);
    if let Some(address) = &server.address {
        attributes.push(KeyValue::new(semconv::SERVER_ADDRESS, address.clone()));
    }
    if let Some(port) = server.port {
        attributes.push(KeyValue::new(semconv::SERVER_PORT, port));
    }
    if let Some(user) = &server.user {
        attributes.push(KeyValue::new(LEGACY_USER, user.clone()));
    }
    if let Some(connection) = &server.connection_string {
        attributes.push(KeyValue::new(LEGACY_CONNECTION_STRING, connection.clone()));
    }
    attributes
}

/// A failed query: what the handler gets, and how spans and metrics name it.
pub(super) struct Failure {
    pub(super) error: DbError,
    error_type: String,
    /// The SQLSTATE (PostgreSQL) or result code (SQLite) of a refused query.
    status_code: Option<String>,
}

impl Failure {
    fn timeout(db: &Db) -> Self {
        Failure {
            error: DbError::Unavailable(format!(
                "no answer within {} ms",
                db.0.timeout.as_millis()
            )),
            error_type: "timeout".to_owned(),
            status_code: None,
        }
    }
}

/// How a sqlx error reaches the handler (503 or 500) and the telemetry.
pub(super) fn classify(e: sqlx::Error) -> Failure {
    use sqlx::Error as E;
    let (unavailable, error_type) = match &e {
        // No connection within DATABASE_TIMEOUT_MS: the same bound as ours.
        E::PoolTimedOut => (true, "timeout"),
        E::Migrate(_) => (true, "migration"),
        E::PoolClosed | E::WorkerCrashed => (true, "pool_closed"),
        E::Io(_) => (true, "io"),
        E::Tls(_) => (true, "tls"),
        E::Protocol(_) => (true, "protocol"),
        E::Database(_) => (false, "database"),
        E::RowNotFound => (false, "row_not_found"),
        E::ColumnDecode { .. } | E::Decode(_) | E::ColumnNotFound(_) => (false, "decode"),
        _ => (false, "other"),
    };
    let status_code = e
        .as_database_error()
        .and_then(|d| d.code())
        .map(|c| c.into_owned());
    let error_type = status_code.clone().unwrap_or_else(|| error_type.to_owned());
    let detail = e.to_string();
    Failure {
        error: if unavailable {
            DbError::Unavailable(detail)
        } else {
            DbError::Query(detail)
        },
        error_type,
        status_code,
    }
}
