use axum::{
    Json,
    extract::{Path, State, rejection::PathRejection},
};
use serde::Serialize;
use tracing::Instrument;

use crate::{
    app::{AppError, AppState},
    telemetry::db,
};

const MAX_USER_ID: u64 = 1000;

#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct User {
    pub id: u64,
    pub name: String,
    pub email: String,
}

pub async fn get(
    State(state): State<AppState>,
    id: Result<Path<String>, PathRejection>,
) -> Result<Json<User>, AppError> {
    let id = parse_id(id.ok().as_ref().map(|Path(raw)| raw.as_str()))?;
    let span = db::query_span(
        "SELECT users",
        "SELECT",
        "SELECT id, name, email FROM users WHERE id = $1",
    );
    async {
        super::simulate_latency(state.users_latency).await;
        tracing::debug!(user_id = id, "user found");
    }
    .instrument(span)
    .await;
    Ok(Json(User {
        id,
        name: format!("User {id}"),
        email: format!("user{id}@example.com"),
    }))
}

/// `None` means the path segment could not be decoded at all.
fn parse_id(raw: Option<&str>) -> Result<u64, AppError> {
    let bad = || AppError::BadRequest("user id must be an integer >= 1".to_owned());
    let raw = raw.ok_or_else(bad)?;
    if raw.is_empty() || !raw.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    match raw.parse::<u64>() {
        Ok(0) => Err(bad()),
        Ok(id) if id <= MAX_USER_ID => Ok(id),
        // Too large to parse is still a well-formed id that does not exist.
        _ => Err(AppError::NotFound(format!("user {raw} not found"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_positive_integers_up_to_1000() {
        assert_eq!(parse_id(Some("1")).unwrap(), 1);
        assert_eq!(parse_id(Some("1000")).unwrap(), 1000);
        for bad in ["0", "-1", "abc", "1.5", "", " 1", "+1", "1\0"] {
            assert!(
                matches!(parse_id(Some(bad)), Err(AppError::BadRequest(_))),
                "{bad:?}"
            );
        }
        assert!(matches!(parse_id(Some("1001")), Err(AppError::NotFound(_))));
        assert!(matches!(
            parse_id(Some("99999999999999999999")),
            Err(AppError::NotFound(_))
        ));
        assert!(matches!(parse_id(None), Err(AppError::BadRequest(_))));
    }
}
