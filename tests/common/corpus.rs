//! The conformance corpus (`../shared/conformance`, README inside) and the project's
//! cases in its format (`tests/rules`): where they are and what each case runs.
//! Shared by `tests/conformance.rs` and `tests/parallel.rs`.

use std::path::{Path, PathBuf};

pub fn corpus_dir() -> PathBuf {
    if let Ok(dir) = std::env::var("RUSTNIFFER_CONFORMANCE") {
        return PathBuf::from(dir);
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/conformance")
}

/// Parses a JSON array of strings (the `args` column).
pub fn parse_json_strings(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut chars = text.trim().chars().peekable();
    assert_eq!(chars.next(), Some('['), "args must be a JSON array: {text}");
    loop {
        match chars.next() {
            Some('"') => {
                let mut s = String::new();
                loop {
                    match chars.next().expect("unterminated JSON string") {
                        '"' => break,
                        '\\' => match chars.next().expect("dangling escape") {
                            'n' => s.push('\n'),
                            't' => s.push('\t'),
                            'r' => s.push('\r'),
                            'b' => s.push('\u{8}'),
                            'f' => s.push('\u{c}'),
                            'u' => {
                                let hex: String = (0..4).filter_map(|_| chars.next()).collect();
                                let code = u32::from_str_radix(&hex, 16).expect("bad \\u escape");
                                s.push(char::from_u32(code).expect("surrogates are not used"));
                            }
                            other => s.push(other),
                        },
                        c => s.push(c),
                    }
                }
                out.push(s);
            }
            Some(',') | Some(' ') => {}
            Some(']') => return out,
            other => panic!("unexpected {other:?} in {text}"),
        }
    }
}

pub struct Case {
    pub id: String,
    pub args: Vec<String>,
    pub expected: PathBuf,
    pub exit_nonzero: bool,
    pub stdout_ignored: bool,
    pub stderr_nonempty: bool,
}

pub fn load_cases(dir: &Path) -> Vec<Case> {
    let manifest = std::fs::read_to_string(dir.join("cases.tsv")).unwrap_or_else(|e| {
        panic!(
            "cannot read {}/cases.tsv ({e}): the conformance corpus must be beside the repository",
            dir.display()
        )
    });
    let mut cases = Vec::new();
    for line in manifest.lines().skip(1).filter(|l| !l.trim().is_empty()) {
        let cols: Vec<&str> = line.split('\t').collect();
        assert!(cols.len() >= 4, "malformed manifest line: {line}");
        let notes = cols.get(4).copied().unwrap_or("");
        let directives: Vec<&str> = notes
            .split(';')
            .map(str::trim)
            .take_while(|d| d.contains('=') && !d.contains(' '))
            .collect();
        cases.push(Case {
            id: cols[0].to_string(),
            args: parse_json_strings(cols[2]),
            expected: dir.join(cols[3]),
            exit_nonzero: directives.contains(&"exit=nonzero"),
            stdout_ignored: directives.contains(&"stdout=ignore"),
            stderr_nonempty: directives.contains(&"stderr=nonempty"),
        });
    }
    cases
}
