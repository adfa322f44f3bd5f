//! Checks CloudWatch Embedded Metric Format lines against the specification:
//! the JSON schema of its documented shape (emf-schema.json), plus the rules
//! a schema cannot state: every dimension names a top-level string member of
//! at most 1024 ASCII characters, every metric a top-level number, array of
//! at most 100 numbers or histogram object, and the timestamp is now-ish
//! epoch milliseconds. The histogram object's rules are those AWS's own EMF
//! writers hold to (aws-embedded-metrics-java's `Histogram` and `Statistics`,
//! the collector's `awsemf`): `Values` and `Counts` of one length of at most
//! 100, `Count` their total, and `Max`, `Min`, `Sum` a possible set.

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
                Value::Object(histogram) => out.extend(
                    histogram_problems(histogram)
                        .into_iter()
                        .map(|p| format!("metric {name}: {p}")),
                ),
                other => out.push(format!("metric {name} is {other}")),
            }
        }
    }
    out
}

/// Why a `{Values, Counts, Max, Min, Count, Sum}` object is not a histogram
/// CloudWatch takes.
fn histogram_problems(h: &serde_json::Map<String, Value>) -> Vec<String> {
    let mut keys: Vec<&str> = h.keys().map(String::as_str).collect();
    keys.sort_unstable();
    if keys != ["Count", "Counts", "Max", "Min", "Sum", "Values"] {
        return vec![format!("keys {keys:?}")];
    }
    let numbers =
        |key: &str| -> Option<Vec<f64>> { h[key].as_array()?.iter().map(Value::as_f64).collect() };
    let (Some(values), Some(counts)) = (numbers("Values"), h["Counts"].as_array()) else {
        return vec!["Values or Counts is not an array of numbers".into()];
    };
    let counts: Option<Vec<u64>> = counts.iter().map(Value::as_u64).collect();
    let (Some(counts), Some(count)) = (counts, h["Count"].as_u64()) else {
        return vec!["Counts or Count is not whole numbers".into()];
    };
    let (Some(max), Some(min), Some(sum)) =
        (h["Max"].as_f64(), h["Min"].as_f64(), h["Sum"].as_f64())
    else {
        return vec!["Max, Min or Sum is not a number".into()];
    };
    let mut out = Vec::new();
    if values.is_empty() || values.len() > 100 || values.len() != counts.len() {
        out.push(format!("{} values, {} counts", values.len(), counts.len()));
    }
    if count == 0 || counts.iter().sum::<u64>() != count {
        out.push(format!("Count {count} is not the total of {counts:?}"));
    }
    if min > max || values.iter().any(|v| *v < min || *v > max) {
        out.push(format!(
            "values {values:?} not within Min {min} and Max {max}"
        ));
    }
    // No set of `count` values between min and max adds up to more or less.
    let slack = 1e-9 * sum.abs().max(1.0);
    let n = count.saturating_sub(1) as f64;
    if sum > min + max * n + slack || sum < max + min * n - slack {
        out.push(format!(
            "Sum {sum} impossible for {count} values in [{min}, {max}]"
        ));
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
