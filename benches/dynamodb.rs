//! What the AWS SDK costs, for `bench/run.sh`, against DynamoDB Local
//! (installed by tests/tools.sh) on 127.0.0.1:
//!
//! - Lambda init with `USERS_TABLE` set (the aws-config load included):
//!   exec to the first `/next`, and the first invocation (a `GetItem`);
//! - server CPU per `GET /api/users/{id}` on the HTTP target, DynamoDB Local
//!   next to the in-process store, full tracing exported to a receiver.
//!
//! Prints one JSON object per line. Counts: `BENCH_COLD_STARTS` [20],
//! `BENCH_DDB_REQUESTS` [2000].

#[path = "../tests/support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use serde_json::json;
use support::{
    TestResult,
    dynamodb::{DynamoDbLocal, aws_env, seed},
    lambda_api::{Invocation, Outcome, RuntimeApi, event},
    otlp::Receiver,
    process::{App, command},
};

/// Concurrent clients of the CPU measurement.
const CLIENTS: usize = 8;

fn count(key: &str, default: usize) -> usize {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn emit(value: serde_json::Value) {
    use std::io::Write;
    let _ = writeln!(std::io::stdout(), "{value}");
}

fn ms(samples: &mut [Duration]) -> serde_json::Value {
    samples.sort();
    let at =
        |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize].as_secs_f64() * 1e3;
    json!({"p50": at(0.5), "p99": at(0.99), "min": at(0.0), "max": at(1.0), "n": samples.len()})
}

/// utime + stime of `pid`, in clock ticks (100 per second on Linux).
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after_name = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let field = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    field(11) + field(12)
}

fn main() -> TestResult {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let db = DynamoDbLocal::start()?;
        seed(&db.endpoint(), 100)?;
        let receiver = Receiver::start().await?;
        lambda_init(&db, &receiver, count("BENCH_COLD_STARTS", 20)).await?;
        let requests = count("BENCH_DDB_REQUESTS", 2000);
        for store in ["memory", "dynamodb"] {
            cpu_per_request(&db, &receiver, store, requests).await?;
        }
        Ok(())
    })
}

async fn lambda_init(db: &DynamoDbLocal, receiver: &Receiver, starts: usize) -> TestResult {
    let mut init = Vec::new();
    let mut cold = Vec::new();
    for i in 0..starts {
        let (tx, mut nexts) = tokio::sync::mpsc::unbounded_channel();
        let spans = receiver.counter();
        let mut api = RuntimeApi::start(move || {
            let _ = tx.send(Instant::now());
            spans()
        })
        .await?;
        let mut env = api.lambda_env();
        env.extend(aws_env(&db.endpoint()));
        env.push(("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.http_endpoint()));
        let exec = Instant::now();
        let mut app = App::spawn(command(&env))?;
        // The first `/next` ends init.
        match tokio::time::timeout(support::DEADLINE, nexts.recv()).await {
            Ok(Some(at)) => init.push(at - exec),
            _ => return Err(format!("no /next: {:?}", app.output()).into()),
        }
        let handed_out = Instant::now();
        api.push(Invocation {
            request_id: format!("bench-{i}"),
            trace_header: None,
            body: event("alb.json"),
        });
        match api.next_outcome().await {
            Some(Outcome::Response { body, .. }) if body["statusCode"] == 200 => {}
            other => return Err(format!("cold invocation failed: {other:?}").into()),
        }
        cold.push(handed_out.elapsed());
        app.signal("TERM");
        app.wait_exit(Duration::from_secs(5));
    }
    emit(json!({"kind": "dynamodb_lambda", "init_ms": ms(&mut init), "cold_ms": ms(&mut cold)}));
    Ok(())
}

async fn cpu_per_request(
    db: &DynamoDbLocal,
    receiver: &Receiver,
    store: &str,
    n: usize,
) -> TestResult {
    let mut env = vec![
        ("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.http_endpoint()),
        ("USERS_LATENCY_MS", "0".to_owned()),
    ];
    if store == "dynamodb" {
        env.extend(aws_env(&db.endpoint()));
    }
    let mut app = App::start_http(&env)?;
    let client = support::client();
    let url = app.url("/api/users/42");
    let run = |count: usize| {
        let (client, url) = (client.clone(), url.clone());
        async move {
            let tasks: Vec<_> = (0..CLIENTS)
                .map(|_| {
                    let (client, url) = (client.clone(), url.clone());
                    tokio::spawn(async move {
                        let mut errors = 0;
                        for _ in 0..count / CLIENTS {
                            let ok = client
                                .get(&url)
                                .send()
                                .await
                                .is_ok_and(|r| r.status() == 200);
                            errors += usize::from(!ok);
                        }
                        errors
                    })
                })
                .collect();
            let mut errors = 0;
            for task in tasks {
                errors += task.await.unwrap_or(1);
            }
            errors
        }
    };
    run(n / 4).await; // warm-up: connections, JIT of DynamoDB Local
    let before = cpu_ticks(app.pid());
    let started = Instant::now();
    let errors = run(n).await;
    let took = started.elapsed();
    let ticks = cpu_ticks(app.pid()) - before;
    let sent = n / CLIENTS * CLIENTS;
    emit(json!({
        "kind": "dynamodb_cpu",
        "store": store,
        "cpu_us_per_request": ticks as f64 * 1e4 / sent as f64,
        "rps": sent as f64 / took.as_secs_f64(),
        "requests": sent,
        "errors": errors,
    }));
    app.terminate(Duration::from_secs(25));
    Ok(())
}
