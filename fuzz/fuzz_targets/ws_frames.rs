//! The WebSocket frame reader over arbitrary bytes cut into arbitrary pieces: the
//! events never depend on the cuts, a stop is the last event, kept bytes and control
//! payloads stay within their bounds, and gaps never panic.
//!
//! Input: two control bytes — the seed of the piece sizes; and flags: bit 0 client
//! side (masked frames), bit 1 permessage-deflate, bit 2 context takeover, bits 3-4 a
//! small maximum message size — then the direction's bytes; a third control byte says
//! where a gap goes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rustniffer::exchange::ws_frame::{
    ReaderConfig, WsEvent, WsReader, MAX_CONTROL_PAYLOAD, MAX_KEPT,
};

#[path = "common/cuts.rs"]
mod cuts;
use cuts::Cuts;

/// An owned event (kept bytes and payloads copied).
#[derive(Debug, PartialEq, Eq)]
enum Ev {
    Start(u8),
    Message(u8, u32, u64, bool, Option<u64>, bool, Vec<u8>),
    Control(u8, u64, Vec<u8>, bool),
    Violation(&'static str),
    Stop(&'static str),
}

fn own(e: WsEvent<'_>, config: &ReaderConfig) -> Ev {
    match e {
        WsEvent::MessageStart { opcode } => Ev::Start(opcode),
        WsEvent::Message(m) => {
            assert!(m.kept.len() <= config.keep.min(MAX_KEPT));
            assert!(m.wire <= config.max_message);
            if let Some(size) = m.size {
                assert!(size <= config.max_message);
                assert!(m.compressed || size == m.wire);
            }
            Ev::Message(
                m.opcode,
                m.frames,
                m.wire,
                m.compressed,
                m.size,
                m.complete,
                m.kept.to_vec(),
            )
        }
        WsEvent::Control(c) => {
            assert!(c.payload.len() <= MAX_CONTROL_PAYLOAD);
            assert!(c.payload.len() as u64 <= c.len);
            Ev::Control(c.opcode, c.len, c.payload.to_vec(), c.complete)
        }
        WsEvent::Violation(v) => Ev::Violation(v.as_str()),
        WsEvent::Stop(s) => Ev::Stop(s.as_str()),
    }
}

/// Feeds `pieces`; a piece marked `true` is a gap of its length instead.
fn run(config: ReaderConfig, pieces: &[(bool, &[u8])]) -> Vec<Ev> {
    let mut reader = WsReader::new(config);
    let mut events = Vec::new();
    for &(gap, piece) in pieces {
        if gap {
            reader.gap(piece.len() as u64, &mut |e| events.push(own(e, &config)));
        } else {
            reader.feed(piece, &mut |e| events.push(own(e, &config)));
        }
        assert!(reader.kept_len() <= MAX_KEPT);
    }
    // The connection ends: a message in progress is reported, incomplete.
    reader.abandon(&mut |e| events.push(own(e, &config)));
    assert!(!reader.in_message());
    if let Some(at) = events.iter().position(|e| matches!(e, Ev::Stop(_))) {
        assert_eq!(at + 1, events.len(), "a stop is the last event");
    }
    events
}

fuzz_target!(|data: &[u8]| {
    let [seed, flags, gap_at, stream @ ..] = data else {
        return;
    };
    let config = ReaderConfig {
        from_client: flags & 1 != 0,
        deflate: flags & 2 != 0,
        context_takeover: flags & 4 != 0,
        max_message: [1 << 20, 1 << 10, 200, 64 << 20][usize::from(flags >> 3 & 3)],
        keep: [0, 16, 4096, MAX_KEPT + 1][usize::from(flags >> 5 & 3)],
    };
    let whole = run(config, &[(false, stream)]);

    let mut cuts = Cuts::new(*seed, 2048);
    let mut pieces = Vec::new();
    let mut rest = stream;
    while !rest.is_empty() {
        let n = cuts.next().min(rest.len());
        let (piece, tail) = rest.split_at(n);
        pieces.push((false, piece));
        rest = tail;
    }
    assert_eq!(run(config, &pieces), whole, "the cuts changed the events");

    // The same pieces with one of them missing (a capture loss).
    if !pieces.is_empty() {
        let i = usize::from(*gap_at) % pieces.len();
        pieces[i].0 = true;
        run(config, &pieces);
    }
});
