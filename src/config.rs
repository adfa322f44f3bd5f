//! Reads the environment once into a typed [`Config`].
//!
//! Nothing else in the crate calls `std::env::var`. [`Config::from_lookup`]
//! takes a lookup function so tests feed a map instead of mutating the
//! process environment. Every bad value is reported at once, each naming its
//! variable and the values it accepts.

use std::{fmt, time::Duration};

/// Environment variable names, all in one place (the README's table follows this list).
pub mod vars {
    pub const APP_TARGET: &str = "APP_TARGET";
    pub const PORT: &str = "PORT";
    pub const SHUTDOWN_TIMEOUT_SECS: &str = "SHUTDOWN_TIMEOUT_SECS";
    pub const REQUEST_TIMEOUT_SECS: &str = "REQUEST_TIMEOUT_SECS";
    pub const MAX_BODY_BYTES: &str = "MAX_BODY_BYTES";
    pub const HEADER_READ_TIMEOUT_MS: &str = "HEADER_READ_TIMEOUT_MS";
    pub const USERS_LATENCY_MS: &str = "USERS_LATENCY_MS";
    pub const DATABASE_LATENCY_MS: &str = "DATABASE_LATENCY_MS";
    pub const EXTERNAL_URL: &str = "EXTERNAL_URL";
    pub const EXTERNAL_TIMEOUT_MS: &str = "EXTERNAL_TIMEOUT_MS";
    pub const LOG_FORMAT: &str = "LOG_FORMAT";
    pub const RUST_LOG: &str = "RUST_LOG";
    pub const TRACE_HEALTH_CHECKS: &str = "TRACE_HEALTH_CHECKS";
    pub const LAMBDA_FLUSH_TIMEOUT_MS: &str = "LAMBDA_FLUSH_TIMEOUT_MS";
    pub const OTEL_SERVICE_NAME: &str = "OTEL_SERVICE_NAME";
    pub const OTEL_TRACES_EXPORTER: &str = "OTEL_TRACES_EXPORTER";
    pub const OTEL_EXPORTER_OTLP_PROTOCOL: &str = "OTEL_EXPORTER_OTLP_PROTOCOL";
    pub const OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: &str = "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL";
    pub const OTEL_EXPORTER_OTLP_ENDPOINT: &str = "OTEL_EXPORTER_OTLP_ENDPOINT";
    pub const OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: &str = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT";
    pub const OTEL_EXPORTER_OTLP_TIMEOUT: &str = "OTEL_EXPORTER_OTLP_TIMEOUT";
    pub const OTEL_EXPORTER_OTLP_TRACES_TIMEOUT: &str = "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT";
    pub const OTEL_EXPORTER_OTLP_TRACES_AUTH: &str = "OTEL_EXPORTER_OTLP_TRACES_AUTH";
    pub const OTEL_EXPORTER_OTLP_COMPRESSION: &str = "OTEL_EXPORTER_OTLP_COMPRESSION";
    pub const OTEL_EXPORTER_OTLP_TRACES_COMPRESSION: &str = "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION";
    pub const OTEL_EXPORTER_OTLP_HEADERS: &str = "OTEL_EXPORTER_OTLP_HEADERS";
    pub const OTEL_EXPORTER_OTLP_TRACES_HEADERS: &str = "OTEL_EXPORTER_OTLP_TRACES_HEADERS";
    pub const OTEL_METRICS_EXPORTER: &str = "OTEL_METRICS_EXPORTER";
    pub const OTEL_EXPORTER_OTLP_METRICS_PROTOCOL: &str = "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL";
    pub const OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: &str = "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT";
    pub const METRICS_NAMESPACE: &str = "METRICS_NAMESPACE";
    pub const OTEL_TRACES_SAMPLER: &str = "OTEL_TRACES_SAMPLER";
    pub const OTEL_TRACES_SAMPLER_ARG: &str = "OTEL_TRACES_SAMPLER_ARG";
    pub const OTEL_PROPAGATORS: &str = "OTEL_PROPAGATORS";
    pub const OTEL_BSP_MAX_QUEUE_SIZE: &str = "OTEL_BSP_MAX_QUEUE_SIZE";
    pub const OTEL_BSP_MAX_EXPORT_BATCH_SIZE: &str = "OTEL_BSP_MAX_EXPORT_BATCH_SIZE";
    pub const OTEL_BSP_SCHEDULE_DELAY: &str = "OTEL_BSP_SCHEDULE_DELAY";
    pub const OTEL_BSP_EXPORT_TIMEOUT: &str = "OTEL_BSP_EXPORT_TIMEOUT";
    pub const AWS_REGION: &str = "AWS_REGION";
    pub const AWS_LAMBDA_RUNTIME_API: &str = "AWS_LAMBDA_RUNTIME_API";
    pub const AWS_LAMBDA_FUNCTION_NAME: &str = "AWS_LAMBDA_FUNCTION_NAME";
    pub const AWS_LAMBDA_FUNCTION_VERSION: &str = "AWS_LAMBDA_FUNCTION_VERSION";
    pub const AWS_LAMBDA_FUNCTION_MEMORY_SIZE: &str = "AWS_LAMBDA_FUNCTION_MEMORY_SIZE";
    pub const AWS_LAMBDA_LOG_STREAM_NAME: &str = "AWS_LAMBDA_LOG_STREAM_NAME";
    pub const ECS_CONTAINER_METADATA_URI_V4: &str = "ECS_CONTAINER_METADATA_URI_V4";
    pub const USERS_TABLE: &str = "USERS_TABLE";
    pub const DYNAMODB_TIMEOUT_MS: &str = "DYNAMODB_TIMEOUT_MS";
}

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

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Json,
    Pretty,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TracesExporter {
    Otlp,
    Console,
    None,
}

/// Where metrics go: the collector (OTLP), CloudWatch EMF lines on stdout,
/// readable lines on stdout, or nowhere.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MetricsExporter {
    Otlp,
    Emf,
    Console,
    None,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OtlpProtocol {
    HttpProtobuf,
    Grpc,
}

/// How trace export requests are authenticated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TracesAuth {
    None,
    /// Signed with SigV4 for the `xray` service in `region` (the X-Ray OTLP endpoint).
    SigV4 {
        region: String,
    },
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum SamplerConfig {
    AlwaysOn,
    AlwaysOff,
    TraceIdRatio(f64),
    ParentBasedAlwaysOn,
    ParentBasedAlwaysOff,
    ParentBasedTraceIdRatio(f64),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Propagator {
    Xray,
    TraceContext,
    Baggage,
}

/// Facts about the Lambda sandbox, present when the target is Lambda.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LambdaEnv {
    pub runtime_api: String,
    pub function_name: String,
    pub function_version: String,
    pub memory_mb: u32,
    pub log_stream: Option<String>,
}

#[derive(Clone, Debug)]
pub struct Config {
    pub target: Target,
    pub port: u16,
    pub shutdown_timeout: Duration,
    pub request_timeout: Duration,
    pub max_body_bytes: usize,
    pub header_read_timeout: Duration,
    pub users_latency: Duration,
    pub database_latency: Duration,
    pub external_url: String,
    pub external_timeout: Duration,
    pub log_format: LogFormat,
    pub log_filter: String,
    pub trace_health_checks: bool,
    pub lambda_flush_timeout: Duration,
    pub service_name: Option<String>,
    pub traces_exporter: TracesExporter,
    pub otlp_protocol: OtlpProtocol,
    pub otlp_traces_endpoint: String,
    /// Each export attempt's deadline, credentials wait included.
    pub otlp_timeout: Duration,
    pub otlp_traces_auth: TracesAuth,
    /// Gzip every trace export (http/protobuf).
    pub otlp_traces_gzip: bool,
    /// Extra headers on every trace export (http/protobuf), in order.
    pub otlp_traces_headers: Vec<(http::HeaderName, http::HeaderValue)>,
    /// Ended spans waiting for export; more are dropped (and counted).
    pub span_queue_size: usize,
    /// Spans per export request.
    pub span_batch_size: usize,
    /// The longest an ended span waits for its batch to fill.
    pub span_schedule_delay: Duration,
    /// The longest a flush of the span queue waits.
    pub span_flush_timeout: Duration,
    pub metrics_exporter: MetricsExporter,
    pub metrics_otlp_protocol: OtlpProtocol,
    pub otlp_metrics_endpoint: String,
    /// The CloudWatch namespace (`METRICS_NAMESPACE`); `None` means the service name.
    pub metrics_namespace: Option<String>,
    pub sampler: SamplerConfig,
    pub propagators: Vec<Propagator>,
    pub region: Option<String>,
    pub lambda: Option<LambdaEnv>,
    pub ecs_metadata_uri: Option<String>,
    /// Users live in this DynamoDB table when set, else in the process.
    pub users_table: Option<String>,
    /// Bound on one DynamoDB operation, retries included.
    pub dynamodb_timeout: Duration,
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

/// Collects errors while each variable is parsed.
struct Reader<'a> {
    lookup: &'a dyn Fn(&str) -> Option<String>,
    errors: Vec<InvalidVar>,
}

impl Reader<'_> {
    /// The trimmed value, `None` when unset or empty (an empty variable means "default").
    fn get(&self, var: &str) -> Option<String> {
        (self.lookup)(var)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    }

    fn fail(&mut self, var: &'static str, problem: impl Into<String>) {
        self.errors.push(InvalidVar {
            var,
            problem: problem.into(),
        });
    }

    fn choice<T: Copy>(&mut self, var: &'static str, default: T, options: &[(&str, T)]) -> T {
        let Some(raw) = self.get(var) else {
            return default;
        };
        if let Some((_, value)) = options.iter().find(|(name, _)| *name == raw) {
            return *value;
        }
        let valid: Vec<&str> = options.iter().map(|(name, _)| *name).collect();
        self.fail(var, format!("'{raw}' is not one of {}", valid.join(", ")));
        default
    }

    fn number<T>(&mut self, var: &'static str, default: T, min: T, max: T) -> T
    where
        T: std::str::FromStr + PartialOrd + fmt::Display + Copy,
    {
        let Some(raw) = self.get(var) else {
            return default;
        };
        match raw.parse::<T>() {
            Ok(v) if v >= min && v <= max => v,
            _ => {
                self.fail(
                    var,
                    format!("'{raw}' is not an integer from {min} to {max}"),
                );
                default
            }
        }
    }

    /// `key=value` pairs separated by commas, values percent-decoded (the
    /// OTLP exporter specification's format).
    fn headers(&mut self, var: &'static str) -> Vec<(http::HeaderName, http::HeaderValue)> {
        let Some(raw) = self.get(var) else {
            return Vec::new();
        };
        let mut headers = Vec::new();
        for pair in raw.split(',').filter(|p| !p.trim().is_empty()) {
            let parsed = pair.split_once('=').and_then(|(key, value)| {
                let name = http::HeaderName::try_from(key.trim()).ok()?;
                let mut value = http::HeaderValue::try_from(percent_decode(value.trim())?).ok()?;
                // Often a credential: never printed by `Debug`.
                value.set_sensitive(true);
                Some((name, value))
            });
            match parsed {
                Some(header) => headers.push(header),
                None => {
                    let key = pair.split('=').next().unwrap_or("").trim();
                    self.fail(
                        var,
                        format!("'{key}=…' is not a header as key=value (values percent-encoded)"),
                    );
                }
            }
        }
        headers
    }

    fn millis(&mut self, var: &'static str, default: u64, max: u64) -> Duration {
        Duration::from_millis(self.number(var, default, 0, max))
    }

    fn url(&mut self, var: &'static str, default: &str) -> String {
        let value = self.get(var).unwrap_or_else(|| default.to_owned());
        match value.parse::<http::Uri>() {
            // The client and its spans parse it as a WHATWG URL too.
            Ok(uri)
                if matches!(uri.scheme_str(), Some("http" | "https"))
                    && uri.host().is_some()
                    && reqwest::Url::parse(&value).is_ok_and(|u| u.host_str().is_some()) =>
            {
                value
            }
            _ => {
                self.fail(var, format!("'{value}' is not an http:// or https:// URL"));
                default.to_owned()
            }
        }
    }
}

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|key| std::env::var(key).ok())
    }

    /// Reads settings through `lookup`, validating every value.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        use vars::*;
        let mut r = Reader {
            lookup: &lookup,
            errors: Vec::new(),
        };

        let runtime_api = r.get(AWS_LAMBDA_RUNTIME_API);
        let default_target = if runtime_api.is_some() {
            Target::Lambda
        } else {
            Target::Http
        };
        let target = r.choice(
            APP_TARGET,
            default_target,
            &[("http", Target::Http), ("lambda", Target::Lambda)],
        );
        let lambda = (target == Target::Lambda).then(|| read_lambda_env(&mut r, runtime_api));

        let port = r.number(PORT, 8080u16, 0, u16::MAX);
        let shutdown_timeout = Duration::from_secs(r.number(SHUTDOWN_TIMEOUT_SECS, 20u64, 1, 3600));
        let request_timeout = Duration::from_secs(r.number(REQUEST_TIMEOUT_SECS, 15u64, 1, 3600));
        let max_body_bytes = r.number(MAX_BODY_BYTES, 1_048_576usize, 0, 1 << 30);
        let header_read_timeout = r.millis(HEADER_READ_TIMEOUT_MS, 10_000, 600_000);
        if header_read_timeout.is_zero() {
            r.fail(HEADER_READ_TIMEOUT_MS, "must be at least 1");
        }
        let users_latency = r.millis(USERS_LATENCY_MS, 100, 60_000);
        let database_latency = r.millis(DATABASE_LATENCY_MS, 200, 60_000);
        let external_url = r.url(EXTERNAL_URL, "https://httpbin.org/delay/1");
        let external_timeout = r.millis(EXTERNAL_TIMEOUT_MS, 3000, 600_000);
        if external_timeout.is_zero() {
            r.fail(EXTERNAL_TIMEOUT_MS, "must be at least 1");
        }
        let log_format = r.choice(
            LOG_FORMAT,
            LogFormat::Json,
            &[("json", LogFormat::Json), ("pretty", LogFormat::Pretty)],
        );
        let log_filter = r.get(RUST_LOG).unwrap_or_else(|| "info".to_owned());
        if let Err(e) = tracing_subscriber::EnvFilter::try_new(&log_filter) {
            r.fail(
                RUST_LOG,
                format!("'{log_filter}' is not a valid filter ({e})"),
            );
        }
        let trace_health_checks = r.choice(
            TRACE_HEALTH_CHECKS,
            false,
            &[("true", true), ("false", false)],
        );
        let lambda_flush_timeout = r.millis(LAMBDA_FLUSH_TIMEOUT_MS, 300, 60_000);

        let service_name = r.get(OTEL_SERVICE_NAME);
        let traces_exporter = r.choice(
            OTEL_TRACES_EXPORTER,
            TracesExporter::Otlp,
            &[
                ("otlp", TracesExporter::Otlp),
                ("console", TracesExporter::Console),
                ("none", TracesExporter::None),
            ],
        );
        let protocols = [
            ("http/protobuf", OtlpProtocol::HttpProtobuf),
            ("grpc", OtlpProtocol::Grpc),
        ];
        let general_protocol = r.choice(
            OTEL_EXPORTER_OTLP_PROTOCOL,
            OtlpProtocol::HttpProtobuf,
            &protocols,
        );
        let otlp_protocol = r.choice(
            OTEL_EXPORTER_OTLP_TRACES_PROTOCOL,
            general_protocol,
            &protocols,
        );
        let otlp_traces_endpoint = signal_endpoint(
            &mut r,
            otlp_protocol,
            OTEL_EXPORTER_OTLP_TRACES_ENDPOINT,
            "/v1/traces",
        );
        let general_timeout = r.millis(OTEL_EXPORTER_OTLP_TIMEOUT, 10_000, 600_000);
        let otlp_timeout = r.millis(
            OTEL_EXPORTER_OTLP_TRACES_TIMEOUT,
            general_timeout.as_millis() as u64,
            600_000,
        );
        let otlp_traces_auth = traces_auth(&mut r, &otlp_traces_endpoint, otlp_protocol);
        let compressions = [("gzip", true), ("none", false)];
        let general_gzip = r.choice(OTEL_EXPORTER_OTLP_COMPRESSION, false, &compressions);
        let otlp_traces_gzip = r.choice(
            OTEL_EXPORTER_OTLP_TRACES_COMPRESSION,
            general_gzip,
            &compressions,
        );
        let otlp_traces_headers = merged_headers(
            r.headers(OTEL_EXPORTER_OTLP_HEADERS),
            r.headers(OTEL_EXPORTER_OTLP_TRACES_HEADERS),
        );
        let (span_queue_size, span_batch_size) = span_queue(&mut r);
        // Never zero: the span thread would spin, and every flush time out.
        let span_schedule_delay =
            Duration::from_millis(r.number(vars::OTEL_BSP_SCHEDULE_DELAY, 5_000, 1, 600_000));
        let span_flush_timeout =
            Duration::from_millis(r.number(vars::OTEL_BSP_EXPORT_TIMEOUT, 30_000, 1, 600_000));
        let metrics_exporter = r.choice(
            OTEL_METRICS_EXPORTER,
            // EMF wherever no collector is implied: on Lambda, and on ECS when
            // traces go straight to X-Ray (the awslogs driver delivers stdout).
            match (target, &otlp_traces_auth) {
                (Target::Http, TracesAuth::None) => MetricsExporter::Otlp,
                _ => MetricsExporter::Emf,
            },
            &[
                ("otlp", MetricsExporter::Otlp),
                ("emf", MetricsExporter::Emf),
                ("console", MetricsExporter::Console),
                ("none", MetricsExporter::None),
            ],
        );
        let metrics_otlp_protocol = r.choice(
            OTEL_EXPORTER_OTLP_METRICS_PROTOCOL,
            general_protocol,
            &protocols,
        );
        let otlp_metrics_endpoint = signal_endpoint(
            &mut r,
            metrics_otlp_protocol,
            OTEL_EXPORTER_OTLP_METRICS_ENDPOINT,
            "/v1/metrics",
        );
        let metrics_namespace = r.get(METRICS_NAMESPACE);
        if let Some(problem) = metrics_namespace.as_deref().and_then(namespace_problem) {
            r.fail(METRICS_NAMESPACE, problem);
        }
        let sampler = read_sampler(&mut r);
        let propagators = read_propagators(&mut r);
        let region = r.get(AWS_REGION);
        let ecs_metadata_uri = r.get(ECS_CONTAINER_METADATA_URI_V4);
        let users_table = read_users_table(&mut r, region.is_some());
        let dynamodb_timeout = r.millis(DYNAMODB_TIMEOUT_MS, 1000, 60_000);
        if dynamodb_timeout.is_zero() {
            r.fail(DYNAMODB_TIMEOUT_MS, "must be at least 1");
        }

        if !r.errors.is_empty() {
            return Err(ConfigError(r.errors));
        }
        Ok(Config {
            target,
            port,
            shutdown_timeout,
            request_timeout,
            max_body_bytes,
            header_read_timeout,
            users_latency,
            database_latency,
            external_url,
            external_timeout,
            log_format,
            log_filter,
            trace_health_checks,
            lambda_flush_timeout,
            service_name,
            traces_exporter,
            otlp_protocol,
            otlp_traces_endpoint,
            otlp_timeout,
            otlp_traces_auth,
            otlp_traces_gzip,
            otlp_traces_headers,
            span_queue_size,
            span_batch_size,
            span_schedule_delay,
            span_flush_timeout,
            metrics_exporter,
            metrics_otlp_protocol,
            otlp_metrics_endpoint,
            metrics_namespace,
            sampler,
            propagators,
            region,
            lambda,
            ecs_metadata_uri,
            users_table,
            dynamodb_timeout,
        })
    }
}

/// The general headers with the traces-only ones replacing any of the same name.
fn merged_headers(
    general: Vec<(http::HeaderName, http::HeaderValue)>,
    traces: Vec<(http::HeaderName, http::HeaderValue)>,
) -> Vec<(http::HeaderName, http::HeaderValue)> {
    let mut headers: Vec<_> = general
        .into_iter()
        .filter(|(name, _)| !traces.iter().any(|(t, _)| t == name))
        .collect();
    headers.extend(traces);
    headers
}

/// `%XX` escapes decoded; `None` for a broken escape or bytes that are not UTF-8.
fn percent_decode(value: &str) -> Option<String> {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            if !hex.iter().all(u8::is_ascii_hexdigit) {
                return None;
            }
            out.push(u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// The span queue and batch sizes. Batches are smaller than the SDK's 512: a
/// batch of 512 spans and its protobuf copies held ~8 MiB more under load. The
/// queue (every span not yet exported, mostly as a few hundred encoded bytes
/// over OTLP/HTTP) is 30 ms of spans at 140k spans/s, one core's worth of
/// requests: 1024 dropped ~1 % there while the receiver waited for its
/// core (bench/history.md).
fn span_queue(r: &mut Reader<'_>) -> (usize, usize) {
    use vars::{OTEL_BSP_MAX_EXPORT_BATCH_SIZE, OTEL_BSP_MAX_QUEUE_SIZE};
    let queue = r.number(OTEL_BSP_MAX_QUEUE_SIZE, 4096, 1, 1_000_000);
    let batch = r.number(OTEL_BSP_MAX_EXPORT_BATCH_SIZE, 128.min(queue), 1, 1_000_000);
    if batch > queue {
        r.fail(
            OTEL_BSP_MAX_EXPORT_BATCH_SIZE,
            format!("{batch} is more than OTEL_BSP_MAX_QUEUE_SIZE ({queue})"),
        );
    }
    (queue, batch)
}

/// A DynamoDB table name (3 to 255 of `A-Za-z0-9_.-`). The region is then
/// required: guessing it would mean probing instance metadata at start-up.
fn read_users_table(r: &mut Reader<'_>, has_region: bool) -> Option<String> {
    let table = r.get(vars::USERS_TABLE)?;
    let valid_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-');
    if !(3..=255).contains(&table.len()) || !table.chars().all(valid_char) {
        r.fail(
            vars::USERS_TABLE,
            format!("'{table}' is not a DynamoDB table name (3 to 255 of A-Z a-z 0-9 _ . -)"),
        );
    }
    if !has_region {
        r.fail(vars::AWS_REGION, "must be set when USERS_TABLE is set");
    }
    Some(table)
}

/// lambda_runtime panics when these are missing; we report them instead.
fn read_lambda_env(r: &mut Reader<'_>, runtime_api: Option<String>) -> LambdaEnv {
    use vars::*;
    let required = |r: &mut Reader<'_>, var: &'static str| {
        r.get(var).unwrap_or_else(|| {
            r.fail(var, "must be set when APP_TARGET is lambda");
            String::new()
        })
    };
    let runtime_api = runtime_api.unwrap_or_else(|| required(r, AWS_LAMBDA_RUNTIME_API));
    let function_name = required(r, AWS_LAMBDA_FUNCTION_NAME);
    let function_version = required(r, AWS_LAMBDA_FUNCTION_VERSION);
    if r.get(AWS_LAMBDA_FUNCTION_MEMORY_SIZE).is_none() {
        r.fail(
            AWS_LAMBDA_FUNCTION_MEMORY_SIZE,
            "must be set when APP_TARGET is lambda",
        );
    }
    let memory_mb = r.number(AWS_LAMBDA_FUNCTION_MEMORY_SIZE, 128u32, 1, 1 << 20);
    LambdaEnv {
        runtime_api,
        function_name,
        function_version,
        memory_mb,
        log_stream: r.get(AWS_LAMBDA_LOG_STREAM_NAME),
    }
}

/// Per the OTel spec: the signal-specific endpoint (`specific`) is used as
/// is; the general one gets `path` (`/v1/traces`) appended for http/protobuf.
fn signal_endpoint(
    r: &mut Reader<'_>,
    protocol: OtlpProtocol,
    specific: &'static str,
    path: &str,
) -> String {
    if r.get(specific).is_some() {
        return r.url(specific, &format!("http://localhost:4318{path}"));
    }
    let (default, suffix) = match protocol {
        OtlpProtocol::HttpProtobuf => ("http://localhost:4318", path),
        OtlpProtocol::Grpc => ("http://localhost:4317", ""),
    };
    let base = r.url(vars::OTEL_EXPORTER_OTLP_ENDPOINT, default);
    format!("{}{suffix}", base.trim_end_matches('/'))
}

/// SigV4 by default for an X-Ray OTLP endpoint, with the region from its
/// host; `OTEL_EXPORTER_OTLP_TRACES_AUTH=sigv4` signs for any endpoint (a
/// local double, a proxy) with `AWS_REGION`, `none` never signs.
fn traces_auth(r: &mut Reader<'_>, endpoint: &str, protocol: OtlpProtocol) -> TracesAuth {
    use vars::*;
    let xray_region = xray_endpoint_region(endpoint);
    let sign = r.choice(
        OTEL_EXPORTER_OTLP_TRACES_AUTH,
        xray_region.is_some(),
        &[("sigv4", true), ("none", false)],
    );
    if !sign {
        return TracesAuth::None;
    }
    if protocol == OtlpProtocol::Grpc {
        r.fail(
            OTEL_EXPORTER_OTLP_TRACES_AUTH,
            "sigv4 needs OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf (X-Ray takes OTLP over HTTP only)",
        );
    }
    match xray_region.or_else(|| r.get(AWS_REGION)) {
        Some(region) => TracesAuth::SigV4 { region },
        None => {
            r.fail(
                OTEL_EXPORTER_OTLP_TRACES_AUTH,
                "sigv4 for an endpoint other than https://xray.<region>.amazonaws.com/v1/traces needs AWS_REGION",
            );
            TracesAuth::None
        }
    }
}

/// The region of an X-Ray OTLP endpoint, `https://xray.<region>.amazonaws.com/v1/traces`.
pub fn xray_endpoint_region(endpoint: &str) -> Option<String> {
    let uri: http::Uri = endpoint.parse().ok()?;
    if uri.path() != "/v1/traces" {
        return None;
    }
    let host = uri.host()?;
    let rest = host.strip_prefix("xray.")?;
    let region = rest
        .strip_suffix(".amazonaws.com")
        .or_else(|| rest.strip_suffix(".amazonaws.com.cn"))?;
    let valid = !region.is_empty()
        && region
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    valid.then(|| region.to_owned())
}

/// CloudWatch's namespace rules: 1 to 255 printable ASCII characters, not
/// starting with `:` nor with the reserved `AWS/`.
fn namespace_problem(namespace: &str) -> Option<String> {
    let valid = namespace.len() <= 255
        && namespace.bytes().all(|b| b.is_ascii_graphic() || b == b' ')
        && !namespace.starts_with(':')
        && !namespace.starts_with("AWS/");
    (!valid).then(|| {
        format!(
            "'{namespace}' is not a CloudWatch namespace (1-255 printable ASCII characters, \
             not starting with ':' or 'AWS/')"
        )
    })
}

fn read_sampler(r: &mut Reader<'_>) -> SamplerConfig {
    use vars::*;
    let name = r.choice(
        OTEL_TRACES_SAMPLER,
        "parentbased_always_on",
        &[
            ("always_on", "always_on"),
            ("always_off", "always_off"),
            ("traceidratio", "traceidratio"),
            ("parentbased_always_on", "parentbased_always_on"),
            ("parentbased_always_off", "parentbased_always_off"),
            ("parentbased_traceidratio", "parentbased_traceidratio"),
        ],
    );
    let read_ratio = |r: &mut Reader<'_>| match r.get(OTEL_TRACES_SAMPLER_ARG) {
        None => 1.0,
        Some(raw) => match raw.parse::<f64>() {
            Ok(v) if (0.0..=1.0).contains(&v) => v,
            _ => {
                r.fail(
                    OTEL_TRACES_SAMPLER_ARG,
                    format!("'{raw}' is not a number from 0.0 to 1.0"),
                );
                1.0
            }
        },
    };
    match name {
        "always_on" => SamplerConfig::AlwaysOn,
        "always_off" => SamplerConfig::AlwaysOff,
        "traceidratio" => SamplerConfig::TraceIdRatio(read_ratio(r)),
        "parentbased_always_off" => SamplerConfig::ParentBasedAlwaysOff,
        "parentbased_traceidratio" => SamplerConfig::ParentBasedTraceIdRatio(read_ratio(r)),
        _ => SamplerConfig::ParentBasedAlwaysOn,
    }
}

fn read_propagators(r: &mut Reader<'_>) -> Vec<Propagator> {
    // Baggage is opt-in: it crosses trust boundaries as sent.
    let default = vec![Propagator::Xray, Propagator::TraceContext];
    let Some(raw) = r.get(vars::OTEL_PROPAGATORS) else {
        return default;
    };
    let mut out = Vec::new();
    for name in raw.split(',').map(str::trim) {
        match name {
            "xray" => out.push(Propagator::Xray),
            "tracecontext" => out.push(Propagator::TraceContext),
            "baggage" => out.push(Propagator::Baggage),
            "none" => {}
            _ => {
                r.fail(
                    vars::OTEL_PROPAGATORS,
                    format!("'{name}' is not one of xray, tracecontext, baggage, none"),
                );
                return default;
            }
        }
    }
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn parse(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Config::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn defaults_match_the_documented_table() {
        let c = parse(&[]).unwrap();
        assert_eq!(c.target, Target::Http);
        assert_eq!(c.port, 8080);
        assert_eq!(c.shutdown_timeout, Duration::from_secs(20));
        assert_eq!(c.users_latency, Duration::from_millis(100));
        assert_eq!(c.database_latency, Duration::from_millis(200));
        assert_eq!(c.external_url, "https://httpbin.org/delay/1");
        assert_eq!(c.external_timeout, Duration::from_millis(3000));
        assert_eq!(c.log_format, LogFormat::Json);
        assert_eq!(c.traces_exporter, TracesExporter::Otlp);
        assert_eq!(c.otlp_protocol, OtlpProtocol::HttpProtobuf);
        assert_eq!(c.otlp_traces_endpoint, "http://localhost:4318/v1/traces");
        assert_eq!(c.sampler, SamplerConfig::ParentBasedAlwaysOn);
        assert_eq!(
            c.propagators,
            vec![Propagator::Xray, Propagator::TraceContext]
        );
        assert!(!c.trace_health_checks);
        assert_eq!(c.users_table, None);
        assert_eq!(c.dynamodb_timeout, Duration::from_millis(1000));
        assert_eq!(c.metrics_exporter, MetricsExporter::Otlp);
        assert_eq!(c.otlp_metrics_endpoint, "http://localhost:4318/v1/metrics");
        assert_eq!(c.metrics_namespace, None);
    }

    #[test]
    fn users_table_needs_a_valid_name_and_a_region() {
        let c = parse(&[("USERS_TABLE", "users-prod"), ("AWS_REGION", "eu-west-1")]).unwrap();
        assert_eq!(c.users_table.as_deref(), Some("users-prod"));
        let err = parse(&[("USERS_TABLE", "users")]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid configuration: AWS_REGION: must be set when USERS_TABLE is set"
        );
        let err = parse(&[("USERS_TABLE", "a/b"), ("AWS_REGION", "eu-west-1")]).unwrap_err();
        assert_eq!(err.0[0].var, "USERS_TABLE");
        let err = parse(&[("DYNAMODB_TIMEOUT_MS", "0")]).unwrap_err();
        assert_eq!(err.0[0].var, "DYNAMODB_TIMEOUT_MS");
    }

    #[test]
    fn metrics_default_to_emf_on_lambda_and_follow_the_metrics_variables() {
        let lambda = [
            ("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9001"),
            ("AWS_LAMBDA_FUNCTION_NAME", "f"),
            ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"),
        ];
        assert_eq!(
            parse(&lambda).unwrap().metrics_exporter,
            MetricsExporter::Emf
        );
        let c = parse(&[
            ("OTEL_METRICS_EXPORTER", "none"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318"),
            ("METRICS_NAMESPACE", "Shop/Api"),
        ])
        .unwrap();
        assert_eq!(c.metrics_exporter, MetricsExporter::None);
        assert_eq!(c.otlp_metrics_endpoint, "http://collector:4318/v1/metrics");
        assert_eq!(c.metrics_namespace.as_deref(), Some("Shop/Api"));
        let c = parse(&[("OTEL_EXPORTER_OTLP_METRICS_PROTOCOL", "grpc")]).unwrap();
        assert_eq!(c.metrics_otlp_protocol, OtlpProtocol::Grpc);
        assert_eq!(c.otlp_traces_endpoint, "http://localhost:4318/v1/traces");
        assert_eq!(c.otlp_metrics_endpoint, "http://localhost:4317");
        // Traces straight to X-Ray on ECS: no collector for OTLP metrics either.
        let direct = [(
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            "https://xray.eu-west-1.amazonaws.com/v1/traces",
        )];
        assert_eq!(
            parse(&direct).unwrap().metrics_exporter,
            MetricsExporter::Emf
        );
        let mut kept = direct.to_vec();
        kept.push(("OTEL_METRICS_EXPORTER", "otlp"));
        assert_eq!(
            parse(&kept).unwrap().metrics_exporter,
            MetricsExporter::Otlp
        );
    }

    #[test]
    fn span_queue_sizes_default_small_and_are_checked() {
        let c = parse(&[]).unwrap();
        assert_eq!((c.span_queue_size, c.span_batch_size), (4096, 128));
        let c = parse(&[("OTEL_BSP_MAX_QUEUE_SIZE", "64")]).unwrap();
        assert_eq!((c.span_queue_size, c.span_batch_size), (64, 64));
        let err = parse(&[
            ("OTEL_BSP_MAX_QUEUE_SIZE", "100"),
            ("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "200"),
        ])
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("OTEL_BSP_MAX_EXPORT_BATCH_SIZE: 200 is more than"),
            "{err}"
        );
        assert!(parse(&[("OTEL_BSP_MAX_QUEUE_SIZE", "0")]).is_err());
    }

    #[test]
    fn span_delay_and_flush_timeout_are_milliseconds_never_zero() {
        let c = parse(&[]).unwrap();
        assert_eq!(c.span_schedule_delay, Duration::from_secs(5));
        assert_eq!(c.span_flush_timeout, Duration::from_secs(30));
        let c = parse(&[
            ("OTEL_BSP_SCHEDULE_DELAY", "200"),
            ("OTEL_BSP_EXPORT_TIMEOUT", "1500"),
        ])
        .unwrap();
        assert_eq!(c.span_schedule_delay, Duration::from_millis(200));
        assert_eq!(c.span_flush_timeout, Duration::from_millis(1500));
        for var in ["OTEL_BSP_SCHEDULE_DELAY", "OTEL_BSP_EXPORT_TIMEOUT"] {
            let err = parse(&[(var, "0")]).unwrap_err().to_string();
            assert!(err.contains(&format!("{var}: '0' is not")), "{err}");
        }
    }

    #[test]
    fn bad_metrics_settings_name_their_variable() {
        let err = parse(&[
            ("OTEL_METRICS_EXPORTER", "prometheus"),
            ("METRICS_NAMESPACE", "AWS/Lambda"),
        ])
        .unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains(
                "OTEL_METRICS_EXPORTER: 'prometheus' is not one of otlp, emf, console, none"
            ),
            "{text}"
        );
        assert!(text.contains("METRICS_NAMESPACE: 'AWS/Lambda'"), "{text}");
        assert_eq!(err.0.len(), 2);
        assert!(parse(&[("METRICS_NAMESPACE", &"x".repeat(256))]).is_err());
    }

    #[test]
    fn runtime_api_selects_lambda_unless_app_target_says_otherwise() {
        let lambda = [
            ("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9001"),
            ("AWS_LAMBDA_FUNCTION_NAME", "f"),
            ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"),
        ];
        assert_eq!(parse(&lambda).unwrap().target, Target::Lambda);
        let mut forced = lambda.to_vec();
        forced.push(("APP_TARGET", "http"));
        assert_eq!(parse(&forced).unwrap().target, Target::Http);
    }

    #[test]
    fn lambda_target_without_runtime_variables_names_each_one() {
        let err = parse(&[("APP_TARGET", "lambda")]).unwrap_err();
        let vars: Vec<&str> = err.0.iter().map(|e| e.var).collect();
        assert_eq!(
            vars,
            vec![
                "AWS_LAMBDA_RUNTIME_API",
                "AWS_LAMBDA_FUNCTION_NAME",
                "AWS_LAMBDA_FUNCTION_VERSION",
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE"
            ]
        );
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
        assert!(text.contains("OTEL_TRACES_EXPORTER: 'jaeger' is not one of otlp, console, none"));
        assert!(text.contains("LOG_FORMAT: 'xml' is not one of json, pretty"));
        assert!(text.contains("OTEL_PROPAGATORS: 'b3'"));
        assert!(text.contains("EXTERNAL_URL: 'ftp://example.com'"));
        assert_eq!(err.0.len(), 6);
        assert!(!text.contains('\n'));
    }

    #[test]
    fn a_value_with_a_newline_still_gives_one_line() {
        let text = parse(&[("PORT", "80\n80")]).unwrap_err().to_string();
        assert_eq!(
            text,
            "invalid configuration: PORT: '80\\n80' is not an integer from 0 to 65535"
        );
    }

    #[test]
    fn zero_latencies_are_allowed() {
        let c = parse(&[("USERS_LATENCY_MS", "0"), ("DATABASE_LATENCY_MS", "0")]).unwrap();
        assert!(c.users_latency.is_zero() && c.database_latency.is_zero());
    }

    #[test]
    fn endpoints_follow_the_otel_spec() {
        let c = parse(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318/")]).unwrap();
        assert_eq!(c.otlp_traces_endpoint, "http://collector:4318/v1/traces");
        let c = parse(&[("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")]).unwrap();
        assert_eq!(c.otlp_traces_endpoint, "http://localhost:4317");
        let c = parse(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://a:4318"),
            ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://b:9999/custom"),
        ])
        .unwrap();
        assert_eq!(c.otlp_traces_endpoint, "http://b:9999/custom");
    }

    #[test]
    fn xray_endpoints_are_signed_for_their_region_by_default() {
        let c = parse(&[(
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            "https://xray.eu-west-1.amazonaws.com/v1/traces",
        )])
        .unwrap();
        assert_eq!(
            c.otlp_traces_auth,
            TracesAuth::SigV4 {
                region: "eu-west-1".into()
            }
        );
        let c = parse(&[(
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            "https://xray.cn-north-1.amazonaws.com.cn",
        )])
        .unwrap();
        assert_eq!(
            c.otlp_traces_auth,
            TracesAuth::SigV4 {
                region: "cn-north-1".into()
            }
        );
        for other in [
            "http://localhost:4318/v1/traces",
            "https://xray.eu-west-1.amazonaws.com/v1/logs",
            "https://xray.eu-west-1.amazonaws.com.evil.example/v1/traces",
            "https://notxray.eu-west-1.amazonaws.com/v1/traces",
        ] {
            let c = parse(&[("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", other)]).unwrap();
            assert_eq!(c.otlp_traces_auth, TracesAuth::None, "{other}");
        }
    }

    #[test]
    fn signing_can_be_forced_or_turned_off() {
        let c = parse(&[
            ("OTEL_EXPORTER_OTLP_TRACES_AUTH", "sigv4"),
            ("AWS_REGION", "us-east-2"),
        ])
        .unwrap();
        assert_eq!(
            c.otlp_traces_auth,
            TracesAuth::SigV4 {
                region: "us-east-2".into()
            }
        );
        let c = parse(&[
            ("OTEL_EXPORTER_OTLP_TRACES_AUTH", "none"),
            (
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                "https://xray.eu-west-1.amazonaws.com/v1/traces",
            ),
        ])
        .unwrap();
        assert_eq!(c.otlp_traces_auth, TracesAuth::None);
        let err = parse(&[("OTEL_EXPORTER_OTLP_TRACES_AUTH", "sigv4")]).unwrap_err();
        assert_eq!(err.0[0].var, "OTEL_EXPORTER_OTLP_TRACES_AUTH");
        assert!(err.0[0].problem.contains("AWS_REGION"), "{err}");
        let err = parse(&[
            ("OTEL_EXPORTER_OTLP_TRACES_AUTH", "sigv4"),
            ("AWS_REGION", "us-east-2"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
        ])
        .unwrap_err();
        assert!(err.to_string().contains("http/protobuf"), "{err}");
        let err = parse(&[("OTEL_EXPORTER_OTLP_TRACES_AUTH", "iam")]).unwrap_err();
        assert!(err.to_string().contains("'iam' is not one of sigv4, none"));
    }

    #[test]
    fn the_traces_timeout_wins_over_the_general_one() {
        assert_eq!(parse(&[]).unwrap().otlp_timeout, Duration::from_secs(10));
        let c = parse(&[("OTEL_EXPORTER_OTLP_TIMEOUT", "2000")]).unwrap();
        assert_eq!(c.otlp_timeout, Duration::from_secs(2));
        let c = parse(&[
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "2000"),
            ("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "500"),
        ])
        .unwrap();
        assert_eq!(c.otlp_timeout, Duration::from_millis(500));
    }

    #[test]
    fn trace_export_compression_and_headers_follow_the_otlp_variables() {
        let c = parse(&[]).unwrap();
        assert!(!c.otlp_traces_gzip);
        assert!(c.otlp_traces_headers.is_empty());
        let c = parse(&[
            ("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip"),
            ("OTEL_EXPORTER_OTLP_HEADERS", "x-team=a%20b, api-key=secret"),
            ("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "API-Key=s3cr3t"),
        ])
        .unwrap();
        assert!(c.otlp_traces_gzip);
        let headers: Vec<(&str, &str)> = c
            .otlp_traces_headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.to_str().unwrap()))
            .collect();
        assert_eq!(headers, [("x-team", "a b"), ("api-key", "s3cr3t")]);
        assert!(
            !format!("{c:?}").contains("s3cr3t"),
            "values are not printed"
        );
        let c = parse(&[
            ("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip"),
            ("OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "none"),
        ])
        .unwrap();
        assert!(!c.otlp_traces_gzip);

        let err = parse(&[
            ("OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "zstd"),
            ("OTEL_EXPORTER_OTLP_HEADERS", "ok=1,broken,bad=%zz"),
        ])
        .unwrap_err();
        let vars: Vec<&str> = err.0.iter().map(|e| e.var).collect();
        assert_eq!(
            vars,
            [
                "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION",
                "OTEL_EXPORTER_OTLP_HEADERS",
                "OTEL_EXPORTER_OTLP_HEADERS"
            ]
        );
        assert!(!err.to_string().contains("%zz"), "{err}");
    }

    #[test]
    fn sampler_ratio_is_validated() {
        let c = parse(&[
            ("OTEL_TRACES_SAMPLER", "parentbased_traceidratio"),
            ("OTEL_TRACES_SAMPLER_ARG", "0.25"),
        ])
        .unwrap();
        assert_eq!(c.sampler, SamplerConfig::ParentBasedTraceIdRatio(0.25));
        let err = parse(&[
            ("OTEL_TRACES_SAMPLER", "traceidratio"),
            ("OTEL_TRACES_SAMPLER_ARG", "2"),
        ])
        .unwrap_err();
        assert_eq!(err.0[0].var, "OTEL_TRACES_SAMPLER_ARG");
    }

    #[test]
    fn propagators_can_be_narrowed_or_disabled() {
        let c = parse(&[("OTEL_PROPAGATORS", "tracecontext")]).unwrap();
        assert_eq!(c.propagators, vec![Propagator::TraceContext]);
        let c = parse(&[("OTEL_PROPAGATORS", "none")]).unwrap();
        assert!(c.propagators.is_empty());
    }
}
