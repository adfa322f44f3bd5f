//! docs/configuration.md documents exactly the variables `Config` reads.

use std::{cell::RefCell, collections::BTreeSet};

use super::{Config, LAMBDA};

const DOC: &str = include_str!("../../docs/configuration.md");

/// Every name `from_lookup` asks for, over settings that reach each
/// conditional read (the Lambda sandbox, a ratio sampler, signing).
fn variables_read() -> BTreeSet<String> {
    let asked = RefCell::new(BTreeSet::new());
    let scenarios: [&[(&str, &str)]; 3] = [
        &[],
        &LAMBDA,
        &[
            ("OTEL_TRACES_SAMPLER", "traceidratio"),
            ("OTEL_EXPORTER_OTLP_TRACES_AUTH", "sigv4"),
            ("USERS_TABLE", "users"),
            (
                "EVENTS_QUEUE_URL",
                "https://sqs.eu-west-1.amazonaws.com/1/q",
            ),
        ],
    ];
    for env in scenarios {
        let _ = Config::from_lookup(|key| {
            asked.borrow_mut().insert(key.to_owned());
            env.iter()
                .find(|(k, _)| *k == key)
                .map(|(_, v)| (*v).to_owned())
        });
    }
    asked.into_inner()
}

/// The backquoted names in the first column of the table under
/// "## Variables the service reads", up to the next heading.
fn variables_documented() -> BTreeSet<String> {
    let section = DOC
        .split("\n## ")
        .find(|s| s.starts_with("Variables the service reads"))
        .expect("docs/configuration.md has a 'Variables the service reads' section");
    section
        .lines()
        .filter_map(|line| line.strip_prefix("| `"))
        .flat_map(|cell| {
            let first = cell.split(" |").next().unwrap_or_default();
            first
                .split('`')
                .step_by(2)
                .map(|name| name.trim_matches(|c: char| c == ',' || c == ' ' || c == '/'))
                .filter(|name| !name.is_empty())
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn the_configuration_doc_lists_every_variable_read_and_no_other() {
    let read = variables_read();
    let documented = variables_documented();
    let undocumented: Vec<_> = read.difference(&documented).collect();
    let not_read: Vec<_> = documented.difference(&read).collect();
    assert!(
        undocumented.is_empty() && not_read.is_empty(),
        "read but not in docs/configuration.md: {undocumented:?}; documented but never read: {not_read:?}"
    );
}
