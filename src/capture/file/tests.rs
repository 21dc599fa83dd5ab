use std::io::{self, Read};

use super::*;
use crate::capture::Next;

// ---- helpers: building captures -------------------------------------------------------

fn ts(secs: i64, micros: i64) -> Timestamp {
    Timestamp::from_secs_micros(secs, micros)
}

/// A classic little-endian microsecond capture written with `PcapWriter`.
fn classic(link: LinkType, snaplen: u32, packets: &[(Timestamp, &[u8])]) -> Vec<u8> {
    let mut writer = PcapWriter::new(Vec::new(), link, snaplen).expect("header");
    for (t, data) in packets {
        writer.write_packet(*t, data).expect("record");
    }
    writer.into_inner().expect("flush")
}

/// A classic capture written by hand, for byte orders and magics `PcapWriter` does not use.
fn classic_by_hand(
    big_endian: bool,
    magic: u32,
    link: u32,
    records: &[(u32, u32, &[u8])],
) -> Vec<u8> {
    let u32b = |v: u32| {
        if big_endian {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    };
    let u16b = |v: u16| {
        if big_endian {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    };
    let mut out = Vec::new();
    out.extend(u32b(magic));
    out.extend(u16b(2));
    out.extend(u16b(4));
    out.extend(u32b(0));
    out.extend(u32b(0));
    out.extend(u32b(262_144));
    out.extend(u32b(link));
    for (secs, frac, data) in records {
        out.extend(u32b(*secs));
        out.extend(u32b(*frac));
        out.extend(u32b(data.len() as u32));
        out.extend(u32b(data.len() as u32));
        out.extend_from_slice(data);
    }
    out
}

/// Builds pcapng files block by block (draft-ietf-opsawg-pcapng §3-4).
struct Pcapng {
    bytes: Vec<u8>,
    big_endian: bool,
}

impl Pcapng {
    fn new() -> Self {
        Pcapng {
            bytes: Vec::new(),
            big_endian: false,
        }
        .section(false)
    }

    fn u32b(&self, v: u32) -> [u8; 4] {
        if self.big_endian {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    }

    fn u16b(&self, v: u16) -> [u8; 2] {
        if self.big_endian {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    }

    /// Any block: type, length, body padded to 4 bytes, length again.
    fn block(mut self, kind: u32, body: &[u8]) -> Self {
        let padded = body.len().div_ceil(4) * 4;
        let len = (12 + padded) as u32;
        self.bytes.extend(self.u32b(kind));
        self.bytes.extend(self.u32b(len));
        self.bytes.extend_from_slice(body);
        self.bytes.resize(self.bytes.len() + padded - body.len(), 0);
        self.bytes.extend(self.u32b(len));
        self
    }

    fn section(mut self, big_endian: bool) -> Self {
        self.big_endian = big_endian;
        let mut body = Vec::new();
        body.extend(self.u32b(0x1A2B_3C4D));
        body.extend(self.u16b(1));
        body.extend(self.u16b(0));
        body.extend([0xFF; 8]); // section length unknown
        self.block(0x0A0D_0D0A, &body)
    }

    /// An interface; `options` are (code, value) pairs.
    fn interface(self, link: u16, snaplen: u32, options: &[(u16, Vec<u8>)]) -> Self {
        let mut body = Vec::new();
        body.extend(self.u16b(link));
        body.extend(self.u16b(0));
        body.extend(self.u32b(snaplen));
        for (code, value) in options {
            body.extend(self.u16b(*code));
            body.extend(self.u16b(value.len() as u16));
            body.extend_from_slice(value);
            body.resize(body.len().div_ceil(4) * 4, 0);
        }
        if !options.is_empty() {
            body.extend([0; 4]); // opt_endofopt
        }
        self.block(1, &body)
    }

    fn enhanced(self, interface: u32, ticks: u64, data: &[u8]) -> Self {
        let mut body = Vec::new();
        body.extend(self.u32b(interface));
        body.extend(self.u32b((ticks >> 32) as u32));
        body.extend(self.u32b(ticks as u32));
        body.extend(self.u32b(data.len() as u32));
        body.extend(self.u32b(data.len() as u32 + 10));
        body.extend_from_slice(data);
        self.block(6, &body)
    }

    fn obsolete_packet(self, interface: u16, ticks: u64, data: &[u8]) -> Self {
        let mut body = Vec::new();
        body.extend(self.u16b(interface));
        body.extend(self.u16b(0xFFFF)); // drops count unknown
        body.extend(self.u32b((ticks >> 32) as u32));
        body.extend(self.u32b(ticks as u32));
        body.extend(self.u32b(data.len() as u32));
        body.extend(self.u32b(data.len() as u32));
        body.extend_from_slice(data);
        self.block(2, &body)
    }

    fn simple(self, orig_len: u32, data: &[u8]) -> Self {
        let mut body = Vec::new();
        body.extend(self.u32b(orig_len));
        body.extend_from_slice(data);
        self.block(3, &body)
    }

    fn build(self) -> Vec<u8> {
        self.bytes
    }
}

fn le_i64(v: i64) -> Vec<u8> {
    v.to_le_bytes().to_vec()
}

// ---- helpers: reading -----------------------------------------------------------------

fn open_bytes(bytes: Vec<u8>) -> Result<FileSource, CaptureError> {
    from_reader(io::Cursor::new(bytes), "test.pcap", false)
}

#[derive(Debug, PartialEq)]
struct Read1 {
    ts: Timestamp,
    link: LinkType,
    data: Vec<u8>,
    orig_len: u32,
}

#[derive(Debug, PartialEq)]
enum Ending {
    End,
    Damaged(String),
}

/// Reads a source to its end; `limit` guards the tests themselves against endless loops.
fn drain(source: &mut FileSource) -> (Vec<Read1>, Ending) {
    let mut packets = Vec::new();
    for _ in 0..100_000 {
        match source.next_packet() {
            Next::Packet(p) => packets.push(Read1 {
                ts: p.ts,
                link: p.link,
                data: p.data.to_vec(),
                orig_len: p.orig_len,
            }),
            Next::End => return (packets, Ending::End),
            Next::Damaged(reason) => return (packets, Ending::Damaged(reason)),
        }
    }
    panic!("source never ended");
}

fn read_bytes(bytes: Vec<u8>) -> (Vec<Read1>, Ending) {
    let mut source = open_bytes(bytes).expect("capture opens");
    drain(&mut source)
}

fn damaged_reason(ending: Ending) -> String {
    match ending {
        Ending::Damaged(reason) => reason,
        Ending::End => panic!("expected damage, got a clean end"),
    }
}

fn open_error(bytes: Vec<u8>) -> CaptureError {
    match open_bytes(bytes) {
        Ok(_) => panic!("expected open to fail"),
        Err(e) => e,
    }
}

/// Hands out one byte per read, like a slow pipe.
struct Trickle(io::Cursor<Vec<u8>>);

impl Read for Trickle {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let one = buf.len().min(1);
        self.0.read(&mut buf[..one])
    }
}

/// Fails once `good` bytes have been read.
struct FailsAfter {
    data: io::Cursor<Vec<u8>>,
    good: u64,
}

impl Read for FailsAfter {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.good.saturating_sub(self.data.position());
        if left == 0 {
            return Err(io::Error::other("disk on fire"));
        }
        let n = buf.len().min(left as usize);
        self.data.read(&mut buf[..n])
    }
}

// ---- classic pcap ---------------------------------------------------------------------

#[test]
fn writer_output_reads_back_packet_by_packet() {
    let bytes = classic(
        LinkType::ETHERNET,
        65535,
        &[(ts(1, 2), b"first"), (ts(3, 999_999), b"second frame")],
    );
    let (packets, ending) = read_bytes(bytes);
    assert_eq!(ending, Ending::End);
    assert_eq!(
        packets,
        vec![
            Read1 {
                ts: ts(1, 2),
                link: LinkType::ETHERNET,
                data: b"first".to_vec(),
                orig_len: 5
            },
            Read1 {
                ts: ts(3, 999_999),
                link: LinkType::ETHERNET,
                data: b"second frame".to_vec(),
                orig_len: 12
            },
        ]
    );
}

#[test]
fn truncated_packets_keep_their_original_length() {
    let mut writer = PcapWriter::new(Vec::new(), LinkType::RAW, 65535).expect("header");
    writer
        .write_truncated_packet(ts(5, 0), b"abc", 1500)
        .expect("record");
    let (packets, _) = read_bytes(writer.into_inner().expect("flush"));
    assert_eq!(packets[0].data, b"abc");
    assert_eq!(packets[0].orig_len, 1500);
}

#[test]
fn big_endian_microsecond_files_are_read() {
    let bytes = classic_by_hand(true, classic_magic::MICROS, 1, &[(7, 250, b"frame")]);
    let (packets, ending) = read_bytes(bytes);
    assert_eq!(ending, Ending::End);
    assert_eq!(packets[0].ts, ts(7, 250));
    assert_eq!(packets[0].data, b"frame");
}

#[test]
fn nanosecond_timestamps_are_truncated_to_microseconds_in_both_byte_orders() {
    for big_endian in [false, true] {
        let bytes = classic_by_hand(
            big_endian,
            classic_magic::NANOS,
            1,
            &[(7, 123_456_789, b"x")],
        );
        let (packets, _) = read_bytes(bytes);
        assert_eq!(packets[0].ts, ts(7, 123_456), "big endian: {big_endian}");
    }
}

#[test]
fn modified_pcap_records_skip_their_extra_header_fields() {
    let mut bytes = classic_by_hand(false, classic_magic::MODIFIED, 1, &[]);
    bytes.extend(9u32.to_le_bytes());
    bytes.extend(10u32.to_le_bytes());
    bytes.extend(3u32.to_le_bytes());
    bytes.extend(3u32.to_le_bytes());
    bytes.extend([0u8; 8]); // ifindex, protocol, pkt_type, pad
    bytes.extend(b"abc");
    let (packets, ending) = read_bytes(bytes);
    assert_eq!(ending, Ending::End);
    assert_eq!(packets[0].ts, ts(9, 10));
    assert_eq!(packets[0].data, b"abc");
}

#[test]
fn fcs_bits_above_the_link_type_are_ignored() {
    let fcs_present = 0x1000_0000 | 0x0400_0000; // 4-byte FCS, "F" bit (pcap draft §4)
    let bytes = classic_by_hand(
        false,
        classic_magic::MICROS,
        fcs_present | 1,
        &[(1, 0, b"x")],
    );
    let source = open_bytes(bytes).expect("opens");
    assert_eq!(source.link_type(), LinkType::ETHERNET);
}

#[test]
fn empty_file_is_a_bad_header() {
    assert!(matches!(
        open_error(Vec::new()),
        CaptureError::BadHeader { .. }
    ));
}

#[test]
fn unknown_magic_is_a_bad_header_naming_the_magic() {
    let err = open_error(b"GET / HTTP/1.1\r\nHost: example\r\n\r\n".to_vec());
    assert!(matches!(err, CaptureError::BadHeader { .. }));
    assert!(err.to_string().contains("0x47455420"), "{err}");
}

#[test]
fn truncated_file_header_is_a_bad_header() {
    let mut bytes = classic(LinkType::ETHERNET, 65535, &[]);
    bytes.truncate(20);
    let err = open_error(bytes);
    assert!(
        err.to_string().contains("truncated pcap file header"),
        "{err}"
    );
}

#[test]
fn unsupported_pcap_version_is_a_bad_header() {
    let mut bytes = classic(LinkType::ETHERNET, 65535, &[]);
    bytes[4] = 1; // major version 1
    assert!(matches!(open_error(bytes), CaptureError::BadHeader { .. }));
}

#[test]
fn missing_file_is_an_io_error() {
    let err = open("/nonexistent/capture.pcap", false)
        .err()
        .expect("fails");
    assert!(matches!(err, CaptureError::Io { .. }));
}

#[test]
fn directory_is_an_io_error() {
    let err = open("/", false).err().expect("fails");
    assert!(matches!(err, CaptureError::Io { .. }), "{err}");
}

#[test]
fn unknown_link_type_is_refused_with_its_number() {
    let err = open_error(classic(LinkType(147), 65535, &[(ts(1, 0), b"x")]));
    assert!(matches!(
        err,
        CaptureError::UnknownLinkType { link: 147, .. }
    ));
    let text = err.to_string();
    assert!(
        text.contains("link type unknown") && text.contains("147"),
        "{text}"
    );
}

#[test]
fn every_supported_link_type_opens() {
    for link in [0, 1, 12, 14, 101, 108, 113, 228, 229, 276] {
        assert!(
            open_bytes(classic(LinkType(link), 65535, &[])).is_ok(),
            "link {link}"
        );
    }
}

#[test]
fn small_snaplen_is_refused_unless_forced() {
    let bytes = classic(LinkType::ETHERNET, 96, &[(ts(1, 0), b"x")]);
    let err = open_error(bytes.clone());
    assert!(matches!(
        err,
        CaptureError::SnaplenTooSmall { snaplen: 96, .. }
    ));
    let forced = from_reader(io::Cursor::new(bytes), "t", true).expect("forced open");
    assert_eq!(forced.snaplen(), 96);
}

#[test]
fn snaplen_65535_and_zero_are_accepted() {
    assert!(open_bytes(classic(LinkType::ETHERNET, 65535, &[])).is_ok());
    // libpcap treats 0 as "no limit".
    assert!(open_bytes(classic(LinkType::ETHERNET, 0, &[])).is_ok());
}

#[test]
fn header_only_file_has_no_packets() {
    let (packets, ending) = read_bytes(classic(LinkType::ETHERNET, 65535, &[]));
    assert!(packets.is_empty());
    assert_eq!(ending, Ending::End);
}

#[test]
fn truncated_last_packet_is_damage_after_the_packets_before_it() {
    let mut bytes = classic(
        LinkType::ETHERNET,
        65535,
        &[(ts(1, 0), b"whole"), (ts(2, 0), b"cut short")],
    );
    bytes.truncate(bytes.len() - 3);
    let (packets, ending) = read_bytes(bytes);
    assert_eq!(packets.len(), 1);
    let reason = damaged_reason(ending);
    assert!(
        reason.contains("packet 2") && reason.contains("byte offset 45"),
        "{reason}"
    );
}

#[test]
fn truncated_record_header_is_damage() {
    let mut bytes = classic(LinkType::ETHERNET, 65535, &[(ts(1, 0), b"whole")]);
    bytes.extend([1, 2, 3]);
    let (packets, ending) = read_bytes(bytes);
    assert_eq!(packets.len(), 1);
    assert!(damaged_reason(ending).contains("3 of 16 record header bytes"));
}

#[test]
fn oversized_captured_length_is_damage_without_buffering_it() {
    let mut bytes = classic(LinkType::ETHERNET, 65535, &[(ts(1, 0), b"ok")]);
    bytes.extend(1u32.to_le_bytes());
    bytes.extend(0u32.to_le_bytes());
    bytes.extend(((MAX_PACKET_LEN + 1) as u32).to_le_bytes());
    bytes.extend(((MAX_PACKET_LEN + 1) as u32).to_le_bytes());
    let (packets, ending) = read_bytes(bytes);
    assert_eq!(packets.len(), 1);
    assert!(damaged_reason(ending).contains("exceeds the maximum of 262144"));
}

#[test]
fn largest_allowed_packet_is_read() {
    let big = vec![0xAB; MAX_PACKET_LEN];
    let (packets, ending) = read_bytes(classic(
        LinkType::RAW,
        0,
        &[(ts(1, 0), &big), (ts(2, 0), &big)],
    ));
    assert_eq!(ending, Ending::End);
    assert_eq!(packets.len(), 2);
    assert_eq!(packets[1].data.len(), MAX_PACKET_LEN);
}

#[test]
fn many_packets_cross_buffer_refills_intact() {
    let frames: Vec<Vec<u8>> = (0..5000u32)
        .map(|i| vec![(i % 251) as u8; 300 + (i % 97) as usize])
        .collect();
    let packets: Vec<(Timestamp, &[u8])> = frames
        .iter()
        .enumerate()
        .map(|(i, f)| (ts(i as i64, 0), f.as_slice()))
        .collect();
    let (read, ending) = read_bytes(classic(LinkType::ETHERNET, 65535, &packets));
    assert_eq!(ending, Ending::End);
    assert_eq!(read.len(), frames.len());
    assert!(read.iter().zip(&frames).all(|(r, f)| &r.data == f));
}

#[test]
fn a_pipe_delivering_one_byte_at_a_time_is_read_whole() {
    let bytes = classic(
        LinkType::ETHERNET,
        65535,
        &[(ts(1, 0), b"one"), (ts(2, 0), b"two")],
    );
    let mut source = from_reader(Trickle(io::Cursor::new(bytes)), "pipe", false).expect("opens");
    let (packets, ending) = drain(&mut source);
    assert_eq!(ending, Ending::End);
    assert_eq!(packets.len(), 2);
}

#[test]
fn read_error_mid_file_is_damage_naming_the_error() {
    let bytes = classic(
        LinkType::ETHERNET,
        65535,
        &[(ts(1, 0), b"one"), (ts(2, 0), b"two")],
    );
    let reader = FailsAfter {
        data: io::Cursor::new(bytes),
        good: 24 + 19 + 5,
    };
    let mut source = from_reader(reader, "flaky", false).expect("opens");
    let (packets, ending) = drain(&mut source);
    assert_eq!(packets.len(), 1);
    assert!(damaged_reason(ending).contains("disk on fire"));
}

#[test]
fn reading_after_the_end_keeps_returning_end() {
    let mut source = open_bytes(classic(LinkType::ETHERNET, 65535, &[])).expect("opens");
    assert!(matches!(source.next_packet(), Next::End));
    assert!(matches!(source.next_packet(), Next::End));
}

#[test]
fn reading_after_damage_returns_end() {
    let mut bytes = classic(LinkType::ETHERNET, 65535, &[(ts(1, 0), b"cut")]);
    bytes.pop();
    let mut source = open_bytes(bytes).expect("opens");
    assert!(matches!(source.next_packet(), Next::Damaged(_)));
    assert!(matches!(source.next_packet(), Next::End));
}

#[test]
fn writer_refuses_timestamps_before_the_epoch() {
    let mut writer = PcapWriter::new(Vec::new(), LinkType::RAW, 65535).expect("header");
    assert!(writer
        .write_packet(Timestamp::from_secs_micros(-1, 0), b"x")
        .is_err());
}

/// Cuts a capture at every byte offset: each prefix opens or fails cleanly, and reading
/// ends (cleanly or damaged) with at most the packets that fit.
fn assert_every_truncation_is_handled(bytes: &[u8], total_packets: usize) {
    for cut in 0..=bytes.len() {
        let Ok(mut source) = open_bytes(bytes[..cut].to_vec()) else {
            continue;
        };
        let (packets, ending) = drain(&mut source);
        assert!(packets.len() <= total_packets, "cut at {cut}");
        if cut == bytes.len() {
            assert_eq!(ending, Ending::End);
            assert_eq!(packets.len(), total_packets);
        }
    }
}

#[test]
fn classic_truncated_at_every_offset_never_panics() {
    let bytes = classic(
        LinkType::ETHERNET,
        65535,
        &[(ts(1, 0), b"abcdefgh"), (ts(2, 0), b"ij"), (ts(3, 0), b"")],
    );
    assert_every_truncation_is_handled(&bytes, 3);
}

#[test]
fn classic_truncated_at_record_boundary_ends_cleanly() {
    let bytes = classic(
        LinkType::ETHERNET,
        65535,
        &[(ts(1, 0), b"abcdefgh"), (ts(2, 0), b"ij")],
    );
    let (packets, ending) = read_bytes(bytes[..24 + 16 + 8].to_vec());
    assert_eq!(packets.len(), 1);
    assert_eq!(ending, Ending::End);
}

// ---- pcapng ---------------------------------------------------------------------------

#[test]
fn pcapng_enhanced_packets_default_to_microseconds() {
    let bytes = Pcapng::new()
        .interface(1, 0, &[])
        .enhanced(0, 5_000_123, b"frame")
        .build();
    let (packets, ending) = read_bytes(bytes);
    assert_eq!(ending, Ending::End);
    assert_eq!(packets[0].ts, ts(5, 123));
    assert_eq!(packets[0].data, b"frame");
    assert_eq!(packets[0].orig_len, 15);
    assert_eq!(packets[0].link, LinkType::ETHERNET);
}

#[test]
fn pcapng_nanosecond_resolution_is_truncated() {
    let bytes = Pcapng::new()
        .interface(1, 0, &[(9, vec![9])])
        .enhanced(0, 7_123_456_789, b"x")
        .build();
    assert_eq!(read_bytes(bytes).0[0].ts, ts(7, 123_456));
}

#[test]
fn pcapng_power_of_two_resolution_is_honoured() {
    // 2^-10 s units: 1536 ticks = 1.5 s.
    let bytes = Pcapng::new()
        .interface(1, 0, &[(9, vec![0x80 | 10])])
        .enhanced(0, 1536, b"x")
        .build();
    assert_eq!(read_bytes(bytes).0[0].ts, ts(1, 500_000));
}

#[test]
fn pcapng_timestamp_offset_is_added() {
    let bytes = Pcapng::new()
        .interface(1, 0, &[(14, le_i64(1_000_000_000))])
        .enhanced(0, 2_000_001, b"x")
        .build();
    assert_eq!(read_bytes(bytes).0[0].ts, ts(1_000_000_002, 1));
}

#[test]
fn pcapng_unusable_resolution_is_a_bad_header() {
    let bytes = Pcapng::new()
        .interface(1, 0, &[(9, vec![20])])
        .enhanced(0, 1, b"x")
        .build();
    let err = open_error(bytes);
    assert!(err.to_string().contains("if_tsresol"), "{err}");
}

#[test]
fn pcapng_interfaces_keep_their_own_link_types() {
    let bytes = Pcapng::new()
        .interface(1, 0, &[])
        .interface(101, 0, &[])
        .enhanced(1, 1_000_000, b"raw ip")
        .enhanced(0, 2_000_000, b"ethernet")
        .build();
    let (packets, _) = read_bytes(bytes);
    assert_eq!(packets[0].link, LinkType::RAW);
    assert_eq!(packets[1].link, LinkType::ETHERNET);
}

#[test]
fn pcapng_packets_of_an_unknown_link_interface_are_skipped_and_counted() {
    let bytes = Pcapng::new()
        .interface(1, 0, &[])
        .enhanced(0, 1, b"a")
        .interface(147, 0, &[])
        .enhanced(1, 2, b"user0")
        .enhanced(1, 3, b"user0")
        .enhanced(0, 4, b"b")
        .build();
    let mut source = open_bytes(bytes).expect("opens");
    let (packets, ending) = drain(&mut source);
    assert_eq!(ending, Ending::End);
    assert_eq!(
        packets.iter().map(|p| p.data.clone()).collect::<Vec<_>>(),
        vec![b"a".to_vec(), b"b".to_vec()]
    );
    assert_eq!(source.unsupported_link_packets(), 2);
}

#[test]
fn pcapng_first_interface_with_unknown_link_is_refused() {
    let bytes = Pcapng::new()
        .interface(147, 0, &[])
        .enhanced(0, 1, b"x")
        .build();
    let err = open_error(bytes);
    assert!(matches!(
        err,
        CaptureError::UnknownLinkType { link: 147, .. }
    ));
}

#[test]
fn pcapng_first_interface_snaplen_is_checked() {
    let small = Pcapng::new().interface(1, 128, &[]).build();
    assert!(matches!(
        open_error(small),
        CaptureError::SnaplenTooSmall { snaplen: 128, .. }
    ));
    // An IDB snaplen of 0 means unlimited (draft-ietf-opsawg-pcapng §4.2).
    assert!(open_bytes(Pcapng::new().interface(1, 0, &[]).build()).is_ok());
}

#[test]
fn pcapng_without_interfaces_is_a_bad_header() {
    let err = open_error(Pcapng::new().build());
    assert!(matches!(err, CaptureError::BadHeader { .. }), "{err}");
}

#[test]
fn pcapng_packet_before_any_interface_is_a_bad_header() {
    let err = open_error(
        Pcapng::new()
            .enhanced(0, 1, b"x")
            .interface(1, 0, &[])
            .build(),
    );
    assert!(matches!(err, CaptureError::BadHeader { .. }), "{err}");
}

#[test]
fn pcapng_truncated_section_header_is_a_bad_header() {
    let mut bytes = Pcapng::new().interface(1, 0, &[]).build();
    bytes.truncate(20);
    assert!(matches!(open_error(bytes), CaptureError::BadHeader { .. }));
}

#[test]
fn pcapng_unknown_interface_id_is_damage() {
    let bytes = Pcapng::new()
        .interface(1, 0, &[])
        .enhanced(0, 1, b"a")
        .enhanced(3, 2, b"b")
        .build();
    let (packets, ending) = read_bytes(bytes);
    assert_eq!(packets.len(), 1);
    let reason = damaged_reason(ending);
    assert!(
        reason.contains("interface 3") && reason.contains("packet 2"),
        "{reason}"
    );
}

#[test]
fn pcapng_simple_packets_use_interface_zero_and_its_snaplen() {
    let bytes = Pcapng::new()
        .interface(101, 0, &[])
        .simple(5, b"hello")
        .section(false)
        .interface(1, 4, &[])
        .simple(6, b"abcdef")
        .build();
    let mut source = from_reader(io::Cursor::new(bytes), "t", true).expect("opens");
    let (packets, ending) = drain(&mut source);
    assert_eq!(ending, Ending::End);
    assert_eq!(packets[0].data, b"hello");
    assert_eq!(packets[0].link, LinkType::RAW);
    assert_eq!(
        packets[1].data, b"abcd",
        "cut to the second section's interface snaplen"
    );
    assert_eq!(packets[1].orig_len, 6);
}

#[test]
fn pcapng_obsolete_packet_blocks_are_read() {
    let bytes = Pcapng::new()
        .interface(1, 0, &[])
        .obsolete_packet(0, 3_000_004, b"old")
        .build();
    let (packets, ending) = read_bytes(bytes);
    assert_eq!(ending, Ending::End);
    assert_eq!(packets[0].ts, ts(3, 4));
    assert_eq!(packets[0].data, b"old");
}

#[test]
fn pcapng_other_blocks_are_skipped() {
    let bytes = Pcapng::new()
        .block(4, &[0; 8]) // name resolution
        .interface(1, 0, &[])
        .block(5, &[1; 20]) // interface statistics
        .enhanced(0, 1, b"a")
        .block(0x0BAD, &[2; 12]) // custom
        .enhanced(0, 2, b"b")
        .build();
    let (packets, ending) = read_bytes(bytes);
    assert_eq!(ending, Ending::End);
    assert_eq!(packets.len(), 2);
}

#[test]
fn pcapng_skipped_block_larger_than_the_buffer_is_streamed_past() {
    let huge = vec![7u8; 3 * READ_BUFFER_LEN];
    let bytes = Pcapng::new()
        .interface(1, 0, &[])
        .block(0x0BAD, &huge)
        .enhanced(0, 1, b"after")
        .build();
    let (packets, ending) = read_bytes(bytes);
    assert_eq!(ending, Ending::End);
    assert_eq!(packets[0].data, b"after");
}

#[test]
fn pcapng_oversized_packet_block_is_damage() {
    let big = vec![0u8; MAX_BUFFERED_BLOCK];
    let bytes = Pcapng::new()
        .interface(1, 0, &[])
        .enhanced(0, 1, b"a")
        .enhanced(0, 2, &big)
        .build();
    let (packets, ending) = read_bytes(bytes);
    assert_eq!(packets.len(), 1);
    assert!(damaged_reason(ending).contains("more than the 524288 accepted"));
}

#[test]
fn pcapng_captured_length_beyond_its_block_is_damage() {
    let mut bytes = Pcapng::new()
        .interface(1, 0, &[])
        .enhanced(0, 1, b"abcd")
        .build();
    let caplen_at = bytes.len() - 4 - 4 - 4 - 4; // trailer, data, origlen, then caplen
    bytes[caplen_at..caplen_at + 4].copy_from_slice(&100u32.to_le_bytes());
    let reason = damaged_reason(read_bytes(bytes).1);
    assert!(reason.contains("captured length 100"), "{reason}");
}

#[test]
fn pcapng_block_length_not_a_multiple_of_four_is_damage() {
    let mut bytes = Pcapng::new()
        .interface(1, 0, &[])
        .enhanced(0, 1, b"abcd")
        .build();
    let len_at = bytes.len() - 36 + 4; // the 36-byte block's length field
    bytes[len_at] += 1;
    assert!(damaged_reason(read_bytes(bytes).1).contains("invalid length"));
}

#[test]
fn pcapng_trailer_mismatch_is_damage() {
    let mut bytes = Pcapng::new()
        .interface(1, 0, &[])
        .enhanced(0, 1, b"abcd")
        .build();
    let last = bytes.len() - 4;
    bytes[last] = 0;
    assert!(damaged_reason(read_bytes(bytes).1).contains("differs"));
}

#[test]
fn pcapng_unsupported_version_is_a_bad_header() {
    let mut bytes = Pcapng::new().interface(1, 0, &[]).build();
    bytes[12] = 2; // major version, little-endian
    assert!(matches!(open_error(bytes), CaptureError::BadHeader { .. }));
}

#[test]
fn pcapng_big_endian_sections_are_read() {
    let bytes = Pcapng {
        bytes: Vec::new(),
        big_endian: true,
    }
    .section(true)
    .interface(1, 0, &[(9, vec![3]), (14, 10i64.to_be_bytes().to_vec())])
    .enhanced(0, 1_500, b"be")
    .build();
    let (packets, ending) = read_bytes(bytes);
    assert_eq!(ending, Ending::End);
    assert_eq!(packets[0].ts, ts(11, 500_000));
    assert_eq!(packets[0].data, b"be");
}

#[test]
fn pcapng_new_section_resets_interfaces_and_byte_order() {
    let bytes = Pcapng::new()
        .interface(1, 0, &[])
        .enhanced(0, 1_000_000, b"le")
        .section(true)
        .interface(101, 0, &[])
        .enhanced(0, 2_000_000, b"be")
        .build();
    let (packets, ending) = read_bytes(bytes);
    assert_eq!(ending, Ending::End);
    assert_eq!(packets[1].link, LinkType::RAW);
    assert_eq!(packets[1].ts, ts(2, 0));
}

#[test]
fn pcapng_damage_right_after_the_interfaces_is_reported_by_next_packet() {
    let mut bytes = Pcapng::new().interface(1, 0, &[]).build();
    bytes.extend([6, 0, 0, 0, 3, 0, 0, 0]); // an enhanced packet block of length 3
    let mut source = open_bytes(bytes).expect("header is fine");
    assert!(matches!(source.next_packet(), Next::Damaged(r) if r.contains("invalid length")));
}

#[test]
fn pcapng_truncated_at_every_offset_never_panics() {
    let bytes = Pcapng::new()
        .interface(1, 0, &[(9, vec![6])])
        .enhanced(0, 1, b"abcdefg")
        .block(5, &[0; 8])
        .simple(3, b"xyz")
        .obsolete_packet(0, 9, b"old")
        .build();
    assert_every_truncation_is_handled(&bytes, 3);
}

#[test]
fn hostile_lengths_in_every_field_never_panic() {
    // Overwrite each 4-byte aligned word of a small pcapng and a small pcap with extreme
    // values; every variant must open or fail, and read to an end.
    let ng = Pcapng::new()
        .interface(1, 0, &[(9, vec![6])])
        .enhanced(0, 1, b"abcdefg")
        .simple(3, b"xyz")
        .build();
    let classic = classic(
        LinkType::ETHERNET,
        65535,
        &[(ts(1, 0), b"abcdefgh"), (ts(2, 0), b"ij")],
    );
    for original in [ng, classic] {
        for at in (0..original.len()).step_by(4) {
            for value in [0u32, 1, 3, 12, 0x7FFF_FFFF, 0xFFFF_FFFF, 0xFFFF_FFFC] {
                let mut bytes = original.clone();
                let end = (at + 4).min(bytes.len());
                bytes[at..end].copy_from_slice(&value.to_le_bytes()[..end - at]);
                if let Ok(mut source) = open_bytes(bytes) {
                    drain(&mut source);
                }
            }
        }
    }
}

// ---- the conformance corpus -----------------------------------------------------------

/// Packet counts of the corpus captures, as `tcpdump -r FILE | wc -l` prints them
/// (tcpdump 4.99.3, libpcap 1.10.3).
const CORPUS_PACKET_COUNTS: &[(&str, usize)] = &[
    ("a_close_server_A.pcap", 11),
    ("b_ka_client_close_A.pcap", 10),
    ("c_ka_reuse_A.pcap", 22),
    ("d_http10_A.pcap", 10),
    ("e_nginx_idle_A.pcap", 11),
    ("f_post_slow_A.pcap", 16),
    ("g_big_A.pcap", 263),
    ("g_chunked_A.pcap", 25),
    ("h_rst_client_A.pcap", 8),
    ("h_rst_server_A.pcap", 8),
    ("i_pipelined_A.pcap", 12),
    ("j_nginx_curl_A.pcap", 64),
    ("k_tls12_A.pcap", 17),
    ("k_tls13_A.pcap", 18),
    ("l_line_A.pcap", 25),
    ("m_refused_A.pcap", 2),
    ("n_concurrent_A.pcap", 259),
    ("o_h2c_A.pcap", 16),
    ("p_truncated_A.pcap", 12),
    ("q_websocket_A.pcap", 23),
    ("syn_badcsum_A.pcap", 20),
    ("syn_close_A.pcap", 19),
    ("syn_dup_A.pcap", 20),
    ("syn_eof_order_A.pcap", 42),
    ("syn_epoch_A.pcap", 24),
    ("syn_fin_ooo_A.pcap", 11),
    ("syn_frag_A.pcap", 13),
    ("syn_garbage_A.pcap", 24),
    ("syn_grep_A.pcap", 14),
    ("syn_hdrsplit_A.pcap", 18),
    ("syn_headers_A.pcap", 14),
    ("syn_longidle_A.pcap", 18),
    ("syn_midstream_A.pcap", 15),
    ("syn_midswap_A.pcap", 13),
    ("syn_misc_A.pcap", 38),
    ("syn_ooo_A.pcap", 19),
    ("syn_overlap_A.pcap", 12),
    ("syn_seqwrap_A.pcap", 14),
    ("syn_server_first_A.pcap", 20),
    ("syn_time_edge_A.pcap", 19),
    ("syn_timedout_A.pcap", 63),
    ("syn_unanswered_A.pcap", 14),
    ("syn_zerowin_A.pcap", 20),
    ("twin_bigendian_a_close_server_A.pcap", 11),
    ("twin_ipv6_c_ka_reuse_A.pcap", 22),
    ("twin_nsec_f_post_slow_A.pcap", 16),
    ("twin_null_d_http10_A.pcap", 10),
    ("twin_pcapng_j_nginx_curl_A.pcapng", 64),
    ("twin_rawip_l_line_A.pcap", 25),
    ("twin_sll2_b_ka_client_close_A.pcap", 10),
    ("twin_sll_c_ka_reuse_A.pcap", 22),
    ("twin_vlan_a_close_server_A.pcap", 11),
];

fn corpus_pcaps() -> Option<std::path::PathBuf> {
    [
        concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/conformance"),
        "/work/shared/conformance",
    ]
    .iter()
    .map(|dir| std::path::Path::new(dir).join("pcaps"))
    .find(|dir| dir.is_dir())
}

#[test]
fn corpus_captures_yield_tcpdumps_packet_counts() {
    let Some(dir) = corpus_pcaps() else {
        eprintln!("note: conformance corpus not found, corpus test skipped");
        return;
    };
    for (name, expected) in CORPUS_PACKET_COUNTS {
        let path = dir.join(name);
        let mut source = open(path.to_str().expect("utf-8 path"), false)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let (packets, ending) = drain(&mut source);
        assert_eq!(ending, Ending::End, "{name}");
        assert_eq!(packets.len(), *expected, "{name}");
    }
}

#[test]
fn corpus_twins_carry_the_same_timestamps_as_their_originals() {
    let Some(dir) = corpus_pcaps() else {
        eprintln!("note: conformance corpus not found, corpus test skipped");
        return;
    };
    let read = |name: &str| {
        let mut source = open(dir.join(name).to_str().expect("utf-8 path"), true).expect(name);
        drain(&mut source)
            .0
            .into_iter()
            .map(|p| p.ts)
            .collect::<Vec<_>>()
    };
    for (twin, original) in [
        ("twin_pcapng_j_nginx_curl_A.pcapng", "j_nginx_curl_A.pcap"),
        ("twin_nsec_f_post_slow_A.pcap", "f_post_slow_A.pcap"),
        (
            "twin_bigendian_a_close_server_A.pcap",
            "a_close_server_A.pcap",
        ),
    ] {
        assert_eq!(read(twin), read(original), "{twin}");
    }
}

#[test]
fn corpus_special_captures_are_refused_as_the_reference_refuses_them() {
    let Some(dir) = corpus_pcaps() else {
        eprintln!("note: conformance corpus not found, corpus test skipped");
        return;
    };
    let path = |name: &str| dir.join(name).to_str().expect("utf-8 path").to_string();
    let err = open(&path("syn_linktype_A.pcap"), false)
        .err()
        .expect("refused");
    assert!(err.to_string().contains("link type unknown (147)"), "{err}");
    let err = open(&path("syn_snaplen_A.pcap"), false)
        .err()
        .expect("refused");
    assert!(matches!(
        err,
        CaptureError::SnaplenTooSmall { snaplen: 96, .. }
    ));
    let mut forced = open(&path("syn_snaplen_A.pcap"), true).expect("forced");
    assert_eq!(drain(&mut forced).0.len(), 10);
}

#[test]
fn a_file_on_disk_reports_its_position_up_to_its_size() {
    let packets: Vec<(Timestamp, &[u8])> = (0..1000).map(|i| (ts(i, 0), &[0u8; 200][..])).collect();
    let bytes = classic(LinkType::ETHERNET, 65535, &packets);
    let path =
        std::env::temp_dir().join(format!("rustniffer-position-{}.pcap", std::process::id()));
    std::fs::write(&path, &bytes).unwrap();
    let mut source = open(path.to_str().unwrap(), false).unwrap();
    let _ = std::fs::remove_file(&path);
    let total = bytes.len() as u64;
    let mut last = 0;
    let mut count = 0;
    loop {
        let (read, size) = source.position().unwrap();
        assert_eq!(size, total);
        assert!(read >= last && read <= total, "{read} after {last}");
        last = read;
        match source.next_packet() {
            Next::Packet(_) => count += 1,
            _ => break,
        }
    }
    assert_eq!(count, 1000);
    assert_eq!(source.position(), Some((total, total)));
    // A stream of unknown size has no position.
    let streamed = from_reader(io::Cursor::new(bytes), "stream", false).unwrap();
    assert_eq!(streamed.position(), None);
}
