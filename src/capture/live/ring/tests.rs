//! Ring blocks built by hand, laid out as the kernel lays them out, and damaged ones.

use super::*;
use proptest::prelude::*;

const BLOCK: usize = 4096;

/// Where the kernel puts frame bytes: `SOCK_RAW` with a 14-byte Ethernet header, and
/// `SOCK_DGRAM` (16 bytes of room in front of the network header).
const RAW_MAC: u16 = 82;
const DGRAM_MAC: u16 = 96;

struct TestFrame<'a> {
    mac: u16,
    bytes: &'a [u8],
    sec: u32,
    nsec: u32,
    status: u32,
    pkttype: u8,
    hatype: u16,
    protocol: u16,
    addr: &'a [u8],
    vlan_tci: u16,
}

impl Default for TestFrame<'_> {
    fn default() -> Self {
        TestFrame {
            mac: RAW_MAC,
            bytes: b"",
            sec: 1_700_000_000,
            nsec: 123_456_789,
            status: TP_STATUS_USER,
            pkttype: 0,
            hatype: 1,
            protocol: 0x0800,
            addr: &[],
            vlan_tci: 0,
        }
    }
}

fn put32(block: &mut [u8], at: usize, v: u32) {
    block[at..at + 4].copy_from_slice(&v.to_ne_bytes());
}

fn put16(block: &mut [u8], at: usize, v: u16) {
    block[at..at + 2].copy_from_slice(&v.to_ne_bytes());
}

/// A block holding `frames`, chained as the kernel chains them.
fn block_of(frames: &[TestFrame<'_>]) -> Vec<u8> {
    let mut block = vec![0u8; BLOCK];
    put32(&mut block, block_desc::BLOCK_STATUS, TP_STATUS_USER);
    put32(&mut block, block_desc::NUM_PKTS, frames.len() as u32);
    put32(
        &mut block,
        block_desc::OFFSET_TO_FIRST_PKT,
        block_desc::LEN as u32,
    );
    let mut at = block_desc::LEN;
    for (i, f) in frames.iter().enumerate() {
        let next = align(usize::from(f.mac) + f.bytes.len());
        let last = i + 1 == frames.len();
        put32(&mut block, at, if last { 0 } else { next as u32 });
        put32(&mut block, at + frame_hdr::SEC, f.sec);
        put32(&mut block, at + frame_hdr::NSEC, f.nsec);
        put32(&mut block, at + frame_hdr::SNAPLEN, f.bytes.len() as u32);
        put32(&mut block, at + frame_hdr::LEN, f.bytes.len() as u32 + 100);
        put32(&mut block, at + frame_hdr::STATUS, f.status);
        put16(&mut block, at + frame_hdr::MAC, f.mac);
        put32(&mut block, at + frame_hdr::VLAN_TCI, u32::from(f.vlan_tci));
        let sll = at + SOCKADDR_OFFSET;
        put16(&mut block, sll, libc::AF_PACKET as u16);
        block[sll + 2..sll + 4].copy_from_slice(&f.protocol.to_be_bytes());
        put16(&mut block, sll + sockaddr_ll::HATYPE, f.hatype);
        block[sll + sockaddr_ll::PKTTYPE] = f.pkttype;
        block[sll + sockaddr_ll::HALEN] = f.addr.len() as u8;
        block[sll + 12..sll + 12 + f.addr.len()].copy_from_slice(f.addr);
        let data = at + usize::from(f.mac);
        block[data..data + f.bytes.len()].copy_from_slice(f.bytes);
        at += next;
    }
    block
}

fn all_frames(block: &[u8]) -> Vec<Result<Frame, RingError>> {
    let mut cursor = BlockCursor::open(block).expect("descriptor");
    let mut out = Vec::new();
    while !cursor.is_done() {
        out.push(cursor.next_frame(block));
    }
    out
}

#[test]
fn frames_are_read_in_order_with_their_times_and_bytes() {
    let block = block_of(&[
        TestFrame {
            bytes: b"first frame",
            nsec: 5,
            ..TestFrame::default()
        },
        TestFrame {
            bytes: &[7u8; 300],
            sec: 1_700_000_001,
            ..TestFrame::default()
        },
    ]);
    let frames: Vec<Frame> = all_frames(&block).into_iter().map(Result::unwrap).collect();
    assert_eq!(frames.len(), 2);
    assert_eq!(&block[frames[0].data.clone()], b"first frame");
    assert_eq!((frames[0].sec, frames[0].nsec), (1_700_000_000, 5));
    assert_eq!(frames[0].wire_len, 111);
    assert_eq!(&block[frames[1].data.clone()], &[7u8; 300][..]);
    assert_eq!(frames[1].sec, 1_700_000_001);
}

#[test]
fn an_empty_block_has_no_frames() {
    let block = block_of(&[]);
    assert!(BlockCursor::open(&block).unwrap().is_done());
}

#[test]
fn a_cooked_header_is_written_in_the_padding_in_front_of_the_frame() {
    let mut block = block_of(&[TestFrame {
        mac: DGRAM_MAC,
        bytes: b"\x45ip packet",
        pkttype: 4,
        hatype: 772,
        protocol: 0x86dd,
        addr: &[1, 2, 3, 4, 5, 6],
        ..TestFrame::default()
    }]);
    let frame = all_frames(&block).remove(0).unwrap();
    let mut scratch = Vec::new();
    let Shaped::Block(range) = Shape::Cooked.apply(&mut block, &frame, &mut scratch) else {
        panic!("the kernel leaves 16 bytes of room in front of cooked frames");
    };
    assert_eq!(
        &block[range],
        b"\x00\x04\x03\x04\x00\x06\x01\x02\x03\x04\x05\x06\x00\x00\x86\xdd\x45ip packet"
    );
}

#[test]
fn a_cooked_frame_without_room_in_front_is_copied() {
    let mut block = block_of(&[TestFrame {
        mac: TPACKET3_HDRLEN as u16 + 8,
        bytes: b"\x45ip",
        ..TestFrame::default()
    }]);
    let frame = all_frames(&block).remove(0).unwrap();
    let before = block.clone();
    let mut scratch = Vec::new();
    assert_eq!(
        Shape::Cooked.apply(&mut block, &frame, &mut scratch),
        Shaped::Scratch
    );
    assert_eq!(block, before, "the block's headers are left alone");
    assert_eq!(scratch.len(), SLL_HEADER_LEN + 3);
    assert_eq!(&scratch[14..], b"\x08\x00\x45ip");
}

#[test]
fn a_stripped_vlan_tag_is_put_back_after_the_addresses() {
    let frame_bytes = b"DDDDDDSSSSSS\x08\x00\x45payload";
    let mut block = block_of(&[TestFrame {
        bytes: frame_bytes,
        status: TP_STATUS_USER | TP_STATUS_VLAN_VALID,
        vlan_tci: 0x0123,
        ..TestFrame::default()
    }]);
    let frame = all_frames(&block).remove(0).unwrap();
    assert!(frame.has_stripped_vlan());
    let mut scratch = Vec::new();
    let Shaped::Block(range) = Shape::VlanTag.apply(&mut block, &frame, &mut scratch) else {
        panic!("room in front of a raw frame");
    };
    assert_eq!(
        &block[range],
        b"DDDDDDSSSSSS\x81\x00\x01\x23\x08\x00\x45payload"
    );
}

#[test]
fn a_frame_as_it_is_keeps_its_range() {
    let mut block = block_of(&[TestFrame {
        bytes: b"frame",
        ..TestFrame::default()
    }]);
    let frame = all_frames(&block).remove(0).unwrap();
    let mut scratch = Vec::new();
    assert_eq!(
        Shape::AsIs.apply(&mut block, &frame, &mut scratch),
        Shaped::Block(frame.data.clone())
    );
}

#[test]
fn a_first_frame_outside_the_block_is_an_error() {
    let mut block = block_of(&[TestFrame::default()]);
    put32(&mut block, block_desc::OFFSET_TO_FIRST_PKT, BLOCK as u32);
    assert!(BlockCursor::open(&block).is_err());
    put32(&mut block, block_desc::OFFSET_TO_FIRST_PKT, 8);
    assert!(BlockCursor::open(&block).is_err(), "inside the descriptor");
}

#[test]
fn frame_bytes_beyond_the_block_are_an_error() {
    let mut block = block_of(&[TestFrame {
        bytes: b"abc",
        ..TestFrame::default()
    }]);
    put32(
        &mut block,
        block_desc::LEN + frame_hdr::SNAPLEN,
        BLOCK as u32,
    );
    assert!(all_frames(&block)[0].is_err());
    put32(&mut block, block_desc::LEN + frame_hdr::SNAPLEN, u32::MAX);
    assert!(all_frames(&block)[0].is_err());
}

#[test]
fn frame_bytes_overlapping_the_frame_header_are_an_error() {
    let mut block = block_of(&[TestFrame::default()]);
    put16(&mut block, block_desc::LEN + frame_hdr::MAC, 10);
    assert!(all_frames(&block)[0].is_err());
}

#[test]
fn a_frame_count_longer_than_the_chain_stops_at_the_last_frame() {
    let mut block = block_of(&[TestFrame::default(), TestFrame::default()]);
    put32(&mut block, block_desc::NUM_PKTS, 1_000_000);
    let frames = all_frames(&block);
    assert_eq!(frames.len(), 2);
    assert!(frames[0].is_ok());
    assert!(frames[1].is_err(), "its next offset is 0");
}

#[test]
fn a_next_offset_beyond_the_block_ends_the_block() {
    let mut block = block_of(&[TestFrame::default(), TestFrame::default()]);
    put32(
        &mut block,
        block_desc::LEN + frame_hdr::NEXT_OFFSET,
        BLOCK as u32,
    );
    let frames = all_frames(&block);
    assert_eq!(frames.len(), 1);
    assert!(frames[0].is_err());
}

proptest! {
    #[test]
    fn arbitrary_blocks_never_panic_and_stay_inside_the_block(
        bytes in proptest::collection::vec(any::<u8>(), 0..1024),
        first in 0u32..1100,
        count in any::<u32>(),
    ) {
        let mut block = bytes;
        if block.len() >= block_desc::LEN {
            put32(&mut block, block_desc::NUM_PKTS, count);
            put32(&mut block, block_desc::OFFSET_TO_FIRST_PKT, first);
        }
        let Ok(mut cursor) = BlockCursor::open(&block) else { return Ok(()); };
        let mut scratch = Vec::new();
        let mut seen = 0;
        while !cursor.is_done() {
            seen += 1;
            prop_assert!(seen <= block.len() / TPACKET3_HDRLEN + 1);
            if let Ok(frame) = cursor.next_frame(&block) {
                prop_assert!(frame.data.end <= block.len());
                for shape in [Shape::AsIs, Shape::Cooked, Shape::VlanTag] {
                    let mut copy = block.clone();
                    if let Shaped::Block(range) = shape.apply(&mut copy, &frame, &mut scratch) {
                        prop_assert!(range.end <= copy.len());
                        prop_assert_eq!(&copy[..TPACKET3_HDRLEN.min(copy.len())], &block[..TPACKET3_HDRLEN.min(block.len())]);
                    }
                }
            }
        }
    }
}
