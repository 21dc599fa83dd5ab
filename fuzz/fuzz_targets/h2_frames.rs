//! The HTTP/2 frame reader over arbitrary bytes cut into arbitrary pieces: the events
//! (DATA pieces joined per frame) and the final error never depend on the cuts; DATA
//! pieces form well-nested frames; payloads and the reader's buffer stay within the
//! frame size bound; an error is sticky; a gap (a missing piece) never panics and
//! either keeps the reader in sync inside a DATA payload or breaks it with `Gap`.
//!
//! Input: three control bytes (the seed of the piece sizes; where a gap goes; bit 0:
//! the client side, which starts with the preface, bits 1–2: the max frame size), then
//! the direction's bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rustniffer::exchange::h2::frame::{
    Frame, FrameError, FrameReader, DEFAULT_MAX_FRAME_SIZE, MAX_MAX_FRAME_SIZE,
};

#[path = "common/cuts.rs"]
mod cuts;
use cuts::Cuts;

/// An event with DATA pieces joined: (stream, data, end_stream, complete) or the
/// debug text of any other event.
#[derive(Debug, PartialEq)]
enum Event {
    Data(u32, Vec<u8>, bool, bool),
    Gap(u32, u64),
    Other(String),
}

#[derive(Debug, PartialEq)]
struct Log {
    events: Vec<Event>,
    error: Option<FrameError>,
    frames: u64,
}

/// Feeds `pieces`; a piece marked `true` is a gap of its length instead.
fn run(pieces: &[(bool, &[u8])], control: u8) -> Log {
    let mut reader = FrameReader::new();
    if control & 1 != 0 {
        reader.expect_preface();
    }
    let max = match (control >> 1) & 3 {
        0 => DEFAULT_MAX_FRAME_SIZE,
        1 => 100_000,
        2 => MAX_MAX_FRAME_SIZE,
        _ => 0, // clamped up to the default
    };
    reader.set_max_frame_size(max);
    let max = reader.max_frame_size();
    assert!((DEFAULT_MAX_FRAME_SIZE..=MAX_MAX_FRAME_SIZE).contains(&max));
    let mut events: Vec<Event> = Vec::new();
    let mut error = None;
    for &(gap, piece) in pieces {
        let mut on = |f: Frame<'_>| {
            assert!(error.is_none(), "an event after an error");
            // An open DATA frame is continued only by its own pieces.
            let open = match events.last() {
                Some(Event::Data(stream, _, _, false)) => Some(*stream),
                _ => None,
            };
            match f {
                Frame::Data {
                    stream,
                    data,
                    end_stream,
                    last,
                } => {
                    assert!(data.len() as u64 <= u64::from(max));
                    match events.last_mut() {
                        Some(Event::Data(s, bytes, e, done)) if open.is_some() => {
                            assert_eq!(*s, stream);
                            // A gap's placeholder does not know the flag yet.
                            assert!(*e == end_stream || bytes.is_empty());
                            *e = end_stream;
                            bytes.extend_from_slice(data);
                            *done = last;
                        }
                        _ => events.push(Event::Data(stream, data.to_vec(), end_stream, last)),
                    }
                }
                Frame::DataGap { stream, len } => {
                    // A gap may also open the frame (right after its header).
                    assert!(
                        open.is_none_or(|s| s == stream),
                        "a data gap in another frame"
                    );
                    assert!(len > 0 && len <= u64::from(max));
                    events.push(Event::Gap(stream, len));
                    // The frame goes on after the gap.
                    events.push(Event::Data(stream, Vec::new(), false, false));
                }
                other => {
                    assert!(open.is_none(), "a frame inside a DATA frame");
                    let len = match other {
                        Frame::Headers { block, .. }
                        | Frame::PushPromise { block, .. }
                        | Frame::Continuation { block, .. } => block.len(),
                        Frame::Settings { params, .. } => params.as_bytes().len(),
                        Frame::Goaway { debug, .. } => debug.len(),
                        Frame::Unknown { length, .. } => length as usize,
                        _ => 0,
                    };
                    assert!(len as u64 <= u64::from(max));
                    events.push(Event::Other(format!("{other:?}")));
                }
            }
        };
        let result = if gap {
            reader.gap(piece.len() as u64, &mut on)
        } else {
            reader.feed(piece, &mut on)
        };
        assert!(reader.buffered() <= (max as usize).max(64 * 1024));
        match (result, error) {
            (Err(e), None) => error = Some(e),
            (Err(e), Some(before)) => assert_eq!(e, before, "the error changed"),
            (Ok(()), Some(_)) => panic!("the error was not sticky"),
            (Ok(()), None) => {}
        }
        assert_eq!(reader.error(), error);
    }
    if let Some(e) = error {
        assert_eq!(
            reader.feed(b"more", &mut |_| panic!("event after error")),
            Err(e)
        );
        assert_eq!(reader.gap(3, &mut |_| panic!("event after error")), Err(e));
        assert!(!e.to_string().is_empty());
    }
    // Join a DATA frame's pieces around its gaps' placeholders.
    let mut joined: Vec<Event> = Vec::new();
    for e in events {
        match (joined.last_mut(), e) {
            (Some(Event::Data(s, bytes, _, false)), Event::Data(s2, more, end, done))
                if *s == s2 =>
            {
                bytes.extend(more);
                let last = joined.pop();
                if let Some(Event::Data(s, bytes, _, _)) = last {
                    joined.push(Event::Data(s, bytes, end, done));
                }
            }
            (_, e) => joined.push(e),
        }
    }
    Log {
        events: joined,
        error,
        frames: reader.frames(),
    }
}

fuzz_target!(|data: &[u8]| {
    let [seed, gap_at, control, stream @ ..] = data else {
        return;
    };
    let whole = run(&[(false, stream)], *control);

    let mut cuts = Cuts::new(*seed, 4096);
    let mut pieces = Vec::new();
    let mut rest = stream;
    while !rest.is_empty() {
        let n = cuts.next().min(rest.len());
        let (piece, tail) = rest.split_at(n);
        pieces.push((false, piece));
        rest = tail;
    }
    assert_eq!(run(&pieces, *control), whole, "the cuts changed the events");

    // The same pieces with one of them missing (a capture loss).
    if !pieces.is_empty() {
        let i = usize::from(*gap_at) % pieces.len();
        pieces[i].0 = true;
        run(&pieces, *control);
    }
});
