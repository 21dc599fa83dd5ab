//! Finding HTTP/2 frames in one direction of a connection picked up mid-stream (`-m`):
//! no preface, no SETTINGS seen, and the first captured byte may lie inside a frame.
//!
//! A run of frame headers that RFC 9113 §4.1 and §6 allow a sender to write, each
//! starting where the previous frame ends, is the evidence: a known type, only the
//! flags that type defines (unused flags must be sent unset, §4.1), the reserved bit
//! unset, a length within the initial `SETTINGS_MAX_FRAME_SIZE` (16,384) and the fixed
//! lengths of PRIORITY, RST_STREAM, PING, WINDOW_UPDATE and SETTINGS, stream 0 exactly
//! for the connection frames, and the stream parity of the side: a client sends
//! HEADERS, DATA and CONTINUATION on the odd streams it opened (RFC 9113 §5.1.1) and
//! never PUSH_PROMISE, which a server sends on an odd stream. The run must reach the
//! end of the bytes given (the last frame may be cut there) or hold 16 frames.
//!
//! Pure and bounded: at most [`MAX_RESYNC`] starting offsets and [`MAX_CHECKS`] header
//! checks per call, whatever the bytes.

use super::frame::{flags, kind, DEFAULT_MAX_FRAME_SIZE, FRAME_HEADER_LEN};

/// Most bytes skipped to find the first frame boundary: the tail of one frame of the
/// initial maximum size and its header.
pub const MAX_RESYNC: usize = DEFAULT_MAX_FRAME_SIZE as usize + FRAME_HEADER_LEN;

/// Most frame headers checked in one call, so that hostile bytes made of many empty
/// frames cost a bounded time at each of the [`MAX_RESYNC`] offsets.
pub const MAX_CHECKS: usize = 64 * 1024;

/// Complete frames a run must hold when it starts past the first byte (skipped bytes
/// are a guess, the evidence must be stronger); one suffices from the first byte.
const RUN_AFTER_SKIP: usize = 2;

/// Frames after which a run is taken without reading further.
const ENOUGH: usize = 16;

/// The length of a frame whose 9-byte header is `h`, if a sender on this side could
/// have written it (see the module documentation).
pub fn plausible_header(h: &[u8; FRAME_HEADER_LEN], from_client: bool) -> Option<usize> {
    let len = u32::from_be_bytes([0, h[0], h[1], h[2]]);
    let (t, f) = (h[3], h[4]);
    let raw = u32::from_be_bytes([h[5], h[6], h[7], h[8]]);
    if raw >> 31 != 0 || len > DEFAULT_MAX_FRAME_SIZE {
        return None;
    }
    let stream = raw;
    let odd = stream % 2 == 1;
    let on_stream = stream != 0;
    let (allowed, ok) = match t {
        kind::DATA => (
            flags::END_STREAM | flags::PADDED,
            on_stream && (odd || !from_client),
        ),
        kind::HEADERS => (
            flags::END_STREAM | flags::END_HEADERS | flags::PADDED | flags::PRIORITY,
            on_stream && (odd || !from_client),
        ),
        kind::PRIORITY => (0, on_stream && len == 5),
        kind::RST_STREAM => (0, on_stream && len == 4),
        kind::SETTINGS => (
            flags::ACK,
            !on_stream && len % 6 == 0 && (f & flags::ACK == 0 || len == 0),
        ),
        kind::PUSH_PROMISE => (
            flags::END_HEADERS | flags::PADDED,
            !from_client && odd && len >= 4,
        ),
        kind::PING => (flags::ACK, !on_stream && len == 8),
        kind::GOAWAY => (0, !on_stream && len >= 8),
        kind::WINDOW_UPDATE => (0, len == 4),
        kind::CONTINUATION => (flags::END_HEADERS, on_stream && (odd || !from_client)),
        _ => return None,
    };
    (ok && f & !allowed == 0).then_some(len as usize)
}

/// Where the first frame of `bytes` starts, when they are a run of frames (see the
/// module documentation): offset 0 with at least one complete frame, or a later offset
/// (the first bytes being a frame's tail) with at least two.
pub fn frame_run_start(bytes: &[u8], from_client: bool) -> Option<usize> {
    let mut checks = 0usize;
    for start in 0..bytes.len().min(MAX_RESYNC) {
        let need = if start == 0 { 1 } else { RUN_AFTER_SKIP };
        let mut at = start;
        let mut complete = 0usize;
        let reached_end = loop {
            if complete >= ENOUGH {
                break true;
            }
            let Some(header) = bytes.get(at..at + FRAME_HEADER_LEN) else {
                // The end, or a header cut by it.
                break true;
            };
            checks += 1;
            if checks > MAX_CHECKS {
                return None;
            }
            let header: &[u8; FRAME_HEADER_LEN] = header.try_into().ok()?;
            let Some(len) = plausible_header(header, from_client) else {
                break false;
            };
            at += FRAME_HEADER_LEN + len;
            if at > bytes.len() {
                // A frame cut by the end of the bytes.
                break true;
            }
            complete += 1;
        };
        if reached_end && complete >= need {
            return Some(start);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(t: u8, f: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
        let len = payload.len() as u32;
        let mut v = len.to_be_bytes()[1..].to_vec();
        v.extend_from_slice(&[t, f]);
        v.extend_from_slice(&stream.to_be_bytes());
        v.extend_from_slice(payload);
        v
    }

    #[test]
    fn frames_from_the_first_byte_are_found_there() {
        let client = [
            frame(kind::HEADERS, 0x05, 7, &[0x82, 0x86, 0xbe]),
            frame(kind::WINDOW_UPDATE, 0, 0, &[0, 0, 1, 0]),
        ]
        .concat();
        assert_eq!(frame_run_start(&client, true), Some(0));
        // A run whose last frame is cut by the end of the segment.
        assert_eq!(frame_run_start(&client[..client.len() - 2], true), Some(0));
        let server = [
            frame(kind::HEADERS, 0x04, 7, &[0x88]),
            frame(kind::DATA, 0x01, 7, b"hello"),
        ]
        .concat();
        assert_eq!(frame_run_start(&server, false), Some(0));
    }

    #[test]
    fn the_tail_of_a_frame_is_skipped_to_the_next_boundary() {
        let tail = vec![0x5a; 700];
        let bytes = [
            tail.clone(),
            frame(kind::DATA, 0x01, 9, b"end of the body"),
            frame(kind::HEADERS, 0x05, 11, &[0x88]),
        ]
        .concat();
        assert_eq!(frame_run_start(&bytes, false), Some(tail.len()));
        // One frame after a skip is not enough evidence.
        let one = [tail, frame(kind::DATA, 0x01, 9, b"x")].concat();
        assert_eq!(frame_run_start(&one, false), None);
    }

    #[test]
    fn what_a_side_cannot_send_is_not_a_run() {
        // A client's HEADERS on an even stream, or a PUSH_PROMISE from a client.
        assert_eq!(
            frame_run_start(&frame(kind::HEADERS, 0x05, 2, &[0x82]), true),
            None
        );
        let promise = frame(kind::PUSH_PROMISE, 0x04, 1, &[0, 0, 0, 2, 0x82]);
        assert_eq!(frame_run_start(&promise, true), None);
        assert_eq!(frame_run_start(&promise, false), Some(0));
        // Undefined flags, the reserved bit, a PING of 7 bytes, SETTINGS on a stream,
        // a frame over 16 KiB, an unknown type.
        for bad in [
            frame(kind::DATA, 0x02, 1, b"x"),
            frame(kind::DATA, 0, 0x8000_0001, b"x"),
            frame(kind::PING, 0, 0, b"1234567"),
            frame(kind::SETTINGS, 0, 1, &[]),
            frame(kind::DATA, 0, 1, &vec![0; 16_385]),
            frame(0x0b, 0, 1, b"x"),
        ] {
            assert_eq!(frame_run_start(&bad, false), None, "{:?}", &bad[..9]);
        }
        // Text is never a run: its first bytes make a length in the megabytes.
        assert_eq!(frame_run_start(b"GET / HTTP/1.1\r\n\r\n", true), None);
        assert_eq!(frame_run_start(b"SSH-2.0-OpenSSH_9.2\r\n", true), None);
    }

    #[test]
    fn a_long_run_is_taken_after_its_first_frames() {
        // Empty SETTINGS acks, then bytes that are no frame: sixteen frames suffice.
        let mut bytes = frame(kind::SETTINGS, 0x01, 0, &[]).repeat(4_000);
        bytes.push(0xff);
        bytes.extend(vec![0xff; 8]);
        assert_eq!(frame_run_start(&bytes, true), Some(0));
        let mut broken = vec![0xffu8];
        broken.extend(frame(kind::SETTINGS, 0x01, 0, &[]).repeat(4_000));
        assert_eq!(frame_run_start(&broken, true), Some(1));
    }

    #[test]
    fn any_bytes_are_read_without_panicking() {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        for round in 0..3_000 {
            let mut bytes = Vec::new();
            for _ in 0..(round % 300) {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                bytes.push(if state % 3 == 0 { 0 } else { state as u8 });
            }
            if let Some(at) = frame_run_start(&bytes, round % 2 == 0) {
                assert!(at < bytes.len());
            }
        }
    }
}
