//! The SQL database behind `/api/database`: where it is, how long a query
//! may take and how many connections the pool keeps.

use std::{fmt, time::Duration};

use super::{reader::Reader, vars::*};

/// The process's own SQLite database, in memory: `cargo run` and a Lambda
/// function answer with no set-up (one database per process, gone at exit).
pub const EMBEDDED_DATABASE_URL: &str = "sqlite:file:axum-xray-otel?mode=memory&cache=shared";

#[derive(Clone, Debug)]
pub struct Database {
    /// `DATABASE_URL`, else the embedded database; replaced at start-up by
    /// the secret's value when `url_secret_arn` is set.
    pub url: DatabaseUrl,
    /// `DATABASE_URL_SECRET_ARN`: a Secrets Manager secret holding the URL.
    pub url_secret_arn: Option<String>,
    /// Bound on one query, the wait for a connection included (503 after).
    pub timeout: Duration,
    pub max_connections: u32,
}

/// Which engine a URL names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
    Sqlite,
    Postgres,
}

/// A database URL, printed without its password.
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseUrl {
    url: String,
    pub engine: Engine,
}

impl DatabaseUrl {
    /// The URL with its password, for the driver only.
    pub fn expose(&self) -> &str {
        &self.url
    }

    /// A `sqlite:` or `postgres://` URL; the problem otherwise, without the value.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let engine = match raw.split_once(':').map(|(scheme, _)| scheme) {
            Some("sqlite") => Engine::Sqlite,
            Some("postgres" | "postgresql") => Engine::Postgres,
            _ => return Err("is not a sqlite: or postgres:// URL".to_owned()),
        };
        if engine == Engine::Postgres {
            let url = reqwest::Url::parse(raw).map_err(|_| "is not a valid URL".to_owned())?;
            if url.host_str().is_none_or(str::is_empty) {
                return Err("has no host".to_owned());
            }
        }
        Ok(Self {
            url: raw.to_owned(),
            engine,
        })
    }

    /// The URL as logs and spans may show it: no password, no query.
    pub fn redacted(&self) -> String {
        match reqwest::Url::parse(&self.url) {
            Ok(mut url) if self.engine == Engine::Postgres => {
                let _ = url.set_password(None);
                url.set_query(None);
                url.to_string()
            }
            _ => self.url.split('?').next().unwrap_or_default().to_owned(),
        }
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl Database {
    pub(super) fn read(r: &mut Reader<'_>) -> Self {
        let raw = r
            .get(DATABASE_URL)
            .unwrap_or_else(|| EMBEDDED_DATABASE_URL.to_owned());
        let url = DatabaseUrl::parse(&raw).unwrap_or_else(|problem| {
            // The value may hold a password: only its scheme is repeated.
            let scheme = raw.split(':').next().unwrap_or_default();
            r.fail(DATABASE_URL, format!("'{scheme}:…' {problem}"));
            DatabaseUrl::parse(EMBEDDED_DATABASE_URL).expect("the embedded URL parses")
        });
        let url_secret_arn = r.get(DATABASE_URL_SECRET_ARN);
        if let Some(arn) = &url_secret_arn {
            if !arn.starts_with("arn:") || !arn.contains(":secretsmanager:") {
                r.fail(
                    DATABASE_URL_SECRET_ARN,
                    format!("'{arn}' is not a Secrets Manager secret ARN"),
                );
            }
            if r.get(DATABASE_URL).is_some() {
                r.fail(
                    DATABASE_URL_SECRET_ARN,
                    "set DATABASE_URL or DATABASE_URL_SECRET_ARN, not both",
                );
            }
            if r.get(AWS_REGION).is_none() {
                r.fail(AWS_REGION, "must be set with DATABASE_URL_SECRET_ARN");
            }
        }
        Database {
            url,
            url_secret_arn,
            timeout: r.nonzero_millis(DATABASE_TIMEOUT_MS, 2000, 60_000),
            max_connections: r.number(DATABASE_MAX_CONNECTIONS, 5, 1, 1000),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::parse;
    use super::*;

    #[test]
    fn defaults_to_the_embedded_sqlite_database() {
        let c = parse(&[]).unwrap().database;
        assert_eq!(c.url.engine, Engine::Sqlite);
        assert_eq!(c.url.expose(), EMBEDDED_DATABASE_URL);
        assert_eq!(c.timeout, Duration::from_millis(2000));
        assert_eq!(c.max_connections, 5);
    }

    #[test]
    fn a_postgres_url_is_printed_without_its_password() {
        let url = "postgres://app:s3cret@db.internal:5432/app?sslmode=require";
        let c = parse(&[("DATABASE_URL", url)]).unwrap().database;
        assert_eq!(c.url.engine, Engine::Postgres);
        assert_eq!(c.url.expose(), url);
        let shown = format!("{c:?}");
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(
            shown.contains("postgres://app@db.internal:5432/app"),
            "{shown}"
        );
    }

    #[test]
    fn bad_values_are_refused_without_echoing_the_url() {
        let e = parse(&[
            ("DATABASE_URL", "mysql://root:pw@h/db"),
            ("DATABASE_TIMEOUT_MS", "0"),
            ("DATABASE_MAX_CONNECTIONS", "0"),
        ])
        .unwrap_err()
        .to_string();
        assert!(e.contains("DATABASE_URL: 'mysql:…'"), "{e}");
        assert!(!e.contains("pw"), "{e}");
        assert!(e.contains("DATABASE_TIMEOUT_MS") && e.contains("DATABASE_MAX_CONNECTIONS"));
        assert!(parse(&[("DATABASE_URL", "postgres:///db")]).is_err());
    }

    #[test]
    fn a_secret_arn_needs_a_region_and_no_url_beside_it() {
        let arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:db-AbCdEf";
        let c = parse(&[
            ("DATABASE_URL_SECRET_ARN", arn),
            ("AWS_REGION", "eu-west-1"),
        ])
        .unwrap();
        assert_eq!(c.database.url_secret_arn.as_deref(), Some(arn));
        let e = parse(&[
            ("DATABASE_URL_SECRET_ARN", arn),
            ("DATABASE_URL", "postgres://h/db"),
        ])
        .unwrap_err()
        .to_string();
        assert!(e.contains("not both") && e.contains("AWS_REGION"), "{e}");
        assert!(
            parse(&[
                ("DATABASE_URL_SECRET_ARN", "db"),
                ("AWS_REGION", "eu-west-1")
            ])
            .is_err()
        );
    }
}
