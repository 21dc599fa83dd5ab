//! The mid-stream HTTP/2 frame boundary search and the `HTTP2-Settings` decoder over
//! arbitrary bytes: a boundary found is inside the bytes and within the resync bound,
//! and a plausible frame header starts there (or the bytes end before one); a decoded
//! `HTTP2-Settings` value is a whole number of settings whose base64url encoding is the
//! value again (without blanks and padding).
//!
//! Input: one control byte (bit 0: the client's side), then the bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rustniffer::exchange::h2::frame::FRAME_HEADER_LEN;
use rustniffer::exchange::h2::resync::{frame_run_start, plausible_header, MAX_RESYNC};
use rustniffer::exchange::h2::upgrade::decode_settings_header;

fn base64url(bytes: &[u8]) -> Vec<u8> {
    const ALPHABET: &[u8; 64] =
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = Vec::new();
    for chunk in bytes.chunks(3) {
        let mut n = 0u32;
        for (i, &b) in chunk.iter().enumerate() {
            n |= u32::from(b) << (16 - 8 * i);
        }
        for i in 0..=chunk.len() {
            out.push(ALPHABET[(n >> (18 - 6 * i)) as usize & 63]);
        }
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let Some((&control, bytes)) = data.split_first() else {
        return;
    };
    let from_client = control & 1 == 1;
    if let Some(at) = frame_run_start(bytes, from_client) {
        assert!(at < bytes.len() && at < MAX_RESYNC);
        if let Some(h) = bytes.get(at..at + FRAME_HEADER_LEN) {
            let h: &[u8; FRAME_HEADER_LEN] = h.try_into().unwrap();
            assert!(plausible_header(h, from_client).is_some());
        }
    }
    let mut out = Vec::new();
    if let Ok(settings) = decode_settings_header(bytes, &mut out) {
        assert_eq!(settings.as_bytes().len() % 6, 0);
        let text = bytes.trim_ascii();
        let text = text.strip_suffix(b"==").or(text.strip_suffix(b"=")).unwrap_or(text);
        assert_eq!(base64url(settings.as_bytes()), text);
    }
});
