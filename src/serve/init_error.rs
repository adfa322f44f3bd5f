//! Reports a start-up failure to the Lambda Runtime API
//! (`POST /2018-06-01/runtime/init/error`), so the invocation that started
//! the sandbox fails with the reason (`errorType`, `errorMessage`) instead of
//! a bare `Runtime.ExitError`. lambda_runtime reports only its own init
//! failures, and ours happen before it starts.

use std::time::Duration;

/// The `errorType` of a bad setting.
pub const CONFIG_ERROR: &str = "Runtime.ConfigError";

/// Posts `message` as an init error of `error_type` to the Runtime API at
/// `runtime_api` (`host:port`). Blocking: start-up has no async runtime yet.
pub fn report(runtime_api: &str, error_type: &str, message: &str) -> Result<(), String> {
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
        .map_err(|e| e.to_string())?;
    let body = serde_json::json!({
        "errorMessage": message,
        "errorType": error_type,
        "stackTrace": [],
    });
    let url = format!("http://{runtime_api}/2018-06-01/runtime/init/error");
    let response = client
        .post(&url)
        .header("lambda-runtime-function-error-type", error_type)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .map_err(|e| format!("{url}: {e}"))?;
    match response.status().is_success() {
        true => Ok(()),
        false => Err(format!("{url}: {}", response.status())),
    }
}
