//! moto's server (an independent implementation of AWS APIs, pinned in
//! tests/tools.txt) on a free 127.0.0.1 port, stopped by PID on drop, with
//! the few SQS calls a test makes itself.

use std::{
    net::{SocketAddr, TcpListener, TcpStream},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use serde_json::{Value, json};

pub struct Moto {
    child: Child,
    pub addr: SocketAddr,
}

impl Moto {
    pub fn start() -> std::io::Result<Self> {
        let root = env!("CARGO_MANIFEST_DIR");
        let tools = Command::new("bash")
            .arg(format!("{root}/tests/tools.sh"))
            .stderr(Stdio::inherit())
            .output()?;
        if !tools.status.success() {
            return Err(std::io::Error::other("tests/tools.sh failed"));
        }
        let bin = String::from_utf8_lossy(&tools.stdout).trim().to_owned();
        // moto_server takes no port 0; a port the kernel just handed out is
        // free unless something grabs it in the next few milliseconds.
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let child = Command::new(format!("{bin}/moto_server"))
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        let mut moto = Self {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
        };
        moto.wait_until_listening()?;
        Ok(moto)
    }

    /// Polls the port (a readiness check, not a timed wait) until it accepts.
    fn wait_until_listening(&mut self) -> std::io::Result<()> {
        let end = Instant::now() + super::DEADLINE;
        loop {
            if TcpStream::connect_timeout(&self.addr, Duration::from_millis(200)).is_ok() {
                return Ok(());
            }
            if let Some(status) = self.child.try_wait()? {
                return Err(std::io::Error::other(format!("moto exited: {status}")));
            }
            if Instant::now() > end {
                return Err(std::io::Error::other("moto did not start listening"));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// One call of SQS's JSON protocol. moto checks no signature but picks
    /// the service from the credential scope.
    pub async fn sqs(&self, action: &str, body: Value) -> super::TestResult<Value> {
        let scope = "Credential=AKIDTEST/20260101/us-east-1/sqs/aws4_request";
        let response = super::client()
            .post(self.endpoint())
            .header(
                "authorization",
                format!("AWS4-HMAC-SHA256 {scope}, SignedHeaders=host, Signature=0"),
            )
            .header("content-type", "application/x-amz-json-1.0")
            .header("x-amz-target", format!("AmazonSQS.{action}"))
            .body(body.to_string())
            .send()
            .await?;
        let status = response.status();
        let body: Value = serde_json::from_slice(&response.bytes().await?)?;
        if !status.is_success() {
            return Err(format!("SQS {action}: {status} {body}").into());
        }
        Ok(body)
    }

    /// Creates the queue `name`; its URL.
    pub async fn create_queue(&self, name: &str) -> super::TestResult<String> {
        let created = self.sqs("CreateQueue", json!({"QueueName": name})).await?;
        Ok(created["QueueUrl"]
            .as_str()
            .ok_or("CreateQueue answered no QueueUrl")?
            .to_owned())
    }

    /// The bodies of the messages waiting in the queue (up to 10).
    pub async fn receive(&self, queue_url: &str) -> super::TestResult<Vec<String>> {
        let received = self
            .sqs(
                "ReceiveMessage",
                json!({"QueueUrl": queue_url, "MaxNumberOfMessages": 10}),
            )
            .await?;
        Ok(received["Messages"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|m| m["Body"].as_str().map(str::to_owned))
            .collect())
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
