//! HTTPS from the real binary: every client shares one TLS configuration
//! whose root certificates load at the first handshake (src/tls.rs). An
//! upstream whose certificate chains to a test CA is reached when
//! `SSL_CERT_FILE` names that CA, and refused against the system's roots, so
//! verification is on and uses the platform's trust store.

mod support;

use std::{
    io::{BufRead, BufReader},
    path::Path,
    process::{Child, Command, Stdio},
};

use support::{TestResult, client, process::App};

/// A test CA and a certificate for `localhost` it signed, made with openssl.
fn make_certificates(dir: &Path) -> TestResult {
    let run = |args: &[&str]| -> TestResult {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()?;
        if !out.status.success() {
            return Err(
                format!("openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr)).into(),
            );
        }
        Ok(())
    };
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
    ];
    run(&[
        &["req", "-x509"][..],
        &ec,
        &[
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=axum-xray-otel test CA",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign",
        ],
    ]
    .concat())?;
    run(&[
        &["req"][..],
        &ec,
        &[
            "-keyout",
            "leaf.key",
            "-out",
            "leaf.csr",
            "-subj",
            "/CN=localhost",
        ],
    ]
    .concat())?;
    std::fs::write(
        dir.join("leaf.ext"),
        "subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )?;
    run(&[
        "x509",
        "-req",
        "-in",
        "leaf.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "leaf.pem",
        "-days",
        "2",
        "-extfile",
        "leaf.ext",
    ])?;
    Ok(())
}

/// The HTTPS upstream (tests/support/https_upstream.py), stopped by its PID on drop.
struct Upstream {
    child: Child,
    port: u16,
}

impl Upstream {
    fn start(dir: &Path) -> TestResult<Self> {
        let script = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/support/https_upstream.py"
        );
        let mut child = Command::new("python3")
            .args([script, "leaf.pem", "leaf.key"])
            .current_dir(dir)
            .stdout(Stdio::piped())
            .spawn()?;
        let mut line = String::new();
        BufReader::new(child.stdout.take().ok_or("no stdout")?).read_line(&mut line)?;
        let port = line.trim().parse()?;
        Ok(Self { child, port })
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_upstreams_are_verified_against_the_platform_roots() -> TestResult {
    let dir = tempfile_dir()?;
    make_certificates(&dir)?;
    let upstream = Upstream::start(&dir)?;
    let url = format!("https://localhost:{}/anything", upstream.port);
    let ca = dir.join("ca.pem").display().to_string();
    let base = [
        ("EXTERNAL_URL", url),
        ("OTEL_TRACES_EXPORTER", "none".to_owned()),
        ("OTEL_METRICS_EXPORTER", "none".to_owned()),
    ];

    // The test CA is trusted: the call goes through, body and all.
    let mut trusting = base.to_vec();
    trusting.push(("SSL_CERT_FILE", ca));
    let mut app = App::start_http(&trusting)?;
    let response = client().get(app.url("/api/external")).send().await?;
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = serde_json::from_slice(&response.bytes().await?)?;
    assert_eq!(body["external_response"]["tls"], "ok", "{body}");
    app.terminate(support::DEADLINE);

    // The system's roots do not know it: refused, as a bad gateway.
    let mut app = App::start_http(&base)?;
    let response = client().get(app.url("/api/external")).send().await?;
    assert_eq!(response.status(), 502);
    app.terminate(support::DEADLINE);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

fn tempfile_dir() -> TestResult<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!("axum-xray-otel-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}
