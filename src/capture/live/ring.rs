//! The TPACKET_V3 receive ring: the memory shared with the kernel, block ownership, and
//! bounds-checked reading of the frames inside a block.
//!
//! The ring is `blocks` blocks of `block_size` bytes. The kernel fills one block at a time
//! with frames (a `tpacket3_hdr`, a `sockaddr_ll`, then the frame bytes), and hands it to
//! user space by setting `TP_STATUS_USER` in the block's status word, either when the
//! block is full or when it has waited the retire timeout; user space hands it back by
//! writing `TP_STATUS_KERNEL`. Between the two, the block is ours alone.
//!
//! Layouts come from `<linux/if_packet.h>` and are read field by field from byte slices
//! (native byte order), every offset checked against the block size first: the kernel is
//! trusted, but a bug on either side must not become undefined behaviour.

use std::io;
use std::ops::Range;
use std::os::fd::{AsRawFd, OwnedFd};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, Ordering};

use super::sys::{
    ETH_P_8021Q, TPACKET_ALIGNMENT, TP_STATUS_KERNEL, TP_STATUS_USER, TP_STATUS_VLAN_TPID_VALID,
    TP_STATUS_VLAN_VALID,
};

/// `struct tpacket_block_desc` (with `struct tpacket_hdr_v1` inside).
mod block_desc {
    pub const BLOCK_STATUS: usize = 8;
    pub const NUM_PKTS: usize = 12;
    pub const OFFSET_TO_FIRST_PKT: usize = 16;
    /// `sizeof(struct tpacket_block_desc)`: frames start at or after this offset.
    pub const LEN: usize = 48;
}

/// `struct tpacket3_hdr`, at the start of every frame.
mod frame_hdr {
    pub const NEXT_OFFSET: usize = 0;
    pub const SEC: usize = 4;
    pub const NSEC: usize = 8;
    pub const SNAPLEN: usize = 12;
    pub const LEN: usize = 16;
    pub const STATUS: usize = 20;
    /// `u16`: offset of the frame bytes from the start of this header.
    pub const MAC: usize = 24;
    /// `hv1.tp_vlan_tci` (`u32`) and `hv1.tp_vlan_tpid` (`u16`).
    pub const VLAN_TCI: usize = 32;
    pub const VLAN_TPID: usize = 36;
    /// `sizeof(struct tpacket3_hdr)`.
    pub const SIZE: usize = 48;
}

/// `struct sockaddr_ll`, right after the frame header (at `TPACKET_ALIGN(SIZE)`).
mod sockaddr_ll {
    use std::ops::Range;

    /// Big-endian ethertype, kept as its two bytes.
    pub const PROTOCOL: usize = 2;
    pub const HATYPE: usize = 8;
    pub const PKTTYPE: usize = 10;
    pub const HALEN: usize = 11;
    pub const ADDR: Range<usize> = 12..20;
    pub const LEN: usize = 20;
}

/// Offset of the `sockaddr_ll` from the frame header: `TPACKET_ALIGN(sizeof(tpacket3_hdr))`.
const SOCKADDR_OFFSET: usize = align(frame_hdr::SIZE);

/// `TPACKET3_HDRLEN`: the frame header and its address; frame bytes come after.
pub const TPACKET3_HDRLEN: usize = SOCKADDR_OFFSET + sockaddr_ll::LEN;

/// The Linux cooked header (`LINKTYPE_LINUX_SLL`, tcpdump.org/linktypes): packet type,
/// hardware type, address length (each big-endian `u16`), 8 address bytes, protocol.
pub const SLL_HEADER_LEN: usize = 16;

/// An 802.1Q tag: TPID then TCI (IEEE 802.1Q §9.3), inserted after the two addresses.
const VLAN_TAG_LEN: usize = 4;
const ETHERNET_ADDRESSES_LEN: usize = 12;

/// `TPACKET_ALIGN(x)`.
const fn align(x: usize) -> usize {
    (x + TPACKET_ALIGNMENT - 1) & !(TPACKET_ALIGNMENT - 1)
}

fn u32_at(bytes: &[u8], at: usize) -> Option<u32> {
    let four = bytes.get(at..at.checked_add(4)?)?;
    Some(u32::from_ne_bytes(four.try_into().ok()?))
}

fn u16_at(bytes: &[u8], at: usize) -> Option<u16> {
    let two = bytes.get(at..at.checked_add(2)?)?;
    Some(u16::from_ne_bytes(two.try_into().ok()?))
}

/// Something in a block that the kernel would never write: the rest of the block is
/// skipped and the event counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RingError(pub &'static str);

/// Where the next frame of a block is, and how many are left.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockCursor {
    at: usize,
    remaining: u32,
}

impl BlockCursor {
    /// Reads a block's descriptor.
    pub fn open(block: &[u8]) -> Result<BlockCursor, RingError> {
        let remaining = u32_at(block, block_desc::NUM_PKTS).ok_or(RingError("short block"))?;
        let at = u32_at(block, block_desc::OFFSET_TO_FIRST_PKT).ok_or(RingError("short block"))?
            as usize;
        if remaining > 0 && (at < block_desc::LEN || at >= block.len()) {
            return Err(RingError("first frame outside its block"));
        }
        Ok(BlockCursor { at, remaining })
    }

    pub fn is_done(&self) -> bool {
        self.remaining == 0
    }

    /// Reads the next frame and moves past it. After an error the cursor is done.
    pub fn next_frame(&mut self, block: &[u8]) -> Result<Frame, RingError> {
        let result = Frame::read(block, self.at);
        self.remaining = match &result {
            Ok(_) => self.remaining.saturating_sub(1),
            Err(_) => 0,
        };
        if let Ok(frame) = &result {
            if self.remaining > 0 {
                match frame.next_offset {
                    Some(step) => self.at += step,
                    None => {
                        self.remaining = 0;
                        return Err(RingError("frame count larger than the chain of frames"));
                    }
                }
            }
        }
        result
    }
}

/// One frame's header fields, copied out of the block; `data` is where its bytes are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    pub sec: u32,
    pub nsec: u32,
    /// The captured bytes, as a range of the block, starting at the link-layer header
    /// (`SOCK_RAW`) or the network header (`SOCK_DGRAM`).
    pub data: Range<usize>,
    /// Length on the wire (`tp_len`).
    pub wire_len: u32,
    pub status: u32,
    pub vlan_tci: u16,
    pub vlan_tpid: u16,
    /// `sockaddr_ll` fields.
    pub protocol: [u8; 2],
    pub hatype: u16,
    pub pkttype: u8,
    pub addr_len: u8,
    pub addr: [u8; 8],
    /// First block offset after this frame's headers: bytes from here up to `data.start`
    /// are padding that may be overwritten to prepend a header.
    free_from: usize,
    /// Offset of the next frame from this one, when it is plausible.
    next_offset: Option<usize>,
}

impl Frame {
    fn read(block: &[u8], at: usize) -> Result<Frame, RingError> {
        let headers_end = at
            .checked_add(TPACKET3_HDRLEN)
            .filter(|&end| end <= block.len())
            .ok_or(RingError("frame header outside its block"))?;
        let hdr = &block[at..headers_end];
        let sll = &hdr[SOCKADDR_OFFSET..];
        let field = |off| u32_at(hdr, off).ok_or(RingError("frame header outside its block"));
        let snaplen = field(frame_hdr::SNAPLEN)? as usize;
        let mac = u16_at(hdr, frame_hdr::MAC).ok_or(RingError("short frame header"))? as usize;
        let start = at + mac;
        let end = start
            .checked_add(snaplen)
            .filter(|&end| start >= headers_end && end <= block.len())
            .ok_or(RingError("frame bytes outside its block"))?;
        let next = field(frame_hdr::NEXT_OFFSET)? as usize;
        let mut addr = [0u8; 8];
        addr.copy_from_slice(&sll[sockaddr_ll::ADDR]);
        Ok(Frame {
            sec: field(frame_hdr::SEC)?,
            nsec: field(frame_hdr::NSEC)?,
            data: start..end,
            wire_len: field(frame_hdr::LEN)?,
            status: field(frame_hdr::STATUS)?,
            vlan_tci: field(frame_hdr::VLAN_TCI)? as u16,
            vlan_tpid: u16_at(hdr, frame_hdr::VLAN_TPID).unwrap_or(0),
            protocol: [sll[sockaddr_ll::PROTOCOL], sll[sockaddr_ll::PROTOCOL + 1]],
            hatype: u16_at(sll, sockaddr_ll::HATYPE).unwrap_or(0),
            pkttype: sll[sockaddr_ll::PKTTYPE],
            addr_len: sll[sockaddr_ll::HALEN],
            addr,
            free_from: headers_end,
            next_offset: (next >= TPACKET3_HDRLEN && at.saturating_add(next) < block.len())
                .then_some(next),
        })
    }

    /// Whether the kernel took an 802.1Q tag out of the frame (hardware VLAN offload).
    pub fn has_stripped_vlan(&self) -> bool {
        self.status & TP_STATUS_VLAN_VALID != 0
    }

    /// The Linux cooked header for this frame (`LINKTYPE_LINUX_SLL`).
    fn cooked_header(&self) -> [u8; SLL_HEADER_LEN] {
        let mut h = [0u8; SLL_HEADER_LEN];
        h[0..2].copy_from_slice(&u16::from(self.pkttype).to_be_bytes());
        h[2..4].copy_from_slice(&self.hatype.to_be_bytes());
        let addr_len = usize::from(self.addr_len).min(self.addr.len());
        h[4..6].copy_from_slice(&(addr_len as u16).to_be_bytes());
        h[6..6 + addr_len].copy_from_slice(&self.addr[..addr_len]);
        h[14..16].copy_from_slice(&self.protocol);
        h
    }

    /// The 802.1Q tag the kernel stripped.
    fn vlan_tag(&self) -> [u8; VLAN_TAG_LEN] {
        let tpid = if self.status & TP_STATUS_VLAN_TPID_VALID != 0 && self.vlan_tpid != 0 {
            self.vlan_tpid
        } else {
            ETH_P_8021Q
        };
        let mut tag = [0u8; VLAN_TAG_LEN];
        tag[..2].copy_from_slice(&tpid.to_be_bytes());
        tag[2..].copy_from_slice(&self.vlan_tci.to_be_bytes());
        tag
    }
}

/// How a frame is turned into the bytes of its link type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    /// The bytes are already a frame of the link type.
    AsIs,
    /// Prepend a Linux cooked header (`SOCK_DGRAM` sockets).
    Cooked,
    /// Put back the 802.1Q tag the kernel stripped, after the Ethernet addresses.
    VlanTag,
}

/// Where a shaped frame's bytes are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Shaped {
    /// In the block, at this range.
    Block(Range<usize>),
    /// In the scratch buffer (the block had no room in front of the frame).
    Scratch,
}

impl Shape {
    /// How many bytes the shape adds in front of (or inside) the frame.
    pub fn added_len(self) -> usize {
        match self {
            Shape::AsIs => 0,
            Shape::Cooked => SLL_HEADER_LEN,
            Shape::VlanTag => VLAN_TAG_LEN,
        }
    }

    /// Shapes `frame`: in the block's padding in front of the frame when it has room
    /// (the kernel leaves at least 16 bytes there), else by copying into `scratch`.
    pub fn apply(self, block: &mut [u8], frame: &Frame, scratch: &mut Vec<u8>) -> Shaped {
        let data = frame.data.clone();
        let added = self.added_len();
        if self == Shape::VlanTag && data.len() < ETHERNET_ADDRESSES_LEN {
            return Shaped::Block(data);
        }
        let in_place = data
            .start
            .checked_sub(added)
            .filter(|&start| start >= frame.free_from && data.end <= block.len());
        match (self, in_place) {
            (Shape::AsIs, _) => Shaped::Block(data),
            (Shape::Cooked, Some(start)) => {
                block[start..data.start].copy_from_slice(&frame.cooked_header());
                Shaped::Block(start..data.end)
            }
            (Shape::VlanTag, Some(start)) => {
                block.copy_within(data.start..data.start + ETHERNET_ADDRESSES_LEN, start);
                let tag_at = start + ETHERNET_ADDRESSES_LEN;
                block[tag_at..tag_at + VLAN_TAG_LEN].copy_from_slice(&frame.vlan_tag());
                Shaped::Block(start..data.end)
            }
            (Shape::Cooked, None) => {
                scratch.clear();
                scratch.extend_from_slice(&frame.cooked_header());
                scratch.extend_from_slice(block.get(data).unwrap_or_default());
                Shaped::Scratch
            }
            (Shape::VlanTag, None) => {
                let bytes = block.get(data).unwrap_or_default();
                scratch.clear();
                scratch.extend_from_slice(&bytes[..ETHERNET_ADDRESSES_LEN]);
                scratch.extend_from_slice(&frame.vlan_tag());
                scratch.extend_from_slice(&bytes[ETHERNET_ADDRESSES_LEN..]);
                Shaped::Scratch
            }
        }
    }
}

/// The ring mapped into our memory. Unmapped on drop.
pub struct Ring {
    base: NonNull<u8>,
    block_size: usize,
    blocks: usize,
}

// SAFETY: the mapping belongs to this `Ring` alone (no other value holds `base`) and is
// not tied to the thread that made it; our side reaches it only through `&self` and
// `&mut self`, and the kernel's side only through the atomic status words.
unsafe impl Send for Ring {}

impl Ring {
    /// Maps the ring that `PACKET_RX_RING` set up on `fd`.
    pub fn map(fd: &OwnedFd, block_size: usize, blocks: usize) -> io::Result<Ring> {
        let len = block_size
            .checked_mul(blocks)
            .filter(|&len| len > 0)
            .ok_or_else(|| io::Error::from(io::ErrorKind::InvalidInput))?;
        // SAFETY: a fresh shared mapping of the socket's ring, at an address the kernel
        // chooses; it aliases no Rust object. `len` is the size the ring was set up with.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                fd.as_raw_fd(),
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let base = NonNull::new(ptr.cast::<u8>())
            .ok_or_else(|| io::Error::from(io::ErrorKind::AddrNotAvailable))?;
        Ok(Ring {
            base,
            block_size,
            blocks,
        })
    }

    pub fn blocks(&self) -> usize {
        self.blocks
    }

    /// The status word of block `index` (< `blocks`), shared with the kernel.
    fn status_word(&self, index: usize) -> &AtomicU32 {
        debug_assert!(index < self.blocks);
        let offset = index * self.block_size + block_desc::BLOCK_STATUS;
        // SAFETY: `index < blocks`, so `offset + 4` lies inside the mapping, which lives as
        // long as `self`. Blocks start on page boundaries (the kernel requires a
        // page-aligned block size), so the word is 4-byte aligned. The kernel reads and
        // writes this word concurrently, which is why it is only ever accessed atomically.
        unsafe { AtomicU32::from_ptr(self.base.as_ptr().add(offset).cast::<u32>()) }
    }

    /// Whether the kernel handed block `index` to us.
    pub fn is_ours(&self, index: usize) -> bool {
        // Acquire: the kernel's writes to the block happen before it sets the status.
        index < self.blocks && self.status_word(index).load(Ordering::Acquire) & TP_STATUS_USER != 0
    }

    /// Block `index`, if the kernel handed it to us.
    pub fn block(&self, index: usize) -> Option<&[u8]> {
        if !self.is_ours(index) {
            return None;
        }
        // SAFETY: the block lies inside the mapping (`index < blocks`) and the kernel does
        // not write it until `release` (which needs `&mut self`, so this borrow has ended).
        // The kernel may still *read* its status word, which this shared slice allows.
        Some(unsafe {
            std::slice::from_raw_parts(
                self.base.as_ptr().add(index * self.block_size),
                self.block_size,
            )
        })
    }

    /// Block `index` for writing (to prepend headers in its padding), if it is ours.
    pub fn block_mut(&mut self, index: usize) -> Option<&mut [u8]> {
        if !self.is_ours(index) {
            return None;
        }
        // SAFETY: as in `block`; `&mut self` makes this the only borrow of the block on
        // our side. Callers never write the block descriptor (offsets below
        // `block_desc::LEN`), which the kernel may read while we own the block.
        Some(unsafe {
            std::slice::from_raw_parts_mut(
                self.base.as_ptr().add(index * self.block_size),
                self.block_size,
            )
        })
    }

    /// Hands block `index` back to the kernel.
    pub fn release(&mut self, index: usize) {
        if index < self.blocks {
            // Release: our reads (and writes) of the block happen before the kernel
            // sees it free again.
            self.status_word(index)
                .store(TP_STATUS_KERNEL, Ordering::Release);
        }
    }
}

impl Drop for Ring {
    fn drop(&mut self) {
        // SAFETY: `base` and this length are exactly what `mmap` returned and was given;
        // no borrow of the ring can outlive `self`.
        unsafe {
            libc::munmap(
                self.base.as_ptr().cast::<libc::c_void>(),
                self.block_size * self.blocks,
            );
        }
    }
}

#[cfg(test)]
mod tests;
