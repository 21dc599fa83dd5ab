//! Link, IP and encapsulation decoding with fragment reassembly: a sequence of arbitrary frames of one
//! link type through one `Decoder`, with a small `-d` so that host eviction runs too.
//!
//! Input: byte 0 picks the link type, byte 1 the number of fragmented hosts; then
//! frames, each `[len: u16 LE][time step: i8][cut: u8]` and `len` bytes (fewer at the
//! end of the input). `cut` > 0 claims an original length longer than captured.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rustniffer::capture::{LinkType, Packet};
use rustniffer::decode::Decoder;
use rustniffer::time::Timestamp;

// New link types go at the end: the committed corpus names links by index.
const LINKS: [LinkType; 15] = [
    LinkType::ETHERNET,
    LinkType::RAW,
    LinkType::LINUX_SLL,
    LinkType::LINUX_SLL2,
    LinkType::NULL,
    LinkType::LOOP,
    LinkType::IPV4,
    LinkType::IPV6,
    LinkType::RAW_12,
    LinkType::RAW_14,
    LinkType::PPP,
    LinkType::PPP_HDLC,
    LinkType::PPP_ETHER,
    LinkType::C_HDLC,
    LinkType::NFLOG,
];

fuzz_target!(|data: &[u8]| {
    let (Some(&link), Some(&hosts)) = (data.first(), data.get(1)) else {
        return;
    };
    let link = LINKS[usize::from(link) % LINKS.len()];
    let mut decoder = Decoder::new(usize::from(hosts % 8));
    let mut rest = &data[2..];
    // Seconds steps of up to ±127 s: fragments time out (30 s) both ways.
    let mut ts = Timestamp::from_secs_micros(1_000_000, 0);
    while rest.len() >= 4 {
        let len = usize::from(u16::from_le_bytes([rest[0], rest[1]]));
        ts = Timestamp(ts.0 + i64::from(rest[2] as i8) * 1_000_000_000);
        let cut = u32::from(rest[3]);
        rest = &rest[4..];
        let frame = &rest[..len.min(rest.len())];
        rest = &rest[frame.len()..];
        let packet = Packet {
            ts,
            link,
            data: frame,
            orig_len: frame.len() as u32 + cut,
        };
        if let Some(segment) = decoder.decode(&packet) {
            assert!(segment.payload.len() <= 65_535);
            assert_eq!(segment.ts, ts);
        }
    }
    let s = decoder.stats();
    assert_eq!(
        s.frames + s.datagrams_reassembled,
        s.tcp_segments + s.non_ip + s.non_tcp + s.malformed + s.truncated + s.fragments,
        "every frame is counted once: {s:?}"
    );
    assert!(s.fragments_pending <= s.fragments);
});
