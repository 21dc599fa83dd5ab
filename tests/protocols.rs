//! The protocol oracle: `tests/protocols/compare.py` compares the records of
//! `--exchanges messages` with tshark's decoding of the captures of real traffic in
//! `tests/protocols/pcaps/` (see `tests/protocols/README.md`). It fails on any difference
//! not listed, with its reason, in `tests/protocols/known_differences.tsv`.

use std::path::Path;
use std::process::Command;

fn tshark_available() -> bool {
    Command::new("tshark")
        .arg("--version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

#[test]
fn exchanges_agree_with_tshark() {
    if !tshark_available() {
        // test.sh installs tshark and sets this: there, a missing oracle is a failure.
        assert!(
            std::env::var_os("RUSTNIFFER_REQUIRE_TSHARK").is_none(),
            "tshark is required (RUSTNIFFER_REQUIRE_TSHARK is set) but was not found: \
             install it (apt-get install tshark) to run the protocol oracle"
        );
        eprintln!("note: tshark not found, protocol oracle (tests/protocols/compare.py) skipped");
        return;
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let output = Command::new("python3")
        .arg(root.join("tests/protocols/compare.py"))
        .env("RUSTNIFFER", env!("CARGO_BIN_EXE_rustniffer"))
        .current_dir(root)
        .output()
        .expect("run python3 tests/protocols/compare.py");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "tests/protocols/compare.py found differences with tshark ({}):\n{stdout}\n{stderr}",
        output.status
    );
}
