//! What the end-to-end tests share: where the services are, and the binary.

#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Command, Output};

/// The broker the tests use: `SHOPFLOW_BROKERS`, as `scripts/services start` prints it.
pub fn brokers() -> String {
    std::env::var("SHOPFLOW_BROKERS").expect(
        "SHOPFLOW_BROKERS is not set: run the tests with scripts/test, or first `eval \"$(scripts/services start)\"`",
    )
}

/// The `shopflow` binary built for these tests.
pub fn shopflow() -> Command {
    Command::new(env!("CARGO_BIN_EXE_shopflow"))
}

/// Runs `shopflow args...` and returns its output, panicking with stderr on failure.
pub fn run_ok(args: &[&str]) -> Output {
    let output = shopflow().args(args).output().expect("shopflow runs");
    assert!(
        output.status.success(),
        "shopflow {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// A fresh temporary path for this test process.
pub fn temp_path(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("shopflow-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir.join(name)
}
