//! The tshark oracles' shared runner: the comparison scripts in `tests/protocols/` run
//! rustniffer and tshark on the same captures and exit non-zero on any difference not
//! listed with its reason.

// Each test binary that includes this file uses a part of it.
#![allow(dead_code)]

use std::path::Path;
use std::process::Command;

/// Whether an oracle can run. Without tshark the test is skipped with a note, unless
/// `RUSTNIFFER_REQUIRE_TSHARK` is set (test.sh installs tshark and sets it): there a
/// missing oracle is a failure, never a silent pass.
pub fn tshark_or_skip(oracle: &str) -> bool {
    let found = Command::new("tshark")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        assert!(
            std::env::var_os("RUSTNIFFER_REQUIRE_TSHARK").is_none(),
            "tshark is required (RUSTNIFFER_REQUIRE_TSHARK is set) but was not found: \
             install it (apt-get install tshark) to run the {oracle}"
        );
        eprintln!("note: tshark not found, the {oracle} is skipped");
    }
    found
}

/// Runs `python3 SCRIPT` (a path from the repository root) with `RUSTNIFFER` set to the
/// binary under test; fails the test with the script's output when it reports a
/// difference. Returns its standard output (the per-capture table).
pub fn run_comparison(script: &str) -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let output = Command::new("python3")
        .arg(root.join(script))
        .env("RUSTNIFFER", env!("CARGO_BIN_EXE_rustniffer"))
        .current_dir(root)
        .output()
        .unwrap_or_else(|e| panic!("run python3 {script}: {e}"));
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "{script} found differences with tshark ({}):\n{stdout}\n{stderr}",
        output.status
    );
    stdout
}
