//! The protocol oracle: `tests/protocols/compare.py` compares the records of
//! `--exchanges messages` with tshark's decoding of the captures of real traffic in
//! `tests/protocols/pcaps/` (see `tests/protocols/README.md`). It fails on any difference
//! not listed, with its reason, in `tests/protocols/known_differences.tsv`.

#[path = "common/oracle.rs"]
mod oracle;

#[test]
fn exchanges_agree_with_tshark() {
    if !oracle::tshark_or_skip("protocol oracle (tests/protocols/compare.py)") {
        return;
    }
    oracle::run_comparison("tests/protocols/compare.py");
}
