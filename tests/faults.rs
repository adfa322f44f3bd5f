//! Faults around the HTTP target, with the real binary under load: a
//! collector that is absent, refusing or hanging; SIGTERM with requests in
//! flight; a downstream that hangs, resets or answers garbage.
//!
//! Each fault window lasts `FAULT_WINDOW_SECS` (default 5; RELIABILITY.md
//! has the figures of a 30 s run). Figures go to stderr
//! (`cargo nextest run --test faults --no-capture`).

mod support;

use std::{
    collections::HashSet,
    time::{Duration, Instant},
};

use serde_json::Value;
use support::{
    TestResult, client,
    load::{self, Load, Report, ms},
    otlp::{ClosedPort, Mode, Receiver},
    process::App,
    upstream::{Behaviour, Fault, RawUpstream, Upstream},
};

/// Requests per second during collector faults: with two spans a request
/// the SDK's default 2,048-span queue fills within the first half-window.
const RATE: u32 = 400;
const WORKERS: usize = 16;
const KIB: u64 = 1024;

fn window() -> Duration {
    let secs = std::env::var("FAULT_WINDOW_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5u64);
    Duration::from_secs(secs)
}

/// The app's settings for collector-fault runs; everything else is the default.
fn collector_env(endpoint: &str) -> Vec<(&'static str, String)> {
    vec![
        ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.to_owned()),
        ("USERS_LATENCY_MS", "20".to_owned()),
        ("OTEL_BSP_SCHEDULE_DELAY", "500".to_owned()),
        // A hung collector holds the exporter this long per batch (default 10 s).
        (
            "OTEL_EXPORTER_OTLP_TIMEOUT",
            std::env::var("FAULT_OTLP_TIMEOUT_MS").unwrap_or_else(|_| "2000".to_owned()),
        ),
    ]
}

fn users_load(app: &App, duration: Duration) -> Load {
    Load {
        url: app.url("/api/users/42"),
        rate: RATE,
        workers: WORKERS,
        duration,
        headers: Vec::new(),
    }
}

/// A fault window in two halves, with resident memory read at the midpoint
/// and the end: once the span queue is full, memory must stop growing.
struct Window {
    report: Report,
    rss_mid_kib: u64,
    rss_end_kib: u64,
}

async fn fault_window(app: &App) -> Window {
    let half = window() / 2;
    let mut report = load::run(&users_load(app, half)).await;
    let rss_mid_kib = load::status_kib(app.pid(), "VmRSS").unwrap_or(0);
    report
        .samples
        .extend(load::run(&users_load(app, half)).await.samples);
    let rss_end_kib = load::status_kib(app.pid(), "VmRSS").unwrap_or(0);
    Window {
        report,
        rss_mid_kib,
        rss_end_kib,
    }
}

/// Sends `n` requests, each with its own X-Ray root, and returns the trace ids.
async fn marked_requests(app: &App, first: usize, n: usize) -> TestResult<HashSet<String>> {
    let mut ids = HashSet::new();
    for i in first..first + n {
        let trace = format!("{:08x}{:024x}", 0x6a00_0000u32 + i as u32, 0xabcdef + i);
        let header = format!("Root=1-{}-{};Sampled=1", &trace[..8], &trace[8..]);
        let response = client()
            .get(app.url("/api/users/7"))
            .header("x-amzn-trace-id", header)
            .send()
            .await?;
        assert_eq!(response.status(), 200);
        ids.insert(trace);
    }
    Ok(ids)
}

/// After a fault ends, export must resume: a marked request every 250 ms
/// until one's spans arrive (requests made while the span queue is still full
/// are dropped by design, and an export stuck on a hung collector holds the
/// queue until its timeout), then three more that must all arrive.
/// Returns the time to the first delivery and the marked requests sent first.
async fn await_export_resumed(app: &App, receiver: &mut Receiver) -> TestResult<(Duration, usize)> {
    let started = Instant::now();
    let mut sent = HashSet::new();
    loop {
        if started.elapsed() > support::DEADLINE {
            return Err(format!("no marked span arrived in {:?}", support::DEADLINE).into());
        }
        sent.extend(marked_requests(app, sent.len(), 1).await?);
        let arrived = tokio::time::timeout(
            Duration::from_millis(250),
            receiver.next_matching(|s| s.is_server() && sent.contains(&s.trace_id())),
        )
        .await;
        if let Ok(Some(_)) = arrived {
            break;
        }
    }
    let resumed = started.elapsed();
    let attempts = sent.len();
    await_traces(receiver, marked_requests(app, attempts, 3).await?).await?;
    Ok((resumed, attempts))
}

/// Waits until a server span of every trace in `ids` has arrived.
async fn await_traces(receiver: &mut Receiver, mut ids: HashSet<String>) -> TestResult {
    while !ids.is_empty() {
        let span = receiver
            .next_matching(|s| s.is_server() && ids.contains(&s.trace_id()))
            .await
            .ok_or_else(|| format!("spans of {ids:?} never arrived"))?;
        ids.remove(&span.trace_id());
    }
    Ok(())
}

/// The checks every collector fault shares; prints the figures.
fn check_fault(name: &str, healthy: &Report, fault: &Window, app: &App) {
    let peak_kib = load::status_kib(app.pid(), "VmHWM").unwrap_or(0);
    let ratio = ms(fault.report.p99()) / ms(healthy.p99()).max(0.001);
    eprintln!(
        "collector {name}: window {:?}\n  healthy: {}\n  fault:   {}\n  p99 ratio {ratio:.2} (goal <= 1.20); VmRSS mid {} KiB end {} KiB; VmHWM {peak_kib} KiB",
        window(),
        healthy.summary(),
        fault.report.summary(),
        fault.rss_mid_kib,
        fault.rss_end_kib,
    );
    for (label, report) in [("healthy", healthy), ("fault", &fault.report)] {
        assert!(report.sent() > 0, "{label}: no requests sent");
        assert_eq!(
            report.failed(),
            0,
            "{label}: {} of {} failed: {:?}",
            report.failed(),
            report.sent(),
            report.failures(5)
        );
    }
    // What is asserted: no request waits on the exporter, which would show
    // the export timeout (seconds). The goal, p99 within 20 % of the healthy
    // window, is a figure (RELIABILITY.md, from 30 s windows on a quiet
    // machine): 5 s windows on a shared 2-core runner moved by up to 40 %.
    let bound = healthy.p99().mul_f64(1.5) + Duration::from_millis(15);
    assert!(
        fault.report.p99() <= bound,
        "p99 under fault {:?} > bound {bound:?} (healthy {:?})",
        fault.report.p99(),
        healthy.p99()
    );
    assert!(
        fault.rss_end_kib <= fault.rss_mid_kib + 16 * KIB,
        "memory kept growing under fault: {} KiB -> {} KiB",
        fault.rss_mid_kib,
        fault.rss_end_kib
    );
    assert!(peak_kib < 256 * KIB, "peak RSS {peak_kib} KiB");
}

/// Waits for the exporter's rate-limited warning: proof the fault was hit.
fn expect_export_warning(app: &mut App) -> Value {
    let warning =
        tokio::task::block_in_place(|| app.wait_for_log(|v| v["message"] == "span export failing"));
    warning.unwrap_or_else(|| panic!("no export failure logged: {:#?}", app.output()))
}

fn stop_and_expect_exit_0(mut app: App) {
    tokio::task::block_in_place(|| app.terminate(Duration::from_secs(25)));
}

async fn collector_misbehaves_then_recovers(mode: Mode) -> TestResult {
    let mut receiver = Receiver::start().await?;
    let mut app = App::start_http(&collector_env(&receiver.http_endpoint()))?;
    let healthy = load::run(&users_load(&app, window())).await;
    receiver.set_mode(mode);
    let before = receiver.request_count();
    let fault = fault_window(&app).await;
    assert!(
        receiver.request_count() > before,
        "no export reached the collector during the fault"
    );
    expect_export_warning(&mut app);
    check_fault(&format!("{mode:?}"), &healthy, &fault, &app);

    receiver.set_mode(Mode::Accept);
    let (resumed, attempts) = await_export_resumed(&app, &mut receiver).await?;
    eprintln!(
        "collector {mode:?}: export resumed {:.0} ms after the collector recovered ({attempts} marked requests until the first arrived)",
        ms(resumed)
    );
    stop_and_expect_exit_0(app);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusing_collector_costs_requests_nothing_and_export_resumes() -> TestResult {
    collector_misbehaves_then_recovers(Mode::Refuse).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hanging_collector_costs_requests_nothing_and_export_resumes() -> TestResult {
    collector_misbehaves_then_recovers(Mode::Hang).await
}

/// The collector is absent first (a sidecar that has not started, or died):
/// connections to its port are refused. Then it arrives on that port.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn absent_collector_costs_requests_nothing_and_export_starts_when_it_arrives() -> TestResult {
    let closed = ClosedPort::new()?;
    let mut app = App::start_http(&collector_env(&closed.endpoint()))?;
    let fault = fault_window(&app).await;
    // What `cargo run` without a collector says: where, and what to do.
    let warning = expect_export_warning(&mut app);
    assert_eq!(
        warning["endpoint"],
        format!("{}/v1/traces", closed.endpoint()),
        "{warning}"
    );
    let hint = warning["hint"].as_str().unwrap_or_default();
    for advice in [
        "docker compose up",
        "OTEL_TRACES_EXPORTER=console",
        "OTEL_EXPORTER_OTLP_ENDPOINT",
    ] {
        assert!(hint.contains(advice), "{hint}");
    }

    let mut receiver = Receiver::start_on(closed.open()?).await?;
    let (resumed, attempts) = await_export_resumed(&app, &mut receiver).await?;
    eprintln!(
        "collector absent: export started {:.0} ms after the collector arrived ({attempts} marked requests until the first arrived)",
        ms(resumed)
    );
    let healthy = load::run(&users_load(&app, window())).await;
    check_fault("absent", &healthy, &fault, &app);
    stop_and_expect_exit_0(app);
    Ok(())
}

/// SIGTERM while requests are in flight and load keeps coming: every
/// request the server had accepted completes with 200, new connections are
/// refused, the completed requests' spans are exported, and the process
/// exits 0 well within the drain timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_under_load_drains_accepted_requests_and_exports_their_spans() -> TestResult {
    const IN_FLIGHT: usize = 50;
    // The whole shutdown budget: drain and both flushes.
    const DRAIN: Duration = Duration::from_secs(10);
    let mut receiver = Receiver::start().await?;
    let mut upstream = Upstream::start(Behaviour::Gated).await?;
    let mut env = collector_env(&receiver.http_endpoint());
    env.extend([
        ("EXTERNAL_URL", upstream.url()),
        ("EXTERNAL_TIMEOUT_MS", "15000".to_owned()),
        ("SHUTDOWN_TIMEOUT_SECS", DRAIN.as_secs().to_string()),
        // The SDK's default: a receiver slowed by a busy machine is no fault here.
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "10000".to_owned()),
    ]);
    let mut app = App::start_http(&env)?;

    // Background load on its own keep-alive connections, well under way
    // before anything else happens.
    let (stop_load, stop) = tokio::sync::watch::channel(false);
    let (progress, mut completed_so_far) = tokio::sync::watch::channel(0);
    let background = users_load(&app, Duration::from_secs(30));
    let background =
        tokio::spawn(async move { load::run_until(&background, stop, progress).await });
    tokio::time::timeout(support::DEADLINE, completed_so_far.wait_for(|n| *n >= 400)).await??;

    // Requests held inside the handler (the upstream waits for the gate).
    let mut held = tokio::task::JoinSet::new();
    let mut held_ids = HashSet::new();
    for i in 0..IN_FLIGHT {
        let trace = format!("6b000000{:024x}", 0x1000 + i);
        let header = format!("Root=1-{}-{};Sampled=1", &trace[..8], &trace[8..]);
        held_ids.insert(trace);
        let url = app.url("/api/external");
        held.spawn(async move {
            let response = client()
                .get(url)
                .header("x-amzn-trace-id", header)
                .send()
                .await?;
            let status = response.status().as_u16();
            let body: Value = serde_json::from_slice(&response.bytes().await?)?;
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>((status, body))
        });
    }
    for _ in 0..IN_FLIGHT {
        tokio::time::timeout(support::DEADLINE, upstream.requests.recv())
            .await?
            .ok_or("upstream closed")?;
    }

    let signalled = Instant::now();
    app.signal("TERM");
    let draining = tokio::task::block_in_place(|| {
        app.wait_for_log(|v| v["message"] == "shutting down: draining requests")
    });
    assert!(draining.is_some(), "no drain: {:#?}", app.output());
    let refused = tokio::net::TcpStream::connect(("127.0.0.1", app.port)).await;
    assert!(
        matches!(&refused, Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused),
        "a new connection while draining: {refused:?}"
    );
    let _ = stop_load.send(true);
    upstream.open_gate();

    let mut completed = 0;
    while let Some(result) = held.join_next().await {
        let (status, body) = result??;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["external_response"]["gated"], true);
        completed += 1;
    }
    assert_eq!(completed, IN_FLIGHT);
    let status = tokio::task::block_in_place(|| app.wait_exit(DRAIN + Duration::from_secs(5)));
    let exit_after = signalled.elapsed();
    assert_eq!(
        status.and_then(|s| s.code()),
        Some(0),
        "exit status; output: {:#?}",
        app.output()
    );
    assert!(exit_after < DRAIN, "exit took {exit_after:?}");

    let background = background.await?;
    // Accepted requests never fail; only connections the server closed or
    // refused after the signal may (the client sees a transport error).
    let statuses = background.statuses();
    assert!(
        statuses.keys().all(|&s| s == 0 || (200..300).contains(&s)),
        "{statuses:?}"
    );
    let late_errors: Vec<_> = background
        .samples
        .iter()
        .filter(|s| s.outcome.is_err())
        .map(|s| {
            let offset = s.started.saturating_duration_since(signalled);
            let before = signalled.saturating_duration_since(s.started);
            (ms(offset) - ms(before), s.outcome.clone())
        })
        .collect();

    let spans = receiver.drain();
    let exported: HashSet<String> = spans
        .iter()
        .filter(|s| s.is_server() && s.attr("http.response.status_code").as_deref() == Some("200"))
        .map(|s| s.trace_id())
        .collect();
    let missing: Vec<_> = held_ids.difference(&exported).collect();
    assert!(missing.is_empty(), "spans not exported for {missing:?}");
    let user_spans = spans
        .iter()
        .filter(|s| s.is_server() && s.span.name == "GET /api/users/{id}")
        .count();
    eprintln!(
        "sigterm: {IN_FLIGHT} held requests completed; background {}; transport errors (ms after signal, error) {:?}; exit {:.0} ms after SIGTERM; {user_spans} background server spans exported for {} 2xx",
        background.summary(),
        late_errors.iter().take(5).collect::<Vec<_>>(),
        ms(exit_after),
        background.succeeded(),
    );
    let tally = app.wait_for_log(|v| v["message"] == "every span exported");
    assert!(
        user_spans >= background.succeeded(),
        "{user_spans} spans for {} completed requests; {:#?}",
        background.succeeded(),
        app.output()
            .iter()
            .filter(|l| !l.contains("\"listening\""))
            .collect::<Vec<_>>()
    );
    // The shutdown accounts for every span: here, all exported.
    let tally = tally.ok_or_else(|| format!("no span tally: {:#?}", app.output()))?;
    let exported = tally["spans_exported"].as_u64().unwrap_or_default();
    assert!(
        exported as usize >= spans.len(),
        "{tally} for {} spans",
        spans.len()
    );
    Ok(())
}

/// A collector that stops answering as SIGTERM arrives cannot hold the
/// process past `SHUTDOWN_TIMEOUT_SECS`: requests in flight still finish,
/// the flushes give up within the budget, and the spans not exported are
/// counted in the last log line.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_collector_cannot_hold_shutdown_past_the_budget() -> TestResult {
    const BUDGET: Duration = Duration::from_secs(4);
    const IN_FLIGHT: usize = 50;
    let receiver = Receiver::start().await?;
    let mut upstream = Upstream::start(Behaviour::Gated).await?;
    let mut env = collector_env(&receiver.http_endpoint());
    env.extend([
        ("EXTERNAL_URL", upstream.url()),
        ("EXTERNAL_TIMEOUT_MS", "15000".to_owned()),
        ("SHUTDOWN_TIMEOUT_SECS", BUDGET.as_secs().to_string()),
        // Each export would hang this long: far past the budget.
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "30000".to_owned()),
    ]);
    let mut app = App::start_http(&env)?;
    let mut held = tokio::task::JoinSet::new();
    for _ in 0..IN_FLIGHT {
        let url = app.url("/api/external");
        held.spawn(async move { client().get(url).send().await.map(|r| r.status().as_u16()) });
    }
    for _ in 0..IN_FLIGHT {
        tokio::time::timeout(support::DEADLINE, upstream.requests.recv())
            .await?
            .ok_or("upstream closed")?;
    }
    receiver.set_mode(Mode::Hang);
    let signalled = Instant::now();
    app.signal("TERM");
    upstream.open_gate();
    while let Some(status) = held.join_next().await {
        assert_eq!(status??, 200);
    }
    let status = tokio::task::block_in_place(|| app.wait_exit(BUDGET + Duration::from_secs(10)));
    let exit_after = signalled.elapsed();
    assert_eq!(
        status.and_then(|s| s.code()),
        Some(0),
        "{:#?}",
        app.output()
    );
    assert!(
        exit_after < BUDGET,
        "exit took {exit_after:?}: {:#?}",
        app.output()
    );
    let lost = app
        .wait_for_log(|v| v["message"] == "spans lost")
        .ok_or_else(|| format!("no loss logged: {:#?}", app.output()))?;
    let unexported = lost["spans_unexported_at_shutdown"]
        .as_u64()
        .unwrap_or_default();
    let total = lost["spans_lost"].as_u64().unwrap_or_default();
    // Each held request made a server and a client span; none got out.
    assert!(total >= 2 * IN_FLIGHT as u64, "{lost}");
    eprintln!(
        "hanging collector: exit {:.0} ms after SIGTERM (budget {BUDGET:?}); {total} spans lost, {unexported} of them still queued",
        ms(exit_after)
    );
    Ok(())
}

/// A downstream that hangs, resets, speaks no HTTP, answers non-JSON or
/// 500, 10,000 times: every call gets a 502 or 504 JSON error within the
/// timeout, and threads, file descriptors and upstream connections return
/// to where they were.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn misbehaving_downstream_gets_502_or_504_without_leaks() -> TestResult {
    const CALLS: usize = 10_000;
    const CONCURRENCY: usize = 50;
    const TIMEOUT_MS: u64 = 100;
    static FAULTS: [Fault; 5] = [
        Fault::Hang,
        Fault::Reset,
        Fault::NotHttp,
        Fault::NotJson,
        Fault::ServerError,
    ];
    let receiver = Receiver::start().await?;
    let raw = RawUpstream::start(&FAULTS).await?;
    let app = App::start_http(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.http_endpoint()),
        ("EXTERNAL_URL", raw.url()),
        ("EXTERNAL_TIMEOUT_MS", TIMEOUT_MS.to_string()),
    ])?;
    let url = app.url("/api/external");
    let client = client();

    let warm_up = calls(&client, &url, 200, CONCURRENCY).await;
    assert!(warm_up.iter().all(|c| c.status == 502 || c.status == 504));
    settle(&raw).await?;
    let (threads_before, fds_before) = (load::thread_count(app.pid()), load::fd_count(app.pid()));

    let started = Instant::now();
    let results = calls(&client, &url, CALLS, CONCURRENCY).await;
    let elapsed = started.elapsed();
    settle(&raw).await?;
    let (threads_after, fds_after) = (load::thread_count(app.pid()), load::fd_count(app.pid()));

    let mut by_status = std::collections::BTreeMap::<u16, usize>::new();
    for c in &results {
        *by_status.entry(c.status).or_default() += 1;
    }
    let slowest = results.iter().map(|c| c.latency).max().unwrap_or_default();
    eprintln!(
        "downstream faults: {CALLS} calls in {:.1} s, statuses {by_status:?}, slowest {:.0} ms (timeout {TIMEOUT_MS} ms); threads {threads_before} -> {threads_after}, fds {fds_before} -> {fds_after}; upstream connections accepted {}",
        elapsed.as_secs_f64(),
        ms(slowest),
        raw.accepted()
    );
    for c in &results {
        let expected = if c.status == 504 {
            "gateway_timeout"
        } else {
            "bad_gateway"
        };
        assert!(c.status == 502 || c.status == 504, "{c:?}");
        assert_eq!(c.body["error"], expected, "{c:?}");
    }
    assert_eq!(results.len(), CALLS);
    // Every fault in the rotation was hit: hangs time out, the rest are 502.
    assert!(by_status.get(&504).copied().unwrap_or(0) >= CALLS / FAULTS.len() / 2);
    assert!(by_status.get(&502).copied().unwrap_or(0) >= CALLS / 2);
    assert!(
        slowest < Duration::from_millis(TIMEOUT_MS) + Duration::from_secs(2),
        "a call took {slowest:?}"
    );
    assert!(
        threads_after <= threads_before + 2,
        "threads {threads_before} -> {threads_after}"
    );
    assert!(
        fds_after <= fds_before + 10,
        "file descriptors {fds_before} -> {fds_after}"
    );
    Ok(())
}

#[derive(Debug)]
struct Call {
    status: u16,
    body: Value,
    latency: Duration,
}

/// `n` GETs of `url`, `concurrency` at a time (closed loop).
async fn calls(client: &reqwest::Client, url: &str, n: usize, concurrency: usize) -> Vec<Call> {
    let next = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..concurrency {
        let (client, url, next) = (client.clone(), url.to_owned(), next.clone());
        workers.spawn(async move {
            let mut out = Vec::new();
            while next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < n {
                let started = Instant::now();
                let response = client.get(&url).send().await.expect("the app answers");
                let status = response.status().as_u16();
                let body = response.bytes().await.expect("a whole body");
                out.push(Call {
                    status,
                    body: serde_json::from_slice(&body).unwrap_or(Value::Null),
                    latency: started.elapsed(),
                });
            }
            out
        });
    }
    let mut all = Vec::with_capacity(n);
    while let Some(part) = workers.join_next().await {
        all.extend(part.expect("worker"));
    }
    all
}

/// Waits (up to the deadline) until the app has closed every upstream
/// connection: hung ones are dropped when their call times out.
async fn settle(raw: &RawUpstream) -> TestResult {
    if raw.all_closed(support::DEADLINE).await {
        Ok(())
    } else {
        Err(format!("{} upstream connections left open", raw.open_connections()).into())
    }
}
