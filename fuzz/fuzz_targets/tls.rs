//! The TLS record reader over arbitrary bytes cut into arbitrary pieces: the events
//! never depend on the cuts, a stop is the last event, records and hello facts stay
//! within their bounds, and gaps never panic.
//!
//! Input: two control bytes (the seed of the piece sizes, and where a gap goes), then
//! the direction's bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rustniffer::exchange::tls_stream::{
    RecordEvent, RecordReader, MAX_ALPN, MAX_HELLO_LEN, MAX_RECORD_LEN, MAX_SNI_LEN,
    MAX_VERSIONS,
};

#[path = "common/cuts.rs"]
mod cuts;
use cuts::Cuts;

/// Feeds `pieces`; a piece marked `true` is a gap of its length instead.
fn run(pieces: &[(bool, &[u8])]) -> (Vec<RecordEvent>, u64) {
    let mut reader = RecordReader::new();
    let mut events = Vec::new();
    for &(gap, piece) in pieces {
        if gap {
            reader.gap(piece.len() as u64, &mut |e| events.push(e));
        } else {
            reader.feed(piece, &mut |e| events.push(e));
        }
        assert!(reader.buffered() <= MAX_HELLO_LEN);
        assert!(!(reader.is_stopped() && reader.in_record()));
    }
    (events, reader.records())
}

fn check(events: &[RecordEvent], records: u64) {
    let mut counted = 0;
    for (i, event) in events.iter().enumerate() {
        match event {
            RecordEvent::Record { content_type, len } => {
                assert!((20..=24).contains(content_type));
                assert!(*len <= MAX_RECORD_LEN);
                counted += 1;
            }
            RecordEvent::NotTls | RecordEvent::LostSync => {
                assert_eq!(i + 1, events.len(), "a stop is the last event")
            }
            RecordEvent::ClientHello(f) => {
                assert!(f.sni.as_ref().is_none_or(|s| !s.is_empty() && s.len() <= MAX_SNI_LEN));
                assert!(f.alpn.len() <= MAX_ALPN);
                assert!(f.alpn.iter().all(|n| !n.is_empty() && n.len() <= 255));
                assert!(f.supported_versions.len() <= MAX_VERSIONS);
            }
            RecordEvent::ServerHello(f) => {
                assert!(f.alpn.as_ref().is_none_or(|n| !n.is_empty() && n.len() <= 255));
            }
        }
    }
    assert_eq!(counted, records);
}

fuzz_target!(|data: &[u8]| {
    let [seed, gap_at, stream @ ..] = data else {
        return;
    };
    let whole = run(&[(false, stream)]);
    check(&whole.0, whole.1);

    let mut cuts = Cuts::new(*seed, 2048);
    let mut pieces = Vec::new();
    let mut rest = stream;
    while !rest.is_empty() {
        let n = cuts.next().min(rest.len());
        let (piece, tail) = rest.split_at(n);
        pieces.push((false, piece));
        rest = tail;
    }
    assert_eq!(run(&pieces), whole, "the cuts changed the events");

    // The same pieces with one of them missing (a capture loss).
    if !pieces.is_empty() {
        let i = usize::from(*gap_at) % pieces.len();
        pieces[i].0 = true;
        let (events, records) = run(&pieces);
        check(&events, records);
    }
});
