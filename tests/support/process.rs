//! Runs the real binary as a child process with a clean environment, reads
//! its JSON log lines, and stops it by PID.

use std::{
    io::{BufRead, BufReader},
    process::{Child, Command, ExitStatus, Stdio},
    sync::mpsc,
    time::{Duration, Instant},
};

use serde_json::Value;

pub struct App {
    child: Child,
    pub port: u16,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

pub fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_axum-xray-otel")
}

/// A command for the binary with only `env` set (plus PATH and a quiet default log level).
pub fn command(env: &[(&str, String)]) -> Command {
    let mut cmd = Command::new(binary());
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

impl App {
    /// Starts the HTTP target on port 0 and waits for its `listening` line.
    pub fn start_http(env: &[(&str, String)]) -> std::io::Result<Self> {
        let mut env = env.to_vec();
        env.push(("PORT", "0".to_owned()));
        env.push(("APP_TARGET", "http".to_owned()));
        let mut app = Self::spawn(command(&env))?;
        let line = app
            .wait_for_log(|v| v["message"] == "listening")
            .ok_or_else(|| std::io::Error::other("no listening line"))?;
        let address = line["address"].as_str().unwrap_or_default();
        app.port = address
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .unwrap_or(0);
        Ok(app)
    }

    /// Starts the binary with `cmd`'s environment, without waiting for anything.
    pub fn spawn(mut cmd: Command) -> std::io::Result<Self> {
        let mut child = cmd.spawn()?;
        let (tx, lines) = mpsc::channel();
        // A test may send stdout to a file instead (read as the child writes it).
        if let Some(stdout) = child.stdout.take() {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                    let _ = tx.send(line);
                }
            });
        }
        let stderr = child.stderr.take().expect("piped stderr");
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = tx.send(format!("stderr: {line}"));
            }
        });
        Ok(Self {
            child,
            port: 0,
            lines,
            seen: Vec::new(),
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Waits (up to the deadline) for a JSON log line matching `pred`.
    pub fn wait_for_log(&mut self, pred: impl Fn(&Value) -> bool) -> Option<Value> {
        self.wait_for_log_after(0, pred)
    }

    /// How many lines have been read so far: a mark for [`App::wait_for_log_after`].
    pub fn mark(&mut self) -> usize {
        self.output().len()
    }

    /// Like [`App::wait_for_log`], ignoring the first `mark` lines.
    pub fn wait_for_log_after(
        &mut self,
        mark: usize,
        pred: impl Fn(&Value) -> bool,
    ) -> Option<Value> {
        let earlier = self
            .seen
            .iter()
            .skip(mark)
            .filter_map(|line| serde_json::from_str::<Value>(line).ok())
            .find(|v| pred(v));
        if earlier.is_some() {
            return earlier;
        }
        let end = Instant::now() + super::DEADLINE;
        loop {
            let left = end.checked_duration_since(Instant::now())?;
            let line = self.lines.recv_timeout(left).ok()?;
            self.seen.push(line.clone());
            if let Ok(value) = serde_json::from_str::<Value>(&line)
                && pred(&value)
            {
                return Some(value);
            }
        }
    }

    /// Every output line so far (for assertions and failure messages).
    pub fn output(&mut self) -> Vec<String> {
        while let Ok(line) = self.lines.try_recv() {
            self.seen.push(line);
        }
        self.seen.clone()
    }

    pub fn signal(&self, signal: &str) {
        let _ = Command::new("kill")
            .args([&format!("-{signal}"), &self.pid().to_string()])
            .status();
    }

    /// Waits for the process to exit on its own, up to `limit`.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        let end = Instant::now() + limit;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            if Instant::now() >= end {
                return None;
            }
            // Polling an exit status, not synchronising on time.
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// SIGTERM, then asserts the process exits 0 within `limit`.
    pub fn terminate(&mut self, limit: Duration) {
        self.signal("TERM");
        let status = self.wait_exit(limit);
        assert_eq!(
            status.and_then(|s| s.code()),
            Some(0),
            "exit status; output: {:#?}",
            self.output()
        );
    }

    /// Peak resident memory (VmHWM) in KiB.
    pub fn peak_rss_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).ok()?;
        status
            .lines()
            .find(|l| l.starts_with("VmHWM:"))?
            .split_whitespace()
            .nth(1)?
            .parse()
            .ok()
    }
}

impl Drop for App {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
