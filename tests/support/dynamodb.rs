//! DynamoDB Local (AWS's own engine, installed by tests/tools.sh) on a free
//! 127.0.0.1 port, stopped by PID on drop, and the environment that points
//! the binary at it.

use std::{
    net::{SocketAddr, TcpListener, TcpStream},
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

/// The table the tests use.
pub const TABLE: &str = "users";
pub const REGION: &str = "us-east-1";

pub struct DynamoDbLocal {
    child: Child,
    pub addr: SocketAddr,
}

/// Where tests/tools.sh put the jar (`DYNAMODB_LOCAL_DIR` overrides).
fn install_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("DYNAMODB_LOCAL_DIR") {
        return dir.into();
    }
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache")
        });
    cache.join("axum-xray-otel").join("dynamodb-local")
}

impl DynamoDbLocal {
    pub fn start() -> std::io::Result<Self> {
        let dir = install_dir();
        if !dir.join("DynamoDBLocal.jar").is_file() {
            return Err(std::io::Error::other(format!(
                "DynamoDB Local not found in {}: run `bash tests/tools.sh` (tests/run.sh does)",
                dir.display()
            )));
        }
        // DynamoDB Local takes no port 0; a port the kernel just handed out is
        // free unless something grabs it in the next few milliseconds.
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let child = Command::new("java")
            .current_dir(&dir)
            .args([
                "-Xmx256m",
                "-XX:+UseSerialGC",
                "-XX:TieredStopAtLevel=1",
                "-Djava.library.path=./DynamoDBLocal_lib",
                "-jar",
                "DynamoDBLocal.jar",
                "-inMemory",
                "-disableTelemetry",
                "-port",
                &port.to_string(),
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        let mut local = Self {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
        };
        local.wait_until_listening()?;
        Ok(local)
    }

    /// Polls the port (a readiness check, not a timed wait) until it accepts.
    fn wait_until_listening(&mut self) -> std::io::Result<()> {
        let end = Instant::now() + super::DEADLINE * 2;
        loop {
            if TcpStream::connect_timeout(&self.addr, Duration::from_millis(200)).is_ok() {
                return Ok(());
            }
            if let Some(status) = self.child.try_wait()? {
                return Err(std::io::Error::other(format!(
                    "DynamoDB Local exited: {status}"
                )));
            }
            if Instant::now() > end {
                return Err(std::io::Error::other(
                    "DynamoDB Local did not start listening",
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for DynamoDbLocal {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What the binary needs to use `endpoint` as DynamoDB: static test
/// credentials (DynamoDB Local checks none), the region, the SDK's own
/// endpoint override, and no instance-metadata probing.
pub fn aws_env(endpoint: &str) -> Vec<(&'static str, String)> {
    vec![
        ("AWS_REGION", REGION.to_owned()),
        ("AWS_ACCESS_KEY_ID", "AKIDTEST".to_owned()),
        ("AWS_SECRET_ACCESS_KEY", "secret".to_owned()),
        ("AWS_EC2_METADATA_DISABLED", "true".to_owned()),
        ("AWS_ENDPOINT_URL_DYNAMODB", endpoint.to_owned()),
        ("USERS_TABLE", TABLE.to_owned()),
    ]
}

/// Runs `axum-xray-otel seed-users --count N --create-table` against `endpoint`.
pub fn seed(endpoint: &str, count: u32) -> std::io::Result<String> {
    let output = super::process::command(&aws_env(endpoint))
        .args([
            "seed-users",
            "--count",
            &count.to_string(),
            "--create-table",
        ])
        .output()?;
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    if !output.status.success() {
        return Err(std::io::Error::other(format!(
            "seed-users failed: {}: {stdout} {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        )));
    }
    Ok(stdout)
}
