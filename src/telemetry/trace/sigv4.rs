//! The OTLP exporter's HTTP client for the X-Ray OTLP endpoint: every attempt
//! is signed with SigV4 (service `xray`) by the AWS SDK's `aws-sigv4`, after
//! the exporter has set the final (possibly gzipped) body and headers, so each
//! retry carries a fresh signature.
//!
//! It runs on the batch processor's thread, so it sends with reqwest's
//! blocking client. Credentials come from a [`CredentialsCache`] (a task on
//! the app's runtime keeps them fresh); the credentials wait and the request
//! together stay within the export timeout. Refusals are classified into a
//! [`LastFailure`] for the guard.

use std::{
    io::Read,
    time::{Duration, Instant, SystemTime},
};

use aws_credential_types::Credentials;
use aws_sigv4::{
    http_request::{SignableBody, SignableRequest, SigningSettings, sign},
    sign::v4,
};
use aws_smithy_runtime_api::client::identity::Identity;
use opentelemetry_http::{Bytes, HttpClient, HttpError, Request, Response};

use super::{
    cause::{Cause, Failure, LastFailure},
    credentials::CredentialsCache,
};

/// The SigV4 service name of the X-Ray OTLP endpoint.
const SERVICE: &str = "xray";
/// X-Ray's error answers are small; anything longer is cut.
const MAX_ERROR_BODY: usize = 64 * 1024;

#[derive(Debug)]
pub(crate) struct SigningClient {
    http: reqwest::blocking::Client,
    credentials: CredentialsCache,
    region: String,
    timeout: Duration,
    last_failure: LastFailure,
}

impl SigningClient {
    /// `timeout` bounds each attempt, credentials wait included; `http`
    /// should have it too.
    pub(crate) fn new(
        http: reqwest::blocking::Client,
        credentials: CredentialsCache,
        region: String,
        timeout: Duration,
        last_failure: LastFailure,
    ) -> Self {
        Self {
            http,
            credentials,
            region,
            timeout,
            last_failure,
        }
    }

    fn send(&self, mut request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        let started = Instant::now();
        self.last_failure.set(None);
        let credentials = self.credentials.current(self.timeout).inspect_err(|e| {
            self.last_failure
                .set(Some(Failure::new(Cause::NoCredentials, e)));
        })?;
        sign_request(&mut request, &credentials, &self.region, SystemTime::now())?;

        let mut request: reqwest::blocking::Request = request.try_into()?;
        let left = self.timeout.saturating_sub(started.elapsed());
        *request.timeout_mut() = Some(left.max(Duration::from_millis(1)));
        let response = self.http.execute(request)?;

        let status = response.status();
        let headers = response.headers().clone();
        let mut body = Vec::new();
        response
            .take(MAX_ERROR_BODY as u64)
            .read_to_end(&mut body)?;
        if !status.is_success() {
            let cause = Cause::classify(status.as_u16(), &body);
            if cause == Cause::Forbidden {
                self.credentials.reload_soon();
            }
            let detail = format!("{status}: {}", String::from_utf8_lossy(&body));
            self.last_failure.set(Some(Failure::new(cause, detail)));
        }
        let mut out = Response::new(Bytes::from(body));
        *out.status_mut() = status;
        *out.headers_mut() = headers;
        Ok(out)
    }
}

#[async_trait::async_trait]
impl HttpClient for SigningClient {
    async fn send_bytes(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        self.send(request)
    }
}

/// Adds `Authorization`, `X-Amz-Date` and, for temporary credentials,
/// `X-Amz-Security-Token`, over the method, URI, headers and body as sent.
pub(crate) fn sign_request(
    request: &mut Request<Bytes>,
    credentials: &Credentials,
    region: &str,
    time: SystemTime,
) -> Result<(), HttpError> {
    sign_for(SERVICE, request, credentials, region, time)
}

fn sign_for(
    service: &str,
    request: &mut Request<Bytes>,
    credentials: &Credentials,
    region: &str,
    time: SystemTime,
) -> Result<(), HttpError> {
    let identity: Identity = credentials.clone().into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name(service)
        .time(time)
        .settings(SigningSettings::default())
        .build()?
        .into();
    let uri = request.uri().to_string();
    let headers = request
        .headers()
        .iter()
        .filter_map(|(name, value)| Some((name.as_str(), value.to_str().ok()?)));
    let signable = SignableRequest::new(
        request.method().as_str(),
        uri,
        headers,
        SignableBody::Bytes(request.body()),
    )?;
    let (instructions, _signature) = sign(signable, &params)?.into_parts();
    instructions.apply_to_request_http1x(request);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example_credentials() -> Credentials {
        Credentials::new(
            "AKIDEXAMPLE",
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            None,
            None,
            "test",
        )
    }

    /// 20150830T123600Z, the time of AWS's SigV4 test suite.
    fn example_time() -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_440_938_160)
    }

    /// AWS's published SigV4 test suite, cases "get-vanilla" and "post-vanilla".
    #[test]
    fn signs_like_the_published_sigv4_test_suite() {
        for (method, signature) in [
            (
                "GET",
                "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
            ),
            (
                "POST",
                "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b",
            ),
        ] {
            let mut request = Request::builder()
                .method(method)
                .uri("https://example.amazonaws.com/")
                .header("host", "example.amazonaws.com")
                .body(Bytes::new())
                .expect("request");
            let credentials = example_credentials();
            sign_for(
                "service",
                &mut request,
                &credentials,
                "us-east-1",
                example_time(),
            )
            .expect("signed");
            assert_eq!(
                request.headers()["authorization"],
                format!(
                    "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature={signature}"
                ),
                "{method}"
            );
            assert_eq!(request.headers()["x-amz-date"], "20150830T123600Z");
        }
    }

    #[test]
    fn exports_are_signed_for_xray_in_the_region() {
        let mut request = Request::post("https://xray.eu-west-1.amazonaws.com/v1/traces")
            .body(Bytes::from_static(b"spans"))
            .expect("request");
        sign_request(
            &mut request,
            &example_credentials(),
            "eu-west-1",
            example_time(),
        )
        .expect("signed");
        let authorization = request.headers()["authorization"].to_str().unwrap();
        assert!(
            authorization.starts_with(
                "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/eu-west-1/xray/aws4_request"
            ),
            "{authorization}"
        );
    }

    #[test]
    fn temporary_credentials_send_their_token() {
        let credentials = Credentials::new("AKID", "secret", Some("token".into()), None, "test");
        let mut request = Request::post("http://127.0.0.1:1/v1/traces")
            .header("content-type", "application/x-protobuf")
            .body(Bytes::from_static(b"spans"))
            .expect("request");
        sign_request(&mut request, &credentials, "eu-west-1", SystemTime::now()).expect("signed");
        assert_eq!(request.headers()["x-amz-security-token"], "token");
        let authorization = request.headers()["authorization"].to_str().unwrap();
        assert!(
            authorization
                .contains("SignedHeaders=content-type;host;x-amz-date;x-amz-security-token"),
            "{authorization}"
        );
    }
}
