//! Process-level figures of the release binary, for `bench/run.sh`:
//!
//! - HTTP start-up: exec to the first 200 on `/health` (the service, and the
//!   bare axum floor when `BENCH_BARE_BIN` names it);
//! - Lambda, through the Runtime API double of the tests and a real OTLP
//!   receiver: init (exec to the first `/next`) and each invocation's time
//!   including the span flush (event handed out to the runtime's next `/next`,
//!   which it makes only after flushing), warm (one process) and cold (the
//!   first invocation of a fresh process), with tracing on and off, and with EMF metrics on and off.
//!
//! The Lambda runs cover the three trace paths (OTLP to a collector, signed
//! OTLP straight to X-Ray, OTLP over UDP to Lambda's X-Ray endpoint) and, when
//! `BENCH_PEER_OTEL_LITE` names its binary, the nearest Rust peer: the same
//! routes traced by the lambda-otel-lite crate (bench/peer-otel-lite).
//!
//! Prints one JSON object per line; `bench/bench.py` turns them into tables.
//! Counts: `BENCH_STARTS` [20], `BENCH_COLD_STARTS` [20], `BENCH_INVOCATIONS` [1000].

#[path = "../tests/support/mod.rs"]
mod support;

use std::{
    io::{Read, Write},
    net::TcpStream,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use serde_json::{Value, json};
use support::{
    TestResult,
    lambda_api::{Invocation, Outcome, RuntimeApi, event},
    otlp::Receiver,
    process::{App, binary, command},
    xray_udp::XrayUdp,
};
use tokio::sync::mpsc;

fn count(key: &str, default: usize) -> usize {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn emit(value: Value) {
    let _ = writeln!(std::io::stdout(), "{value}");
}

/// Milliseconds summary of `samples`: nearest-rank percentiles.
fn summary(samples: &[Duration]) -> Value {
    let mut ms: Vec<f64> = samples.iter().map(|d| d.as_secs_f64() * 1e3).collect();
    ms.sort_by(f64::total_cmp);
    let pct = |q: f64| {
        let rank = ((q * ms.len() as f64).ceil() as usize).clamp(1, ms.len().max(1));
        ms.get(rank - 1).copied().unwrap_or(f64::NAN)
    };
    json!({
        "n": ms.len(),
        "p50": pct(0.50), "p99": pct(0.99), "p999": pct(0.999),
        "min": ms.first(), "max": ms.last(),
    })
}

fn main() -> TestResult {
    // `cargo bench` passes `--bench`; there are no options.
    let starts = count("BENCH_STARTS", 20);
    http_startup("service", command(&[]), starts)?;
    if let Ok(bare) = std::env::var("BENCH_BARE_BIN") {
        let mut cmd = Command::new(bare);
        cmd.env_clear()
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        http_startup("bare", cmd, starts)?;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(lambda(
        count("BENCH_COLD_STARTS", 20),
        count("BENCH_INVOCATIONS", 1000),
    ))
}

/// Exec to the first 200 on `/health`, `n` times, each a fresh process.
fn http_startup(name: &str, template: Command, n: usize) -> TestResult {
    let mut samples = Vec::with_capacity(n);
    for _ in 0..n {
        let mut cmd = Command::new(template.get_program());
        cmd.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("RUST_LOG", "info")
            .env("PORT", "0")
            .env("APP_TARGET", "http")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let start = Instant::now();
        let mut app = App::spawn(cmd)?;
        let line = app
            .wait_for_log(|v| v["message"] == "listening")
            .ok_or("no listening line")?;
        let port: u16 = line["address"]
            .as_str()
            .and_then(|a| a.rsplit(':').next())
            .and_then(|p| p.parse().ok())
            .ok_or("no port in the listening line")?;
        // Bounded: the listener is bound before the line is written.
        let mut ok = false;
        for _ in 0..1000 {
            if health_is_200(port) {
                ok = true;
                break;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        let elapsed = start.elapsed();
        app.signal("TERM");
        app.wait_exit(Duration::from_secs(5));
        if !ok {
            return Err(format!("{name}: /health never answered 200").into());
        }
        samples.push(elapsed);
    }
    emit(json!({ "kind": "startup", "server": name, "ms": summary(&samples) }));
    Ok(())
}

fn health_is_200(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let request = b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    let mut response = Vec::new();
    stream.write_all(request).is_ok()
        && stream.read_to_end(&mut response).is_ok()
        && response.starts_with(b"HTTP/1.1 200")
}

/// One Lambda process: the double, the binary, and a channel of `/next` calls.
struct Function {
    api: RuntimeApi,
    app: App,
    exec: Instant,
    /// When each `/next` arrived and how many spans the receiver had then.
    nexts: mpsc::UnboundedReceiver<(Instant, u64)>,
}

impl Function {
    /// `mode`: `otlp` (to a collector), `direct` (SigV4 + gzip, as to the X-Ray
    /// OTLP endpoint; the receiver stands in for X-Ray), `xray-udp` (to the
    /// UDP endpoint double), `none`, or `otel-lite` (the peer binary, spans on
    /// its stdout); `metrics`: `OTEL_METRICS_EXPORTER`.
    async fn start(sinks: &Sinks, mode: &str, metrics: &str) -> TestResult<Self> {
        let (tx, nexts) = mpsc::unbounded_channel();
        let spans: Box<dyn Fn() -> u64 + Send + Sync> = match mode {
            "xray-udp" => Box::new(sinks.udp.counter()),
            "otel-lite" => Box::new(|| 0),
            _ => Box::new(sinks.otlp.counter()),
        };
        let api = RuntimeApi::start(move || {
            let n = spans();
            let _ = tx.send((Instant::now(), n));
            n
        })
        .await?;
        let mut env = api.lambda_env();
        let exporter = match mode {
            "none" | "xray-udp" => mode,
            _ => "otlp",
        };
        env.extend([
            ("OTEL_EXPORTER_OTLP_ENDPOINT", sinks.otlp.http_endpoint()),
            ("AWS_XRAY_DAEMON_ADDRESS", sinks.udp.daemon_address()),
            ("OTEL_TRACES_EXPORTER", exporter.to_owned()),
            ("OTEL_METRICS_EXPORTER", metrics.to_owned()),
            ("USERS_LATENCY_MS", "0".to_owned()),
        ]);
        if mode == "direct" {
            // Lambda's own environment credentials; the receiver does not check them.
            env.extend([
                ("OTEL_EXPORTER_OTLP_TRACES_AUTH", "sigv4".to_owned()),
                ("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip".to_owned()),
                ("AWS_ACCESS_KEY_ID", "AKIABENCHMARK".to_owned()),
                ("AWS_SECRET_ACCESS_KEY", "bench/secret".to_owned()),
                ("AWS_SESSION_TOKEN", "bench-token".to_owned()),
            ]);
        }
        let cmd = match (mode, &sinks.peer) {
            ("otel-lite", Some(peer)) => {
                let mut cmd = Command::new(peer);
                cmd.env_clear()
                    .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
                    .stdin(Stdio::null())
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped());
                cmd
            }
            _ => command(&env),
        };
        let exec = Instant::now();
        let app = App::spawn(cmd)?;
        Ok(Self {
            api,
            app,
            exec,
            nexts,
        })
    }

    async fn next_call(&mut self) -> TestResult<(Instant, u64)> {
        let call = tokio::time::timeout(support::DEADLINE, self.nexts.recv()).await;
        match call {
            Ok(Some(call)) => Ok(call),
            _ => Err(format!(
                "the runtime stopped asking for events: {:?}",
                self.app.output()
            )
            .into()),
        }
    }

    /// Hands out event `i` and waits for the runtime's next `/next`.
    /// Returns the time in between, the spans flushed meanwhile, and whether it answered 200.
    async fn invoke(&mut self, i: usize, spans_before: u64) -> TestResult<(Duration, u64, bool)> {
        let handed_out = Instant::now();
        self.api.push(Invocation {
            request_id: format!("bench-{i}"),
            trace_header: Some(format!(
                "Root=1-5759e988-{i:024x};Parent={};Sampled=1",
                support::XRAY_PARENT
            )),
            body: event("alb.json"),
        });
        let ok = matches!(
            self.api.next_outcome().await,
            Some(Outcome::Response { body, .. }) if body["statusCode"] == 200
        );
        let (at, spans) = self.next_call().await?;
        Ok((at - handed_out, spans - spans_before, ok))
    }

    fn stop(self) {
        self.app.signal("TERM");
        let mut app = self.app;
        app.wait_exit(Duration::from_secs(5));
    }
}

/// Where the functions send spans, and the peer's binary if there is one.
struct Sinks {
    otlp: Receiver,
    udp: XrayUdp,
    peer: Option<String>,
}

async fn lambda(cold_starts: usize, invocations: usize) -> TestResult {
    let sinks = Sinks {
        otlp: Receiver::start().await?,
        udp: XrayUdp::start().await?,
        peer: std::env::var("BENCH_PEER_OTEL_LITE").ok(),
    };
    // Tracing on and off with EMF metrics, then nothing: the last two give the
    // metrics' cost; `direct` signs spans as for the X-Ray OTLP endpoint.
    let mut runs = vec![
        ("otlp", "otlp", "emf"),
        ("direct", "direct", "emf"),
        ("xray-udp", "xray-udp", "emf"),
        ("none", "none", "emf"),
        ("none-nometrics", "none", "none"),
    ];
    if sinks.peer.is_some() {
        runs.push(("otel-lite", "otel-lite", "none"));
    }
    for (label, exporter, metrics) in runs {
        let mut init = Vec::new();
        let mut cold = Vec::new();
        let mut errors = 0;
        for _ in 0..cold_starts {
            let mut function = Function::start(&sinks, exporter, metrics).await?;
            let (first, spans) = function.next_call().await?;
            init.push(first - function.exec);
            let (took, _, ok) = function.invoke(0, spans).await?;
            cold.push(took);
            errors += usize::from(!ok);
            function.stop();
        }
        let mut function = Function::start(&sinks, exporter, metrics).await?;
        let (first, mut spans) = function.next_call().await?;
        init.push(first - function.exec);
        let mut warm = Vec::with_capacity(invocations);
        let mut flushed = Vec::with_capacity(invocations);
        for i in 0..invocations {
            let (took, delivered, ok) = function.invoke(i, spans).await?;
            // The first invocation of the process is a cold one.
            if i == 0 {
                cold.push(took);
            } else {
                warm.push(took);
            }
            spans += delivered;
            flushed.push(delivered);
            errors += usize::from(!ok);
        }
        function.stop();
        emit(json!({
            "kind": "lambda",
            "exporter": label,
            "metrics": metrics,
            "init_ms": summary(&init),
            "cold_ms": summary(&cold),
            "warm_ms": summary(&warm),
            "spans_flushed_before_next": {
                "min": flushed.iter().min(),
                "max": flushed.iter().max(),
                "total": flushed.iter().sum::<u64>(),
            },
            "invocations": invocations + cold_starts,
            "errors": errors,
            "binary": match (label, &sinks.peer) {
                ("otel-lite", Some(peer)) => peer.as_str(),
                _ => binary(),
            },
        }));
    }
    Ok(())
}
