//! Checks CloudWatch Embedded Metric Format lines against the specification:
//! the JSON schema of its documented shape (emf-schema.json), plus the rules
//! a schema cannot state: every dimension names a top-level string member of
//! at most 1024 ASCII characters, every metric a top-level number or array of
//! at most 100 numbers, and the timestamp is now-ish epoch milliseconds.

use std::{
    fs::File,
    time::{SystemTime, UNIX_EPOCH},
};

use serde_json::Value;

/// Why `line` is not a valid EMF object, if it is not.
pub fn problems(line: &Value) -> Vec<String> {
    let schema: Value = serde_json::from_str(include_str!("emf-schema.json")).expect("schema");
    let validator = jsonschema::validator_for(&schema).expect("valid schema");
    let mut out: Vec<String> = validator
        .iter_errors(line)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    if !out.is_empty() {
        return out;
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let timestamp = line["_aws"]["Timestamp"].as_u64().unwrap_or_default();
    // CloudWatch rejects timestamps more than two weeks old or two hours ahead.
    if timestamp + 14 * 86_400_000 < now || timestamp > now + 2 * 3_600_000 {
        out.push(format!(
            "Timestamp {timestamp} is not epoch milliseconds near now"
        ));
    }
    for directive in line["_aws"]["CloudWatchMetrics"].as_array().unwrap() {
        for key in directive["Dimensions"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_array)
            .flatten()
        {
            let key = key.as_str().unwrap();
            match &line[key] {
                Value::String(v) if !v.trim().is_empty() && v.len() <= 1024 && v.is_ascii() => {}
                other => out.push(format!("dimension {key} is {other}")),
            }
        }
        for metric in directive["Metrics"].as_array().unwrap() {
            let name = metric["Name"].as_str().unwrap();
            match &line[name] {
                Value::Number(_) => {}
                Value::Array(values)
                    if values.len() <= 100 && values.iter().all(Value::is_number) => {}
                other => out.push(format!("metric {name} is {other}")),
            }
        }
    }
    out
}

/// Every (metric name, dimension set) a valid line declares, dimensions sorted.
pub fn declared(line: &Value) -> Vec<(String, Vec<String>)> {
    let mut out = Vec::new();
    for directive in line["_aws"]["CloudWatchMetrics"]
        .as_array()
        .into_iter()
        .flatten()
    {
        for metric in directive["Metrics"].as_array().into_iter().flatten() {
            for set in directive["Dimensions"].as_array().into_iter().flatten() {
                let mut dims: Vec<String> = set
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|d| d.as_str().map(str::to_owned))
                    .collect();
                dims.sort();
                out.push((metric["Name"].as_str().unwrap_or_default().to_owned(), dims));
            }
        }
    }
    out
}

/// The child's stdout, in a file: whatever it wrote before a `/next` call
/// is there when the Runtime API double counts the lines.
pub struct EmfFile(pub std::path::PathBuf);

impl EmfFile {
    pub fn new() -> std::io::Result<(Self, File)> {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let path = std::env::temp_dir().join(format!("axum-xray-otel-emf-{nanos}.log"));
        let file = File::create(&path)?;
        Ok((Self(path), file))
    }

    pub fn emf_lines(path: &std::path::Path) -> Vec<Value> {
        emf_objects(std::fs::read_to_string(path).unwrap_or_default().lines())
    }
}

/// The EMF objects among output lines (log lines and others are skipped).
pub fn emf_objects<'a>(lines: impl IntoIterator<Item = &'a str>) -> Vec<Value> {
    lines
        .into_iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v.get("_aws").is_some())
        .collect()
}

impl Drop for EmfFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}
