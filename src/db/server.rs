//! What spans say about the database a URL names: the semconv system, the
//! namespace, the server and, for X-Ray's `sql` block, the user and a
//! connection string without the password.

use crate::config::database::{DatabaseUrl, Engine};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Server {
    /// `db.system.name`: `sqlite` or `postgresql`.
    pub system: &'static str,
    /// `db.namespace`: the PostgreSQL database, or the SQLite file.
    pub namespace: String,
    pub address: Option<String>,
    pub port: Option<i64>,
    pub user: Option<String>,
    /// `scheme://host:port`; X-Ray appends `/` and the namespace.
    pub connection_string: Option<String>,
}

impl Server {
    pub fn from_url(url: &DatabaseUrl) -> Self {
        match url.engine {
            Engine::Sqlite => {
                let rest = url.expose().trim_start_matches("sqlite:");
                let path = rest.split('?').next().unwrap_or_default();
                let path = path.strip_prefix("//").unwrap_or(path);
                Server {
                    system: "sqlite",
                    namespace: path.trim_start_matches("file:").to_owned(),
                    address: None,
                    port: None,
                    user: None,
                    connection_string: None,
                }
            }
            Engine::Postgres => {
                let parsed = reqwest::Url::parse(url.expose()).ok();
                let address = parsed
                    .as_ref()
                    .and_then(|u| u.host_str())
                    .map(str::to_owned);
                let port = i64::from(parsed.as_ref().and_then(|u| u.port()).unwrap_or(5432));
                let user = parsed
                    .as_ref()
                    .map(|u| u.username().to_owned())
                    .filter(|u| !u.is_empty());
                // libpq's default database is the user's name.
                let namespace = parsed
                    .as_ref()
                    .map(|u| u.path().trim_start_matches('/').to_owned())
                    .filter(|d| !d.is_empty())
                    .or_else(|| user.clone())
                    .unwrap_or_else(|| "postgres".to_owned());
                let connection_string = address
                    .as_ref()
                    .map(|host| format!("postgresql://{host}:{port}"));
                Server {
                    system: "postgresql",
                    namespace,
                    address,
                    port: Some(port),
                    user,
                    connection_string,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse;

    fn server(url: &str) -> Server {
        Server::from_url(&parse(&[("DATABASE_URL", url)]).unwrap().database.url)
    }

    #[test]
    fn postgres_facts_carry_no_password() {
        let s = server("postgres://app:s3cret@db.internal:6543/orders?sslmode=require");
        assert_eq!(s.system, "postgresql");
        assert_eq!(s.namespace, "orders");
        assert_eq!(s.address.as_deref(), Some("db.internal"));
        assert_eq!(s.port, Some(6543));
        assert_eq!(s.user.as_deref(), Some("app"));
        assert_eq!(
            s.connection_string.as_deref(),
            Some("postgresql://db.internal:6543")
        );
        let s = server("postgresql://app@db");
        assert_eq!((s.namespace.as_str(), s.port), ("app", Some(5432)));
    }

    #[test]
    fn sqlite_names_its_file() {
        let s = server("sqlite:///tmp/app.db?mode=rwc");
        assert_eq!((s.system, s.namespace.as_str()), ("sqlite", "/tmp/app.db"));
        let s = server(crate::config::database::EMBEDDED_DATABASE_URL);
        assert_eq!(s.namespace, "axum-xray-otel");
        assert_eq!(s.address, None);
    }
}
