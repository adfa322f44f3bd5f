//! `GET /api/users/{id}` and `PUT /api/users/{id}`, on whichever store the
//! state holds (in process or DynamoDB); the handlers don't know which.

use axum::{
    Json,
    extract::{Path, State, rejection::PathRejection},
    http::StatusCode,
};
use serde::Deserialize;

use crate::{
    app::{AppError, AppState, error::AppJson},
    users::{Created, MAX_USER_ID, User},
};

/// Longer names or emails are refused (422).
const MAX_FIELD_CHARS: usize = 254;

pub async fn get(
    State(state): State<AppState>,
    id: Result<Path<String>, PathRejection>,
) -> Result<Json<User>, AppError> {
    let id = parse_id(id.ok().as_ref().map(|Path(raw)| raw.as_str()))?;
    match state.users.get(id).await? {
        Some(user) => Ok(Json(user)),
        None => Err(AppError::NotFound(format!("user {id} not found"))),
    }
}

/// The body of `PUT /api/users/{id}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    name: String,
    email: String,
}

/// Creates the user: 201 with it, 409 if the id is taken.
pub async fn put(
    State(state): State<AppState>,
    id: Result<Path<String>, PathRejection>,
    AppJson(body): AppJson<NewUser>,
) -> Result<(StatusCode, Json<User>), AppError> {
    let id = match parse_id(id.ok().as_ref().map(|Path(raw)| raw.as_str())) {
        Err(AppError::NotFound(_)) => Err(AppError::BadRequest(format!(
            "user id must be an integer from 1 to {MAX_USER_ID}"
        ))),
        other => other,
    }?;
    let user = validate(id, body)?;
    match state.users.create(user.clone()).await? {
        Created::Yes => Ok((StatusCode::CREATED, Json(user))),
        Created::AlreadyExists => Err(AppError::Conflict(format!("user {id} already exists"))),
    }
}

fn validate(id: u64, body: NewUser) -> Result<User, AppError> {
    let name = body.name.trim();
    let email = body.email.trim();
    let invalid = |m: &str| Err(AppError::Unprocessable(m.to_owned()));
    if name.is_empty() || name.chars().count() > MAX_FIELD_CHARS {
        return invalid("name must be 1 to 254 characters");
    }
    if name.chars().any(char::is_control) {
        return invalid("name must not contain control characters");
    }
    let looks_like_email = email.split_once('@').is_some_and(|(local, domain)| {
        !local.is_empty()
            && domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
    });
    if email.len() > MAX_FIELD_CHARS
        || !looks_like_email
        || email.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return invalid("email must look like name@example.com (at most 254 characters)");
    }
    Ok(User {
        id,
        name: name.to_owned(),
        email: email.to_owned(),
    })
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

    #[test]
    fn new_users_need_a_name_and_a_plausible_email() {
        let body = |name: &str, email: &str| NewUser {
            name: name.into(),
            email: email.into(),
        };
        let user = validate(5, body(" Ada ", "ada@example.com")).unwrap();
        assert_eq!(
            (user.name.as_str(), user.email.as_str()),
            ("Ada", "ada@example.com")
        );
        for (name, email) in [
            ("", "a@b.c"),
            ("Ada", "ada"),
            ("Ada", "@example.com"),
            ("Ada", "ada@example"),
            ("Ada", "a da@example.com"),
            ("A\nda", "ada@example.com"),
            (&"x".repeat(255), "ada@example.com"),
        ] {
            assert!(
                matches!(
                    validate(5, body(name, email)),
                    Err(AppError::Unprocessable(_))
                ),
                "{name:?} {email:?}"
            );
        }
    }
}
