//! Links the functions the service runs at start-up and per request next to each other
//! (link/hot-text.ld, written by bench/hot_text.py). The kernel maps a touched page of the
//! binary with its whole 64 KiB neighbourhood, so code laid out by crate, hot beside cold,
//! made most of the text resident: this layout takes 2-3 MiB off the peak RSS
//! (bench/history.md, fifth pass). Only Linux builds take the script; elsewhere, and for
//! a function the script does not name, the usual layout stands.
//!
//! `HOT_TEXT=off` links without it: bench/hot_text.py profiles that layout, as valgrind
//! names only the functions in `.text`.

use std::env;

fn main() {
    println!("cargo::rerun-if-changed=link/hot-text.ld");
    println!("cargo::rerun-if-env-changed=HOT_TEXT");
    let off = env::var("HOT_TEXT").is_ok_and(|v| v == "off");
    if !off && env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        let script = format!(
            "{}/link/hot-text.ld",
            env::var("CARGO_MANIFEST_DIR").unwrap()
        );
        // Augments the default layout (the script ends in INSERT), so the linker keeps its own.
        println!("cargo::rustc-link-arg-bins=-Wl,-T,{script}");
    }
}
