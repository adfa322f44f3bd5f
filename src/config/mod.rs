//! Reads the environment once into a typed [`Config`].
//!
//! Nothing else in the crate calls `std::env::var`. [`Config::from_lookup`]
//! takes a lookup function so tests feed a map instead of mutating the
//! process environment. Every bad value is reported at once, each naming its
//! variable and the values it accepts. Each concern reads its own part:
//! [`server`], [`routes`], [`database`], [`telemetry`] (with [`traces`] and [`metrics`]) and
//! [`aws`]. Variables the SDKs read themselves are validated here too, so a
//! bad one stops start-up instead of being ignored, but their values stay the
//! SDK's to use.

pub mod aws;
pub mod database;
pub mod metrics;
mod otlp;
mod reader;
pub mod routes;
pub mod sampler;
pub mod server;
pub mod telemetry;
pub mod traces;
pub mod vars;

#[cfg(test)]
mod doc;

use std::fmt;

pub use aws::{Aws, LambdaEnv};
pub use database::Database;
pub use metrics::{Metrics, MetricsExporter};
pub use otlp::OtlpProtocol;
pub use routes::Routes;
pub use server::Server;
pub use telemetry::{LogFormat, Propagator, Telemetry};
pub use traces::{
    OtlpTraces, SamplerConfig, SpanBatch, Traces, TracesAuth, TracesExporter, XraySampling,
    xray_endpoint_region,
};

use reader::Reader;

/// Where the Router is served. The only decision `serve` branches on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    Http,
    Lambda,
}

impl Target {
    pub fn as_str(self) -> &'static str {
        match self {
            Target::Http => "http",
            Target::Lambda => "lambda",
        }
    }
}

#[derive(Clone, Debug)]
pub struct Config {
    pub target: Target,
    pub server: Server,
    pub routes: Routes,
    pub database: Database,
    pub telemetry: Telemetry,
    pub aws: Aws,
}

/// One bad setting: the variable, what was wrong, and what is accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidVar {
    pub var: &'static str,
    pub problem: String,
}

/// Every bad setting found, so one start-up attempt reports them all.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub struct ConfigError(pub Vec<InvalidVar>);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("invalid configuration: ")?;
        for (i, e) in self.0.iter().enumerate() {
            let separator = if i == 0 { "" } else { "; " };
            write!(f, "{separator}{}: ", e.var)?;
            // One line whatever the values held: control characters are escaped.
            for c in e.problem.chars() {
                if c.is_control() {
                    write!(f, "{}", c.escape_default())?;
                } else {
                    write!(f, "{c}")?;
                }
            }
        }
        Ok(())
    }
}

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|key| std::env::var(key).ok())
    }

    /// The Runtime API to report a bad configuration to, when the process
    /// is a Lambda function (`AWS_LAMBDA_RUNTIME_API` set, `APP_TARGET` not
    /// `http`); read on its own since the rest of the settings failed.
    pub fn lambda_runtime_api(lookup: impl Fn(&str) -> Option<String>) -> Option<String> {
        let api = lookup(vars::AWS_LAMBDA_RUNTIME_API).filter(|v| !v.is_empty())?;
        (lookup(vars::APP_TARGET).as_deref() != Some("http")).then_some(api)
    }

    /// [`Config::lambda_runtime_api`] from the process environment.
    pub fn lambda_runtime_api_from_env() -> Option<String> {
        Self::lambda_runtime_api(|key| std::env::var(key).ok())
    }

    /// Reads settings through `lookup`, validating every value.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let mut r = Reader::new(&lookup);
        let target = read_target(&mut r);
        let config = Config {
            target,
            server: Server::read(&mut r),
            routes: Routes::read(&mut r),
            database: Database::read(&mut r),
            telemetry: Telemetry::read(&mut r, target),
            aws: Aws::read(&mut r, target),
        };
        match r.errors.is_empty() {
            true => Ok(config),
            false => Err(ConfigError(r.errors)),
        }
    }
}

/// `APP_TARGET`, defaulting to Lambda inside a Lambda sandbox.
fn read_target(r: &mut Reader<'_>) -> Target {
    let default = match r.get(vars::AWS_LAMBDA_RUNTIME_API) {
        Some(_) => Target::Lambda,
        None => Target::Http,
    };
    r.choice(
        vars::APP_TARGET,
        default,
        &[("http", Target::Http), ("lambda", Target::Lambda)],
    )
}

/// What each part's tests parse settings with.
#[cfg(test)]
pub(crate) fn parse(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
    let map: std::collections::HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    Config::from_lookup(|k| map.get(k).cloned())
}

/// The variables a Lambda sandbox always sets.
#[cfg(test)]
pub(crate) const LAMBDA: [(&str, &str); 4] = [
    ("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9001"),
    ("AWS_LAMBDA_FUNCTION_NAME", "f"),
    ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
    ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runtime_api_selects_lambda_unless_app_target_says_otherwise() {
        assert_eq!(parse(&[]).unwrap().target, Target::Http);
        assert_eq!(parse(&LAMBDA).unwrap().target, Target::Lambda);
        let mut forced = LAMBDA.to_vec();
        forced.push(("APP_TARGET", "http"));
        assert_eq!(parse(&forced).unwrap().target, Target::Http);
    }

    #[test]
    fn every_bad_value_is_reported_with_its_variable_and_valid_values() {
        let err = parse(&[
            ("APP_TARGET", "fargate"),
            ("PORT", "eighty"),
            ("OTEL_TRACES_EXPORTER", "jaeger"),
            ("LOG_FORMAT", "xml"),
            ("OTEL_PROPAGATORS", "xray,b3"),
            ("EXTERNAL_URL", "ftp://example.com"),
        ])
        .unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("APP_TARGET: 'fargate' is not one of http, lambda"),
            "{text}"
        );
        assert!(
            text.contains("PORT: 'eighty' is not an integer from 0 to 65535"),
            "{text}"
        );
        assert!(text.contains(
            "OTEL_TRACES_EXPORTER: 'jaeger' is not one of otlp, xray-udp, console, none"
        ));
        assert!(text.contains("LOG_FORMAT: 'xml' is not one of json, pretty"));
        assert!(text.contains("OTEL_PROPAGATORS: 'b3'"));
        assert!(text.contains("EXTERNAL_URL: 'ftp://example.com'"));
        assert_eq!(err.0.len(), 6);
        assert!(!text.contains('\n'));
    }

    #[test]
    fn a_bad_configuration_is_reported_to_the_runtime_api_only_on_lambda() {
        let api = |pairs: &[(&str, &str)]| {
            let map: std::collections::HashMap<&str, &str> = pairs.iter().copied().collect();
            Config::lambda_runtime_api(|k| map.get(k).map(|v| (*v).to_owned()))
        };
        assert_eq!(
            api(&[("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9001")]).as_deref(),
            Some("127.0.0.1:9001")
        );
        assert_eq!(
            api(&[
                ("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9001"),
                ("APP_TARGET", "http")
            ]),
            None
        );
        assert_eq!(api(&[("AWS_LAMBDA_RUNTIME_API", "")]), None);
        assert_eq!(api(&[]), None);
    }

    #[test]
    fn a_value_with_a_newline_still_gives_one_line() {
        let text = parse(&[("PORT", "80\n80")]).unwrap_err().to_string();
        assert_eq!(
            text,
            "invalid configuration: PORT: '80\\n80' is not an integer from 0 to 65535"
        );
    }
}
