//! The binary's code layout (build.rs, link/hot-text.ld): every function the script names
//! is linked into `.text.hot`, together, so that the pages start-up and requests touch are
//! few. Checks the binary under test with binutils' `readelf` and `nm`; it keeps its symbols
//! (the release build strips them, and bench/run.sh measures what the layout saves there).

use std::{fs, process::Command};

const BINARY: &str = env!("CARGO_BIN_EXE_axum-xray-otel");

fn tool(argv: &[&str]) -> String {
    let out = Command::new(argv[0])
        .args(&argv[1..])
        .output()
        .unwrap_or_else(|e| panic!("{} (binutils): {e}", argv[0]));
    assert!(
        out.status.success(),
        "{argv:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("tool output is UTF-8")
}

/// The script's `.text.<glob>` patterns, as the symbol globs they name. Its
/// `.text.unlikely.<glob>` ones are left out: LLVM gives #[cold] functions that prefix only
/// when it optimises, so in this unoptimised binary they are in `.text.<name>` and stay put.
fn patterns() -> Vec<String> {
    let script = fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/link/hot-text.ld"))
        .expect("link/hot-text.ld");
    script
        .lines()
        .filter_map(|l| {
            let glob = l.trim().strip_prefix("*(.text.")?.strip_suffix(')')?;
            (!glob.starts_with("unlikely.")).then_some(glob)
        })
        .map(str::to_owned)
        .collect()
}

/// A linker glob: `*` is any run of characters (the script uses no other wildcard).
fn glob_matches(glob: &str, name: &str) -> bool {
    let mut parts = glob.split('*');
    let first = parts.next().unwrap_or_default();
    let Some(mut rest) = name.strip_prefix(first) else {
        return false;
    };
    let mut parts: Vec<&str> = parts.collect();
    let Some(last) = parts.pop() else {
        return rest.is_empty();
    };
    for part in parts {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.ends_with(last)
}

fn hot_section() -> (u64, u64) {
    tool(&["readelf", "-SW", BINARY])
        .lines()
        .find_map(|line| {
            // `[Nr] Name Type Address Off Size ...`
            let fields: Vec<&str> = line.split_once(']')?.1.split_whitespace().collect();
            if fields.first() != Some(&".text.hot") {
                return None;
            }
            let start = u64::from_str_radix(fields[2], 16).ok()?;
            let size = u64::from_str_radix(fields[4], 16).ok()?;
            Some((start, start + size))
        })
        .expect("the binary has a .text.hot section (build.rs passes link/hot-text.ld)")
}

#[test]
fn functions_the_script_names_are_linked_together() {
    let globs = patterns();
    assert!(
        globs.len() > 500,
        "link/hot-text.ld names {} functions",
        globs.len()
    );
    let (start, end) = hot_section();
    let mut named = 0;
    let mut outside = Vec::new();
    for line in tool(&["nm", "--defined-only", BINARY]).lines() {
        let mut fields = line.split_whitespace();
        let (Some(address), Some(kind), Some(name)) = (fields.next(), fields.next(), fields.next())
        else {
            continue;
        };
        if !matches!(kind, "t" | "T" | "w" | "W") || !globs.iter().any(|g| glob_matches(g, name)) {
            continue;
        }
        named += 1;
        let address = u64::from_str_radix(address, 16).expect("nm prints hex addresses");
        if !(start..end).contains(&address) {
            outside.push(name.to_owned());
        }
    }
    // Far fewer than in the release build, which inlines differently, but the service's
    // own entry points and the runtime's are named in every profile.
    assert!(
        named > 200,
        "only {named} of the binary's functions match the script"
    );
    assert!(
        outside.is_empty(),
        "{} named functions outside .text.hot: {:?}",
        outside.len(),
        &outside[..outside.len().min(5)]
    );
}

#[test]
fn globs_match_as_the_linker_does() {
    assert!(glob_matches("_RNvCs*_3foo3bar", "_RNvCsAbC123_3foo3bar"));
    assert!(glob_matches("a*b*c", "abc"));
    assert!(glob_matches("a*", "a"));
    assert!(!glob_matches("_RNvCs*_3foo3bar", "_RNvCsAbC123_3foo3baz"));
    assert!(!glob_matches("a*b*c", "acb"));
    assert!(!glob_matches("abc", "abcd"));
}
