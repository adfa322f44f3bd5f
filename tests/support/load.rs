//! A small, bounded load generator: a fixed request rate over a few
//! keep-alive connections (one client per worker), for a fixed time or until
//! told to stop, recording every request's start, latency and outcome.
//!
//! Open-loop within a worker's tick: a slow server does not make the
//! generator send more (missed ticks are delayed, not burst).

use std::{
    collections::BTreeMap,
    time::{Duration, Instant},
};

use tokio::sync::watch;

/// What to send.
#[derive(Clone, Debug)]
pub struct Load {
    pub url: String,
    /// Requests per second over all workers.
    pub rate: u32,
    /// Workers, each with its own connection.
    pub workers: usize,
    /// Upper bound on the run; a stop signal may end it earlier.
    pub duration: Duration,
    /// Headers on every request.
    pub headers: Vec<(String, String)>,
}

/// One request as the client saw it.
#[derive(Clone, Debug)]
pub struct Sample {
    pub started: Instant,
    pub latency: Duration,
    /// The status, or the transport error's text.
    pub outcome: Result<u16, String>,
}

#[derive(Clone, Debug, Default)]
pub struct Report {
    pub samples: Vec<Sample>,
}

impl Report {
    pub fn sent(&self) -> usize {
        self.samples.len()
    }

    /// Requests that got a 2xx.
    pub fn succeeded(&self) -> usize {
        self.samples
            .iter()
            .filter(|s| matches!(s.outcome, Ok(c) if (200..300).contains(&c)))
            .count()
    }

    pub fn failed(&self) -> usize {
        self.sent() - self.succeeded()
    }

    /// Count per status code; transport errors under 0.
    pub fn statuses(&self) -> BTreeMap<u16, usize> {
        let mut out = BTreeMap::new();
        for s in &self.samples {
            *out.entry(*s.outcome.as_ref().unwrap_or(&0)).or_default() += 1;
        }
        out
    }

    /// The first few failures, for assertion messages.
    pub fn failures(&self, limit: usize) -> Vec<String> {
        self.samples
            .iter()
            .filter(|s| !matches!(s.outcome, Ok(c) if (200..300).contains(&c)))
            .take(limit)
            .map(|s| format!("{:?}", s.outcome))
            .collect()
    }

    /// The `q` quantile (0.0..=1.0) of successful requests' latency.
    pub fn quantile(&self, q: f64) -> Duration {
        let mut ok: Vec<Duration> = self
            .samples
            .iter()
            .filter(|s| s.outcome.is_ok())
            .map(|s| s.latency)
            .collect();
        if ok.is_empty() {
            return Duration::ZERO;
        }
        ok.sort_unstable();
        let rank = ((ok.len() as f64 * q).ceil() as usize).clamp(1, ok.len());
        ok[rank - 1]
    }

    pub fn p50(&self) -> Duration {
        self.quantile(0.50)
    }

    pub fn p99(&self) -> Duration {
        self.quantile(0.99)
    }

    pub fn max(&self) -> Duration {
        self.quantile(1.0)
    }

    /// One line for logs and RELIABILITY.md.
    pub fn summary(&self) -> String {
        format!(
            "sent {} ok {} failed {} p50 {:.1} ms p99 {:.1} ms max {:.1} ms statuses {:?}",
            self.sent(),
            self.succeeded(),
            self.failed(),
            ms(self.p50()),
            ms(self.p99()),
            ms(self.max()),
            self.statuses()
        )
    }
}

pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Runs `load` for its whole duration.
pub async fn run(load: &Load) -> Report {
    let (_keep, stop) = watch::channel(false);
    let (progress, _) = watch::channel(0);
    run_until(load, stop, progress).await
}

/// Runs `load` until `stop` turns true (or its duration ends), counting
/// completed requests in `progress`. Requests already sent when `stop`
/// turns true are awaited, not abandoned.
pub async fn run_until(
    load: &Load,
    stop: watch::Receiver<bool>,
    progress: watch::Sender<usize>,
) -> Report {
    let progress = std::sync::Arc::new(progress);
    let period = Duration::from_secs_f64(load.workers as f64 / f64::from(load.rate.max(1)));
    let end = Instant::now() + load.duration;
    // Bounded loop: never more ticks than the duration allows.
    let max_per_worker = (load.duration.as_secs_f64() / period.as_secs_f64()).ceil() as usize + 1;
    let mut workers = tokio::task::JoinSet::new();
    for worker in 0..load.workers {
        let load = load.clone();
        let mut stop = stop.clone();
        let progress = progress.clone();
        workers.spawn(async move {
            let client = super::client();
            let mut samples = Vec::with_capacity(max_per_worker);
            let mut tick = tokio::time::interval_at(
                tokio::time::Instant::now() + period.mul_f64(worker as f64 / load.workers as f64),
                period,
            );
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            for _ in 0..max_per_worker {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = stop.wait_for(|s| *s) => break,
                }
                if Instant::now() >= end || *stop.borrow() {
                    break;
                }
                samples.push(send(&client, &load).await);
                progress.send_modify(|n| *n += 1);
            }
            samples
        });
    }
    let mut report = Report::default();
    while let Some(samples) = workers.join_next().await {
        report
            .samples
            .extend(samples.expect("load worker panicked"));
    }
    report.samples.sort_by_key(|s| s.started);
    report
}

async fn send(client: &reqwest::Client, load: &Load) -> Sample {
    let started = Instant::now();
    let mut request = client.get(&load.url);
    for (k, v) in &load.headers {
        request = request.header(k, v);
    }
    let outcome = match request.send().await {
        Ok(response) => {
            let status = response.status().as_u16();
            // The whole body, so latency covers the full response.
            match response.bytes().await {
                Ok(_) => Ok(status),
                Err(e) => Err(format!("body: {e}")),
            }
        }
        Err(e) => Err(error_chain(&e)),
    };
    Sample {
        started,
        latency: started.elapsed(),
        outcome,
    }
}

/// The error and its sources on one line (reqwest's own text hides the cause).
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        text.push_str(": ");
        text.push_str(&e.to_string());
        source = e.source();
    }
    text
}

/// `/proc/<pid>/status` field in KiB (`VmRSS`, `VmHWM`).
pub fn status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with(field) && l[field.len()..].starts_with(':'))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// Threads of `pid`.
pub fn thread_count(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .map(|d| d.count())
        .unwrap_or(0)
}

/// Open file descriptors of `pid`.
pub fn fd_count(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0)
}
