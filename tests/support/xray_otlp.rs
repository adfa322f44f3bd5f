//! A double of the X-Ray OTLP endpoint (`/v1/traces`, plain HTTP on
//! 127.0.0.1:0). Every request's SigV4 signature is recomputed by botocore
//! (`sigv4_verify.py`, a child process stopped by PID) from the credentials
//! the test registers; a bad one gets 403, as from X-Ray. Accepted requests
//! are decoded (gzip too) and their spans sent to a channel with the access
//! key that signed them. A mode makes it answer as X-Ray does when
//! Transaction Search is off, when throttling, or when a request is too large.

use std::{
    collections::HashMap,
    io::{BufRead, BufReader, Write},
    net::SocketAddr,
    process::{Child, ChildStdin, ChildStdout, Command, Stdio},
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
};

use axum::{
    Router,
    body::Bytes,
    extract::State,
    http::{HeaderMap, Method, StatusCode, Uri},
    routing::post,
};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::otlp::Received;

pub const REGION: &str = "eu-west-1";

/// A span as received, and the access key whose signature carried it.
#[derive(Clone, Debug)]
pub struct Signed {
    pub span: Received,
    pub access_key: String,
}

/// How the endpoint answers a correctly signed request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Answer {
    Accept,
    TransactionSearchOff,
    Throttle,
    TooLarge,
}

/// A request as it arrived, for replays.
#[derive(Clone, Debug)]
pub struct Raw {
    pub headers: HeaderMap,
    pub body: Bytes,
}

#[derive(Clone)]
struct Shared {
    verifier: Arc<Verifier>,
    credentials: Arc<Mutex<HashMap<String, Value>>>,
    answer: Arc<Mutex<Answer>>,
    tx: mpsc::UnboundedSender<Signed>,
    spans: Arc<AtomicU64>,
    rejected: Arc<Mutex<Vec<String>>>,
    last_accepted: Arc<Mutex<Option<Raw>>>,
}

pub struct XrayEndpoint {
    pub addr: SocketAddr,
    pub spans: mpsc::UnboundedReceiver<Signed>,
    shared: Shared,
}

impl XrayEndpoint {
    pub async fn start() -> std::io::Result<Self> {
        let (tx, spans) = mpsc::unbounded_channel();
        let shared = Shared {
            verifier: Arc::new(Verifier::start()?),
            credentials: Arc::default(),
            answer: Arc::new(Mutex::new(Answer::Accept)),
            tx,
            spans: Arc::default(),
            rejected: Arc::default(),
            last_accepted: Arc::default(),
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let app = Router::new()
            .route("/v1/traces", post(put_spans))
            .with_state(shared.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Ok(Self {
            addr,
            spans,
            shared,
        })
    }

    /// The traces endpoint, as `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`.
    pub fn endpoint(&self) -> String {
        format!("http://{}/v1/traces", self.addr)
    }

    /// Credentials whose signatures are accepted (as IAM knows them).
    pub fn allow(&self, access_key: &str, secret: &str, token: Option<&str>) {
        self.shared.credentials.lock().unwrap().insert(
            access_key.to_owned(),
            json!({ "secret": secret, "token": token }),
        );
    }

    pub fn answer(&self, answer: Answer) {
        *self.shared.answer.lock().unwrap() = answer;
    }

    /// Why each rejected request was rejected, so far.
    pub fn rejections(&self) -> Vec<String> {
        self.shared.rejected.lock().unwrap().clone()
    }

    pub fn last_accepted(&self) -> Option<Raw> {
        self.shared.last_accepted.lock().unwrap().clone()
    }

    /// A reader of the span count that the Runtime API double samples.
    pub fn counter(&self) -> impl Fn() -> u64 + Send + Sync + 'static {
        let spans = Arc::clone(&self.shared.spans);
        move || spans.load(Ordering::SeqCst)
    }

    /// Waits for the next span matching `pred`, up to the test deadline.
    pub async fn next_matching(&mut self, pred: impl Fn(&Signed) -> bool) -> Option<Signed> {
        loop {
            let span = tokio::time::timeout(super::DEADLINE, self.spans.recv())
                .await
                .ok()
                .flatten()?;
            if pred(&span) {
                return Some(span);
            }
        }
    }

    pub fn drain(&mut self) -> Vec<Signed> {
        let mut out = Vec::new();
        while let Ok(span) = self.spans.try_recv() {
            out.push(span);
        }
        out
    }

    /// Sends `raw` again with a body of the test's choosing: what the
    /// endpoint answers and, on 403, why.
    pub async fn replay(&self, raw: &Raw) -> std::io::Result<u16> {
        let response = super::client()
            .post(self.endpoint())
            .headers(raw.headers.clone())
            .body(raw.body.clone())
            .send()
            .await
            .map_err(std::io::Error::other)?;
        Ok(response.status().as_u16())
    }
}

async fn put_spans(
    State(shared): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, String) {
    let host = headers
        .get("host")
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default();
    let request = json!({
        "method": method.as_str(),
        "url": format!("http://{host}{uri}"),
        "headers": headers
            .iter()
            .map(|(k, v)| [k.as_str(), v.to_str().unwrap_or_default()])
            .collect::<Vec<_>>(),
        "body": body.iter().map(|b| format!("{b:02x}")).collect::<String>(),
        "service": "xray",
        "region": REGION,
        "credentials": Value::Object(shared.credentials.lock().unwrap().clone().into_iter().collect()),
    });
    let verifier = Arc::clone(&shared.verifier);
    let verdict = tokio::task::spawn_blocking(move || verifier.verify(&request))
        .await
        .unwrap_or_else(|e| json!({"ok": false, "reason": e.to_string()}));
    if verdict["ok"] != true {
        let reason = verdict["reason"].as_str().unwrap_or("?").to_owned();
        shared.rejected.lock().unwrap().push(reason.clone());
        let message = if reason == "unknown access key" {
            "The security token included in the request is invalid.".to_owned()
        } else {
            format!("The request signature we calculated does not match ({reason})")
        };
        return error(StatusCode::FORBIDDEN, &message);
    }
    let answer = *shared.answer.lock().unwrap();
    match answer {
        Answer::Accept => {}
        Answer::TransactionSearchOff => {
            return error(
                StatusCode::BAD_REQUEST,
                "Transaction Search is not enabled for this account. Call UpdateTraceSegmentDestination to set the destination to CloudWatch Logs.",
            );
        }
        Answer::Throttle => return error(StatusCode::TOO_MANY_REQUESTS, "Rate exceeded"),
        Answer::TooLarge => {
            return error(StatusCode::PAYLOAD_TOO_LARGE, "Request entity too large");
        }
    }
    let Some(decoded) = super::otlp::gunzip_if_needed(&headers, body.clone()) else {
        return error(StatusCode::BAD_REQUEST, "bad gzip");
    };
    let Ok(request) = ExportTraceServiceRequest::decode(decoded) else {
        return error(StatusCode::BAD_REQUEST, "not an OTLP protobuf request");
    };
    *shared.last_accepted.lock().unwrap() = Some(Raw {
        headers: headers.clone(),
        body,
    });
    let access_key = verdict["access_key"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    for resource_spans in request.resource_spans {
        let resource = resource_spans
            .resource
            .map(|r| r.attributes)
            .unwrap_or_default();
        for scope in resource_spans.scope_spans {
            for span in scope.spans {
                shared.spans.fetch_add(1, Ordering::SeqCst);
                let _ = shared.tx.send(Signed {
                    span: Received {
                        span,
                        resource: resource.clone(),
                    },
                    access_key: access_key.clone(),
                });
            }
        }
    }
    (StatusCode::OK, String::new())
}

fn error(status: StatusCode, message: &str) -> (StatusCode, String) {
    (status, json!({ "message": message }).to_string())
}

/// botocore's signer in a Python child process, one JSON line each way.
pub struct Verifier {
    child: Mutex<Child>,
    io: Mutex<(ChildStdin, BufReader<ChildStdout>)>,
}

impl Verifier {
    pub fn start() -> std::io::Result<Self> {
        let root = env!("CARGO_MANIFEST_DIR");
        // The pinned, cached tools venv (botocore is in tests/tools.txt).
        let tools = Command::new("bash")
            .arg(format!("{root}/tests/tools.sh"))
            .stderr(Stdio::inherit())
            .output()?;
        if !tools.status.success() {
            return Err(std::io::Error::other("tests/tools.sh failed"));
        }
        let bin = String::from_utf8_lossy(&tools.stdout).trim().to_owned();
        let mut child = Command::new(format!("{bin}/python"))
            .arg(format!("{root}/tests/support/sigv4_verify.py"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()?;
        let stdin = child.stdin.take().expect("piped stdin");
        let stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        Ok(Self {
            child: Mutex::new(child),
            io: Mutex::new((stdin, stdout)),
        })
    }

    /// The verdict of `sigv4_verify.py` on one request (its JSON shape).
    pub fn verify(&self, request: &Value) -> Value {
        let mut io = self.io.lock().unwrap();
        let (stdin, stdout) = &mut *io;
        let mut line = String::new();
        let sent = writeln!(stdin, "{request}").and_then(|()| stdin.flush());
        match sent.and_then(|()| stdout.read_line(&mut line)) {
            Ok(n) if n > 0 => serde_json::from_str(&line)
                .unwrap_or_else(|e| json!({"ok": false, "reason": e.to_string()})),
            other => json!({"ok": false, "reason": format!("verifier gone: {other:?}")}),
        }
    }
}

impl Drop for Verifier {
    fn drop(&mut self) {
        let mut child = self.child.lock().unwrap();
        let _ = child.kill();
        let _ = child.wait();
    }
}
