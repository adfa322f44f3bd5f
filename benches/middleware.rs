//! The request path alone, in process: `oneshot` requests through the real
//! Router and middleware stack, no sockets, so a change can be judged in
//! seconds (`cargo bench --bench middleware --profile microbench`) instead
//! of a `bench/run.sh` run.
//!
//! Tracing on or off is a process's choice (the tracing subscriber is
//! global), so "untraced" and "traced" processes alternate, `MIDDLEWARE_RUNS`
//! [2] of each. Metrics are a Router's: every process holds two Routers, with
//! and without metrics, and alternates between them round by round, so the
//! metrics' cost is a paired difference inside one process, free of the
//! spread between processes. Spans and metrics go over OTLP to a sink on
//! 127.0.0.1 that discards them. The figure is the calling thread's CPU time
//! per request (`/proc/thread-self/schedstat`), the request path only: the
//! batch exporter and the metrics reader run on their own threads. Requests
//! look like the ALB's (Host, X-Forwarded-*, an X-Ray header). A round's
//! spans fit in the span queue, so none is dropped on the request path; the
//! queue is flushed between rounds, outside the measurement.
//!
//! Prints one JSON object per process, route and Router, then a table.
//! `MIDDLEWARE_REQUESTS` [20000] per round, `MIDDLEWARE_ROUNDS` [7].

use std::{
    io::{BufRead, BufReader, Read, Write},
    net::{TcpListener, TcpStream},
    process::{Command, Stdio},
    sync::Arc,
    time::Duration,
};

use axum::body::Body;
use axum_xray_otel::{
    app::{self, AppState, Limits},
    config::Config,
    telemetry::{self, http::RequestTracing},
};
use http::Request;
use serde_json::{Value, json};
use tower::ServiceExt;

const VARIANT: &str = "MIDDLEWARE_BENCH_VARIANT";
const ROUTES: [&str; 2] = ["/api/users/42", "/api/database"];
/// (name, environment) of each process; the rest is the binary's defaults.
const VARIANTS: [(&str, &[(&str, &str)]); 2] = [
    ("untraced", &[("OTEL_TRACES_EXPORTER", "none")]),
    ("traced", &[]),
];

/// A line on stdout (the crate's lints keep `println!` out of library code).
macro_rules! say {
    ($($arg:tt)*) => {{
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

fn count(key: &str, default: usize) -> usize {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    match std::env::var(VARIANT) {
        Ok(variant) => measure(&variant),
        Err(_) => compare(),
    }
}

/// Runs the processes, alternating, and prints their figures.
fn compare() {
    let sink = Sink::start();
    let mut rows: Vec<Value> = Vec::new();
    for run in 0..count("MIDDLEWARE_RUNS", 2) {
        for (name, env) in VARIANTS {
            let mut cmd = Command::new(std::env::current_exe().expect("own path"));
            cmd.env(VARIANT, name)
                .env("APP_TARGET", "http")
                .env("USERS_LATENCY_MS", "0")
                .env("RUST_LOG", "warn")
                .env("OTEL_EXPORTER_OTLP_ENDPOINT", &sink.endpoint)
                .env("OTEL_METRICS_EXPORTER", "otlp")
                // A round's spans (two a request) fit in the queue.
                .env(
                    "OTEL_BSP_MAX_QUEUE_SIZE",
                    (count("MIDDLEWARE_REQUESTS", 20_000) * 2 + 1024).to_string(),
                )
                .stderr(Stdio::inherit())
                .stdout(Stdio::piped());
            for (k, v) in env {
                cmd.env(k, v);
            }
            let out = cmd.output().expect("run a variant");
            assert!(out.status.success(), "{name} failed");
            for line in String::from_utf8_lossy(&out.stdout).lines() {
                if let Ok(mut row) = serde_json::from_str::<Value>(line) {
                    row["run"] = json!(run);
                    say!("{row}");
                    rows.push(row);
                }
            }
        }
    }
    // Per process run, then the median over runs.
    let figures = |variant: &str, route: &str, key: &str, metrics: bool| {
        let mut v: Vec<f64> = rows
            .iter()
            .filter(|r| r["variant"] == variant && r["route"] == route && r["metrics"] == metrics)
            .filter_map(|r| r[key].as_f64())
            .collect();
        v.sort_by(f64::total_cmp);
        v
    };
    let median = |v: &[f64]| v.get(v.len() / 2).copied().unwrap_or(f64::NAN);
    say!("\nCPU ns per request on the calling thread (median of rounds, then of runs):\n");
    say!(
        "| route | untraced | traced | traced + metrics | tracing adds (each run) | metrics add, traced (paired; min..max of rounds) | metrics add, untraced (paired) |"
    );
    say!("| --- | --- | --- | --- | --- | --- | --- |");
    for route in ROUTES {
        let untraced = figures("untraced", route, "ns_per_request", false);
        let traced = figures("traced", route, "ns_per_request", false);
        let with_metrics = figures("traced", route, "ns_per_request", true);
        let per_run: Vec<String> = rows
            .iter()
            .filter(|r| r["variant"] == "traced" && r["route"] == route && r["metrics"] == false)
            .filter_map(|t| {
                let u = rows.iter().find(|u| {
                    u["variant"] == "untraced"
                        && u["route"] == route
                        && u["metrics"] == false
                        && u["run"] == t["run"]
                })?;
                Some(format!(
                    "{:.0}",
                    t["ns_per_request"].as_f64()? - u["ns_per_request"].as_f64()?
                ))
            })
            .collect();
        let paired = |variant: &str| {
            let adds = figures(variant, route, "metrics_add", true);
            let lo = figures(variant, route, "metrics_add_min", true);
            let hi = figures(variant, route, "metrics_add_max", true);
            format!(
                "{:.0} ({:.0}..{:.0})",
                median(&adds),
                lo.first().copied().unwrap_or(f64::NAN),
                hi.last().copied().unwrap_or(f64::NAN)
            )
        };
        say!(
            "| `{route}` | {:.0} | {:.0} | {:.0} | {:.0} ({}) | {} | {} |",
            median(&untraced),
            median(&traced),
            median(&with_metrics),
            median(&traced) - median(&untraced),
            per_run.join(", "),
            paired("traced"),
            paired("untraced"),
        );
    }
    say!(
        "\nthe sink received {} export requests",
        sink.requests.load(std::sync::atomic::Ordering::Relaxed)
    );
}

/// One process: two Routers, with and without metrics, `oneshot` requests
/// on this thread, alternating between the Routers round by round.
fn measure(variant: &str) {
    telemetry::install_crypto_provider();
    let config = Config::from_env().unwrap_or_else(|e| panic!("config: {e}"));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let requests = count("MIDDLEWARE_REQUESTS", 20_000);
    let rounds = count("MIDDLEWARE_ROUNDS", 7);
    runtime.block_on(async {
        let telemetry = Arc::new(telemetry::init(&config, None).await.expect("telemetry"));
        let router = |metrics: telemetry::metrics::Metrics| {
            let state = AppState::from_config(&config, metrics.clone()).expect("state");
            let tracing = RequestTracing {
                propagation: state.propagation.clone(),
                tracer: telemetry.tracer(),
                trace_health_checks: false,
                metrics,
            };
            let limits = Limits {
                request_timeout: config.server.request_timeout,
                max_body_bytes: config.server.max_body_bytes,
                max_in_flight: config.server.max_in_flight_requests,
            };
            app::router(state, tracing, limits)
        };
        // [without metrics, with metrics]
        let routers = [router(Default::default()), router(telemetry.metrics())];
        for route in ROUTES {
            let mut per_round: [Vec<f64>; 2] = Default::default();
            for round in 0..=rounds {
                // Alternate which Router goes first, so neither always
                // runs right after a flush.
                let order = if round % 2 == 0 { [0, 1] } else { [1, 0] };
                for which in order {
                    let started = thread_cpu();
                    for i in 0..requests {
                        let response = routers[which]
                            .clone()
                            .oneshot(alb_request(route, i))
                            .await
                            .expect("infallible");
                        assert_eq!(response.status(), 200);
                        let _ = axum::body::to_bytes(response.into_body(), usize::MAX).await;
                    }
                    let spent = thread_cpu() - started;
                    // Round 0 warms up; the exporter catches up outside the clock.
                    if round > 0 {
                        per_round[which].push(spent.as_nanos() as f64 / requests as f64);
                    }
                    // Blocks the only runtime thread, which has nothing else to do.
                    telemetry.flush(Duration::from_secs(10));
                }
            }
            let mut adds: Vec<f64> = per_round[1]
                .iter()
                .zip(&per_round[0])
                .map(|(on, off)| on - off)
                .collect();
            adds.sort_by(f64::total_cmp);
            for (which, mut figures) in per_round.into_iter().enumerate() {
                figures.sort_by(f64::total_cmp);
                let mut row = json!({
                    "variant": variant,
                    "metrics": which == 1,
                    "route": route,
                    "ns_per_request": figures[figures.len() / 2],
                    "min": figures[0],
                    "max": figures[figures.len() - 1],
                    "requests_per_round": requests,
                    "rounds": rounds,
                });
                if which == 1 {
                    row["metrics_add"] = json!(adds[adds.len() / 2]);
                    row["metrics_add_min"] = json!(adds[0]);
                    row["metrics_add_max"] = json!(adds[adds.len() - 1]);
                }
                say!("{row}");
            }
        }
        if let Ok(t) = Arc::try_unwrap(telemetry) {
            let until = std::time::Instant::now() + Duration::from_secs(10);
            let _ = t.shutdown(until, until);
        }
    });
}

/// A request as the ALB forwards it, each with its own X-Ray root.
fn alb_request(path: &str, i: usize) -> Request<Body> {
    Request::builder()
        .uri(path)
        .header("host", "api.example.com")
        .header("x-forwarded-proto", "https")
        .header("x-forwarded-port", "443")
        .header("x-forwarded-for", "203.0.113.7")
        .header("user-agent", "middleware-bench/1")
        .header(
            "x-amzn-trace-id",
            format!("Root=1-6a000000-{i:024x};Sampled=1"),
        )
        .body(Body::empty())
        .expect("valid request")
}

/// The calling thread's CPU time: the first field of its schedstat, in ns.
fn thread_cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").expect("schedstat");
    let ns = stat
        .split_whitespace()
        .next()
        .and_then(|v| v.parse().ok())
        .expect("schedstat's run time");
    Duration::from_nanos(ns)
}

/// An OTLP/HTTP endpoint that answers every export with an empty success.
struct Sink {
    endpoint: String,
    requests: Arc<std::sync::atomic::AtomicU64>,
}

impl Sink {
    fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the sink");
        let endpoint = format!("http://{}", listener.local_addr().expect("address"));
        let requests = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let counted = Arc::clone(&requests);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let counted = Arc::clone(&counted);
                std::thread::spawn(move || serve(stream, &counted));
            }
        });
        Self { endpoint, requests }
    }
}

/// Keep-alive HTTP/1.1: reads each request's head and body, answers 200.
fn serve(stream: TcpStream, requests: &std::sync::atomic::AtomicU64) {
    let mut writer = stream.try_clone().expect("clone the stream");
    let mut reader = BufReader::new(stream);
    loop {
        let mut length = 0usize;
        let mut line = String::new();
        loop {
            line.clear();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            let trimmed = line.trim_end();
            if trimmed.is_empty() {
                break;
            }
            if let Some((name, value)) = trimmed.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        requests.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let answer =
            "HTTP/1.1 200 OK\r\ncontent-type: application/x-protobuf\r\ncontent-length: 0\r\n\r\n";
        if writer.write_all(answer.as_bytes()).is_err() {
            return;
        }
    }
}
