//! Hostile input against the real binary over raw TCP (reqwest would
//! normalise or refuse what we need to send): path and query abuse, bodies
//! over the limit, too many or too large headers, and clients that never
//! finish their headers. Bad input is a 4xx or a closed connection, never a
//! 5xx and never a worker held forever.

mod support;

use std::time::{Duration, Instant};

use serde_json::Value;
use support::{TestResult, process::App};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

/// A response read off the wire: status (None if the server closed the
/// connection without one), JSON body if there was one.
#[derive(Debug)]
struct Raw {
    status: Option<u16>,
    body: Option<Value>,
    head: String,
}

/// Sends `request` bytes on a new connection and reads until the server closes.
async fn send_raw(app: &App, request: &[u8]) -> TestResult<Raw> {
    let mut stream = TcpStream::connect(("127.0.0.1", app.port)).await?;
    // The server may answer (431, 413) and close before reading everything:
    // a failed write is fine, the response is what counts.
    let _ = stream.write_all(request).await;
    let mut bytes = Vec::new();
    let read = tokio::time::timeout(support::DEADLINE, async {
        let mut buf = [0u8; 8192];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) => break,
                Ok(n) => bytes.extend_from_slice(&buf[..n]),
                // A reset after the response was read still leaves the response.
                Err(_) => break,
            }
        }
    })
    .await;
    read.map_err(|_| "server neither answered nor closed")?;
    Ok(parse(&bytes))
}

fn parse(bytes: &[u8]) -> Raw {
    let text = String::from_utf8_lossy(bytes);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .strip_prefix("HTTP/1.1 ")
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse().ok());
    Raw {
        status,
        body: serde_json::from_str(body).ok(),
        head: head.to_owned(),
    }
}

fn get(target: &[u8]) -> Vec<u8> {
    let mut request = b"GET ".to_vec();
    request.extend_from_slice(target);
    request.extend_from_slice(b" HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n");
    request
}

fn start(extra: &[(&'static str, &str)]) -> std::io::Result<App> {
    let mut env = vec![
        // Spans would go nowhere; these tests are about the HTTP layer.
        ("OTEL_TRACES_EXPORTER", "none".to_owned()),
        ("USERS_LATENCY_MS", "0".to_owned()),
    ];
    env.extend(extra.iter().map(|(k, v)| (*k, (*v).to_owned())));
    App::start_http(&env)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn path_and_query_abuse_gets_4xx_never_5xx() -> TestResult {
    let app = start(&[])?;
    let long_id = format!("/api/users/{}", "9".repeat(8 * 1024));
    let long_path = format!("/{}", "a/".repeat(4 * 1024));
    let long_query = format!("/api/users/1?{}", "q=%00&".repeat(1300));
    // (target, expected status): None means "any 4xx".
    let cases: Vec<(&[u8], Option<u16>)> = vec![
        (b"/api/users/99999999999999999999", Some(404)),
        (b"/api/users/1001", Some(404)),
        (b"/api/users/0", Some(400)),
        (b"/api/users/-1", Some(400)),
        (b"/api/users/1e3", Some(400)),
        (b"/api/users/0x10", Some(400)),
        (b"/api/users/%201", Some(400)),
        (b"/api/users/%00", Some(400)),
        (b"/api/users/1%00", Some(400)),
        (b"/api/users/%FF%FE", Some(400)),
        (b"/api/users/%C0%AF", Some(400)),
        (b"/api/users/%", Some(400)),
        (b"/api/users/..%2F..%2Fetc%2Fpasswd", Some(400)),
        (b"/api/users/..", Some(400)),
        (b"/api/users/", Some(404)),
        (b"/../../etc/passwd", Some(404)),
        (b"/api/users/../../health", Some(404)),
        (b"/%2e%2e/%2e%2e/etc/passwd", Some(404)),
        (b"/api//users//1", Some(404)),
        (long_id.as_bytes(), Some(404)),
        (long_path.as_bytes(), Some(404)),
        // Raw bytes hyper refuses in a request line.
        (b"/api/users/\xff\xfe", None),
        (b"/api/users/1\x01", None),
        (b"/api/users/1\x7f", None),
        (b"*", None),
    ];
    for (target, expected) in &cases {
        let raw = send_raw(&app, &get(target)).await?;
        let shown = String::from_utf8_lossy(&target[..target.len().min(60)]).into_owned();
        let status = raw.status.ok_or_else(|| format!("{shown}: no response"))?;
        match expected {
            Some(code) => assert_eq!(status, *code, "{shown}: {raw:?}"),
            None => assert!((400..500).contains(&status), "{shown}: {raw:?}"),
        }
        // Our routes answer with our JSON error shape.
        if let Some(body) = &raw.body {
            assert!(body["error"].is_string(), "{shown}: {body}");
        }
    }
    // Queries are not read by any route: odd ones are harmless, not errors.
    for target in [
        b"/api/users/1?id=%00&x=%FF&..=..%2f".as_slice(),
        b"/api/users/1?%%%%".as_slice(),
        long_query.as_bytes(),
    ] {
        let raw = send_raw(&app, &get(target)).await?;
        assert_eq!(raw.status, Some(200), "{raw:?}");
    }
    // Methods the routes do not have, including made-up ones.
    for method in ["POST", "DELETE", "FOO", "TRACE"] {
        let request = format!(
            "{method} /api/users/1 HTTP/1.1\r\nhost: x\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
        );
        let raw = send_raw(&app, request.as_bytes()).await?;
        assert_eq!(raw.status, Some(405), "{method}: {raw:?}");
    }
    eprintln!("path abuse: {} targets, each 4xx as expected", cases.len());
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_over_the_limit_get_413() -> TestResult {
    let app = start(&[("MAX_BODY_BYTES", "1024")])?;
    let body = vec![b'x'; 2048];
    for (method, path) in [("GET", "/api/users/1"), ("POST", "/"), ("PUT", "/nowhere")] {
        let mut request = format!(
            "{method} {path} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
            body.len()
        )
        .into_bytes();
        request.extend_from_slice(&body);
        let raw = send_raw(&app, &request).await?;
        assert_eq!(raw.status, Some(413), "{method} {path}: {raw:?}");
        assert_eq!(
            raw.body.as_ref().map(|b| b["error"].clone()),
            Some(Value::from("payload_too_large")),
            "{raw:?}"
        );
    }
    // A declared length far beyond the limit is refused before any body arrives.
    let raw = send_raw(
        &app,
        b"POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 1000000000000\r\nconnection: close\r\n\r\n",
    )
    .await?;
    assert_eq!(raw.status, Some(413), "{raw:?}");
    // At the limit is fine (the route then says what it thinks of a POST).
    let mut request =
        b"POST /api/users/1 HTTP/1.1\r\nhost: x\r\ncontent-length: 1024\r\nconnection: close\r\n\r\n"
            .to_vec();
    request.extend_from_slice(&body[..1024]);
    let raw = send_raw(&app, &request).await?;
    assert_eq!(raw.status, Some(405), "{raw:?}");
    // A chunked body the handler never reads: not an error, and not a 5xx.
    let mut request =
        b"GET /api/users/1 HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n800\r\n"
            .to_vec();
    request.extend_from_slice(&body);
    request.extend_from_slice(b"\r\n0\r\n\r\n");
    let raw = send_raw(&app, &request).await?;
    assert!(raw.status.is_some_and(|s| s < 500), "{raw:?}");
    // A length that is not a number is a bad request.
    let raw = send_raw(
        &app,
        b"POST / HTTP/1.1\r\nhost: x\r\ncontent-length: abc\r\nconnection: close\r\n\r\n",
    )
    .await?;
    assert_eq!(raw.status, Some(400), "{raw:?}");
    Ok(())
}

fn with_headers(count: usize, value_len: usize) -> Vec<u8> {
    let mut request = b"GET /api/users/1 HTTP/1.1\r\nhost: x\r\nconnection: close\r\n".to_vec();
    let value = "v".repeat(value_len);
    for i in 0..count {
        request.extend_from_slice(format!("x-header-{i}: {value}\r\n").as_bytes());
    }
    request.extend_from_slice(b"\r\n");
    request
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_many_or_too_large_headers_get_431() -> TestResult {
    let app = start(&[])?;
    // Within the limits (64 headers including host and connection; 16 KiB).
    let raw = send_raw(&app, &with_headers(60, 16)).await?;
    assert_eq!(raw.status, Some(200), "60 headers: {}", raw.head);
    let raw = send_raw(&app, &with_headers(1, 12 * 1024)).await?;
    assert_eq!(raw.status, Some(200), "a 12 KiB header: {}", raw.head);
    // Over them.
    for (count, len, what) in [
        (65, 8, "65 headers"),
        (200, 8, "200 headers"),
        (1, 17 * 1024, "a 17 KiB header"),
        (40, 1024, "40 KiB of headers"),
    ] {
        let raw = send_raw(&app, &with_headers(count, len)).await?;
        assert_eq!(raw.status, Some(431), "{what}: {}", raw.head);
    }
    Ok(())
}

/// Reads until the server closes the connection; returns how long that took
/// and any status it sent first.
async fn until_closed(stream: &mut TcpStream) -> (Duration, Option<u16>) {
    let started = Instant::now();
    let mut bytes = Vec::new();
    let mut buf = [0u8; 1024];
    let _ = tokio::time::timeout(support::DEADLINE, async {
        while let Ok(n) = stream.read(&mut buf).await {
            if n == 0 {
                break;
            }
            bytes.extend_from_slice(&buf[..n]);
        }
    })
    .await;
    (started.elapsed(), parse(&bytes).status)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_that_never_finish_their_headers_are_cut_off() -> TestResult {
    const TIMEOUT: Duration = Duration::from_millis(500);
    let app = start(&[("HEADER_READ_TIMEOUT_MS", &TIMEOUT.as_millis().to_string())])?;
    let limit = TIMEOUT + Duration::from_secs(3);

    // Half a request, then silence.
    let mut stream = TcpStream::connect(("127.0.0.1", app.port)).await?;
    stream
        .write_all(b"GET /api/users/1 HTTP/1.1\r\nhost: x\r\n")
        .await?;
    let (after, status) = until_closed(&mut stream).await;
    eprintln!("silent client: closed after {after:?}, status {status:?}");
    assert!(
        after < limit,
        "a silent client kept its connection {after:?}"
    );
    assert!(status.is_none_or(|s| s == 408), "{status:?}");

    // Slowloris: a header byte every 50 ms never completes the block.
    let mut stream = TcpStream::connect(("127.0.0.1", app.port)).await?;
    stream
        .write_all(b"GET /api/users/1 HTTP/1.1\r\nhost: x\r\nx-slow: ")
        .await?;
    let started = Instant::now();
    let (reader, mut writer) = stream.into_split();
    let dribble = tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(50));
        // Bounded: stops on the first failed write, or after 10 s.
        for _ in 0..200 {
            tick.tick().await;
            if writer.write_all(b"a").await.is_err() {
                break;
            }
        }
    });
    let mut reader = reader;
    let mut buf = [0u8; 1024];
    let closed = tokio::time::timeout(support::DEADLINE, async {
        while let Ok(n) = reader.read(&mut buf).await {
            if n == 0 {
                break;
            }
        }
    })
    .await;
    let after = started.elapsed();
    dribble.abort();
    eprintln!("slowloris client: closed after {after:?}");
    assert!(
        closed.is_ok() && after < limit,
        "a dribbling client kept its connection {after:?}"
    );

    // The server still serves everyone else.
    let raw = send_raw(&app, &get(b"/health")).await?;
    assert_eq!(raw.status, Some(200));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_without_a_request_are_closed() -> TestResult {
    const TIMEOUT: Duration = Duration::from_millis(500);
    let app = start(&[("HEADER_READ_TIMEOUT_MS", &TIMEOUT.as_millis().to_string())])?;
    let mut stream = TcpStream::connect(("127.0.0.1", app.port)).await?;
    let (after, status) = until_closed(&mut stream).await;
    eprintln!("idle connection: closed after {after:?}, status {status:?}");
    assert!(
        after < TIMEOUT + Duration::from_secs(3),
        "an idle connection stayed open {after:?}"
    );
    Ok(())
}

/// Reads one response off a keep-alive connection (head and a
/// `content-length` body); `None` if the server closed it first.
async fn read_response(stream: &mut TcpStream) -> TestResult<Option<u16>> {
    let mut bytes = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        let text = String::from_utf8_lossy(&bytes).into_owned();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length: ")
                        .map(str::to_owned)
                })
                .and_then(|n| n.trim().parse::<usize>().ok())
                .ok_or("no content-length")?;
            if body.len() >= length {
                return Ok(parse(&bytes).status);
            }
        }
        let n = tokio::time::timeout(support::DEADLINE, stream.read(&mut buf)).await??;
        if n == 0 {
            return Ok(None);
        }
        bytes.extend_from_slice(&buf[..n]);
    }
}

const KEEP_ALIVE_HEALTH: &[u8] = b"GET /health HTTP/1.1\r\nhost: localhost\r\n\r\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keep_alive_connections_wait_for_the_idle_timeout_not_the_header_one() -> TestResult {
    const HEADER: Duration = Duration::from_millis(300);
    const IDLE: Duration = Duration::from_secs(3);
    let app = start(&[
        ("HEADER_READ_TIMEOUT_MS", &HEADER.as_millis().to_string()),
        ("IDLE_TIMEOUT_SECS", &IDLE.as_secs().to_string()),
    ])?;

    // Idle five header timeouts between two requests: the connection must
    // not close (a read returning 0 would be the server closing it).
    let mut stream = TcpStream::connect(("127.0.0.1", app.port)).await?;
    stream.write_all(KEEP_ALIVE_HEALTH).await?;
    assert_eq!(read_response(&mut stream).await?, Some(200));
    let mut buf = [0u8; 16];
    let early = tokio::time::timeout(5 * HEADER, stream.read(&mut buf)).await;
    assert!(
        early.is_err(),
        "the idle connection was closed within {:?}: {early:?}",
        5 * HEADER
    );
    stream.write_all(KEEP_ALIVE_HEALTH).await?;
    assert_eq!(
        read_response(&mut stream).await?,
        Some(200),
        "second request"
    );

    // A request that starts and stalls is still cut off at the header timeout.
    stream.write_all(b"GET /health HTTP/1.1\r\nhost").await?;
    let (after, _) = until_closed(&mut stream).await;
    eprintln!("stalled head on a kept-alive connection: closed after {after:?}");
    assert!(
        after >= HEADER - Duration::from_millis(50) && after < IDLE - Duration::from_secs(1),
        "closed after {after:?}"
    );

    // An idle connection past the idle timeout is closed, counted from its
    // last response (not from when its request arrived).
    let mut stream = TcpStream::connect(("127.0.0.1", app.port)).await?;
    stream.write_all(KEEP_ALIVE_HEALTH).await?;
    assert_eq!(read_response(&mut stream).await?, Some(200));
    let (after, status) = until_closed(&mut stream).await;
    eprintln!("idle keep-alive connection: closed after {after:?}");
    assert_eq!(status, None);
    assert!(
        after >= IDLE - Duration::from_millis(100) && after < IDLE + Duration::from_millis(200),
        "closed after {after:?}"
    );
    Ok(())
}
