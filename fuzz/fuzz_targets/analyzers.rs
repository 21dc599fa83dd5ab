//! Protocol analyzers over arbitrary bytes: the HTTP header block, header lookup, first
//! line and its words, and the TLS ClientHello reader. Every result is a piece of the
//! input in the documented place.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rustniffer::exchange::{http, tls};

/// Whether `part` lies inside `whole` (the analyzers return sub-slices).
fn inside(part: &[u8], whole: &[u8]) -> bool {
    let (w, p) = (whole.as_ptr() as usize, part.as_ptr() as usize);
    part.is_empty() || (p >= w && p + part.len() <= w + whole.len())
}

fuzz_target!(|data: &[u8]| {
    // A header name from the first bytes (up to a colon), the rest as the message.
    let colon = data.iter().take(32).position(|&b| b == b':');
    let (name, message) = match colon {
        Some(c) => (&data[..c], &data[c + 1..]),
        None => (&b"content-length"[..], data),
    };

    let (header_len, body_start) = http::header_split(message);
    assert!(header_len <= body_start && body_start <= message.len());
    assert_eq!(http::header_block(message), &message[..header_len]);
    assert_eq!(http::body(message), &message[body_start..]);
    if header_len < message.len() {
        assert_eq!(message[header_len], b'\r', "the block ends before a CR");
    }

    // The incremental scan the exchange layer runs while keeping bytes finds the same
    // end, however the data events cut the message (here: at two points from the input).
    let cut = |i: usize| data.get(i).map_or(0, |&b| usize::from(b)) * message.len() / 256;
    let (a, b) = (cut(0).min(cut(1)), cut(0).max(cut(1)));
    let mut scan = http::HeaderEndScan::default();
    let mut found = None;
    for (start, end) in [(0, a), (a, b), (b, message.len())] {
        if let Some(at) = scan.scan(&message[start..end]) {
            assert!(found.is_none(), "the end is found once");
            found = Some(start + at);
        }
    }
    assert_eq!(found, (header_len < message.len()).then_some(header_len));

    let line = http::first_line(message);
    assert!(!line.contains(&b'\r'));
    assert!(message.starts_with(line));
    for n in 0..4 {
        let word = http::word(line, n);
        assert!(inside(word, line));
        assert!(!word.iter().any(|b| b.is_ascii_whitespace() || *b == 0x0b));
    }
    let rest = http::after_second_word(line);
    assert!(inside(rest, line));

    let block = &message[..header_len];
    if let Some(value) = http::header_value(block, name) {
        assert!(inside(value, block));
        assert!(!value.contains(&b'\r') && !value.contains(&b'\n'));
    }
    for needle in [b'\r', b'\n', 0, 0xff] {
        assert_eq!(
            http::find_byte(message, needle),
            message.iter().position(|&b| b == needle)
        );
    }

    if let Some(hello) = tls::parse_client_hello(data) {
        if let Some(sni) = hello.sni {
            assert!(!sni.is_empty() && inside(sni, data));
        }
        let mut out = Vec::new();
        tls::write_version(hello.version, &mut out);
        assert!(!out.is_empty());
    }
});
