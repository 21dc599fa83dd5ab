//! Live capture on Linux: an `AF_PACKET` socket reading a TPACKET_V3 memory-mapped ring,
//! on one interface or on all of them (`any`), with no C library beyond libc.
//!
//! Owns opening the socket (interface lookup, link type, ring, optional classic BPF
//! program, promiscuous mode), yielding frames with the ring's nanosecond timestamps
//! (truncated to microseconds like every capture, see `time.rs`), stopping when asked,
//! and the kernel's counters. Must not: look inside frames (beyond prepending the
//! link-layer header the kernel left out), or block longer than [`POLL_TIMEOUT_MS`]
//! without checking the stop flag.
//!
//! Link types, as libpcap chooses them:
//!
//! * Ethernet and loopback interfaces: `SOCK_RAW`, frames as they are (`ETHERNET`; on
//!   loopback the addresses are zero). A VLAN tag the network card stripped is put back.
//! * Interfaces without a link header (tun, WireGuard): `SOCK_RAW`, raw IP (`RAW`).
//! * `any` and every other hardware type: `SOCK_DGRAM` ("cooked"): the kernel gives the
//!   network-layer bytes and the address it came from; a Linux cooked header
//!   (`LINUX_SLL`) is written in the 16 bytes of padding the kernel leaves in front.
//!
//! Loopback packets pass the capture point twice, once outgoing and once incoming; the
//! outgoing copy is skipped (by the kernel with `PACKET_IGNORE_OUTGOING` when the socket
//! is bound to a loopback interface, else here), so each is seen once.
//!
//! Several threads share an interface's traffic through a [`LiveGroup`] (`fanout.rs`):
//! N sockets in one `PACKET_FANOUT` group, each with its own ring, each frame handed to
//! one of them by a hash of its flow; each member is a [`LiveSource`] read on its own.
//!
//! A classic BPF program given to [`LiveSource::open`] runs in the kernel on what the
//! socket receives: from the link-layer header on `SOCK_RAW` sockets, from the network
//! header on `SOCK_DGRAM` ones (`any`), where the cooked header does not exist yet.
//!
//! Ring geometry: blocks of [`BLOCK_SIZE`] (256 KiB: a block holds any frame up to
//! 262,000 bytes, about libpcap's largest snapshot length, so GRO/GSO aggregates of
//! 64 KiB are never cut; and it holds a couple of thousand small frames, handed over
//! with one wake-up), as many as fit in the buffer size (`--buffer-size`, default
//! 32 MiB: a quarter of a second of a saturated 1 Gb/s link, sixteen times libpcap's
//! default; the kernel allocates it all up front), and at least [`MIN_BLOCKS`]: while
//! user space reads one block the kernel fills the others, so many smaller blocks absorb
//! a burst better than a few large ones. A block that is not full is handed over after
//! [`RETIRE_TIMEOUT_MS`], which bounds the delay of a record when traffic is light.

use std::io;
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{CaptureError, LinkType, Next, Packet, PacketSource};
use crate::filter::bpf::{self, BpfInsn};
use crate::time::Timestamp;

mod fanout;
mod ring;
mod sys;

pub use fanout::{DropCounters, LiveGroup, MAX_MEMBERS};
use ring::{BlockCursor, Ring, Shape, Shaped};

/// Size of one ring block (a multiple of the page size, as the kernel requires).
pub const BLOCK_SIZE: usize = 256 * 1024;

/// Fewest blocks (a 2 MiB ring, libpcap's default size): with two, a burst that fills
/// one block while user space reads the other is already lost.
pub const MIN_BLOCKS: usize = 8;

/// `tp_frame_size`. TPACKET_V3 packs frames of any size into a block and only checks that
/// `tp_frame_nr` equals frames-per-block times blocks for this size.
const FRAME_SIZE: usize = 2048;

/// `tp_retire_blk_tov`: milliseconds after which a block that is not full is handed over.
pub const RETIRE_TIMEOUT_MS: u32 = 10;

/// Longest wait in `poll` before the stop flag is looked at again.
pub const POLL_TIMEOUT_MS: i32 = 100;

/// After a stop request, how long blocks still being filled are waited for, so that the
/// frames captured before the request are read (a few retire timeouts).
const DRAIN_WAIT: Duration = Duration::from_millis(5 * RETIRE_TIMEOUT_MS as u64);

/// The interface name for every interface at once.
pub const ANY: &str = "any";

/// What to capture and how.
#[derive(Clone, Debug)]
pub struct LiveConfig<'a> {
    /// Interface name, or [`ANY`].
    pub interface: String,
    /// Ring size in bytes (rounded down to whole blocks, at least [`MIN_BLOCKS`]).
    pub buffer_bytes: usize,
    /// A classic BPF program to run in the kernel before frames reach the ring.
    pub kernel_filter: Option<KernelFilter<'a>>,
}

/// A classic BPF program written for frames of one link type: attached only when the
/// interface turns out to have that link type (the frames the kernel runs it on are the
/// frames yielded, less VLAN tags: see [`kernel_program`]).
#[derive(Clone, Copy, Debug)]
pub struct KernelFilter<'a> {
    pub link: LinkType,
    pub program: &'a [libc::sock_filter],
}

/// The kernel form of a program compiled for the frames this module yields on an
/// Ethernet (or loopback) interface; `None` when it would be too long.
///
/// The kernel runs the filter before the VLAN tag that the driver took out of the frame
/// is put back (we put it back in user space, `Shape::VlanTag`), so a tagged frame would
/// be judged without its tag; such frames are accepted here and left to the user-space
/// filter, which sees them whole. On a cooked socket (`any`, `Shape::Cooked`) the kernel
/// runs the filter on the frame without its link-layer header, not on the cooked header
/// we build, so no kernel filter is attached there.
pub fn kernel_program(program: &[BpfInsn]) -> Option<Vec<libc::sock_filter>> {
    let insn = |code: u16, jt: u8, jf: u8, k: u32| libc::sock_filter { code, jt, jf, k };
    let vlan_guard = [
        // A = "a VLAN tag was taken out of the frame"
        insn(
            bpf::BPF_LD | bpf::BPF_W | bpf::BPF_ABS,
            0,
            0,
            (bpf::SKF_AD_OFF + bpf::SKF_AD_VLAN_TAG_PRESENT) as u32,
        ),
        insn(bpf::BPF_JMP | bpf::BPF_JEQ | bpf::BPF_K, 1, 0, 0),
        insn(bpf::BPF_RET | bpf::BPF_K, 0, 0, bpf::ACCEPT),
    ];
    let full: Vec<libc::sock_filter> = vlan_guard
        .into_iter()
        .chain(program.iter().map(|i| insn(i.code, i.jt, i.jf, i.k)))
        .collect();
    (full.len() <= sys::BPF_MAXINSNS).then_some(full)
}

/// The counters reported at the end of a live capture; a fanout group's are the sum of
/// its members' (`Add`, `Sum`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LiveStats {
    /// Frames yielded (loopback duplicates excluded).
    pub captured: u64,
    /// Frames the kernel dropped because the ring was full.
    pub dropped: u64,
    /// Ring blocks or frames with impossible offsets, skipped (a kernel or ring bug).
    pub malformed: u64,
}

impl std::ops::Add for LiveStats {
    type Output = LiveStats;

    fn add(self, other: LiveStats) -> LiveStats {
        LiveStats {
            captured: self.captured.saturating_add(other.captured),
            dropped: self.dropped.saturating_add(other.dropped),
            malformed: self.malformed.saturating_add(other.malformed),
        }
    }
}

impl std::iter::Sum for LiveStats {
    fn sum<I: Iterator<Item = LiveStats>>(iter: I) -> LiveStats {
        iter.fold(LiveStats::default(), |sum, one| sum + one)
    }
}

/// A live capture, read one frame at a time: one socket and its ring, alone or a member
/// of a [`LiveGroup`]. It may be moved to another thread (`Send`).
pub struct LiveSource {
    /// Shared only with [`DropCounters`], which read its statistics.
    socket: Arc<OwnedFd>,
    ring: Ring,
    interface: String,
    link: LinkType,
    shape: Shape,
    /// Bound to a loopback interface.
    loopback: bool,
    /// Instructions of the program attached to the socket, if any.
    kernel_filter_len: Option<usize>,
    /// The block being read (or waited for).
    current: usize,
    /// Where we are in `current`, once the kernel handed it over.
    cursor: Option<BlockCursor>,
    /// Frames that could not be shaped in place.
    scratch: Vec<u8>,
    stop: &'static AtomicBool,
    drain_until: Option<Instant>,
    stats: LiveStats,
    /// The kernel's drops read so far, by this source or its [`DropCounters`].
    dropped: Arc<AtomicU64>,
}

/// How a socket is set up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    /// On its own, receiving from the moment it is bound, through the kernel filter.
    Alone,
    /// To join a fanout group: it receives nothing (a program that rejects every frame)
    /// until the group is complete and `fanout.rs` attaches the real filter.
    Member,
}

/// A classic BPF program that rejects every frame.
const REJECT_ALL: [libc::sock_filter; 1] = [libc::sock_filter {
    code: bpf::BPF_RET | bpf::BPF_K,
    jt: 0,
    jf: 0,
    k: 0,
}];

/// Where the next frame is, before it is borrowed.
struct Found {
    at: Shaped,
    ts: Timestamp,
    orig_len: u32,
}

/// What [`LiveSource::advance`] moved to.
enum Advance {
    Frame(Found),
    /// The stop flag is set and what the kernel had captured was read.
    Stopped,
    /// Nothing to hand over before the deadline.
    Quiet,
}

/// Whether an error means "not allowed" (no `CAP_NET_RAW`).
fn is_permission(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EPERM) | Some(libc::EACCES))
}

/// The error of a failed step of opening a capture on `interface`.
fn open_error(interface: &str, step: &str, source: io::Error) -> CaptureError {
    if is_permission(&source) {
        CaptureError::NotPermitted {
            interface: interface.to_string(),
            source,
        }
    } else {
        CaptureError::Io {
            what: format!("live capture on {interface}: {step}"),
            source,
        }
    }
}

/// The kernel filter of `config` that applies to a socket of this link type and shape
/// (not on cooked sockets: see [`kernel_program`]).
fn applicable_filter<'a>(
    config: &LiveConfig<'a>,
    link: LinkType,
    shape: Shape,
) -> Option<KernelFilter<'a>> {
    config
        .kernel_filter
        .filter(|kf| kf.link == link && shape == Shape::AsIs)
}

/// The drops of `socket` so far: the kernel's count since the last reading (reading
/// resets it) added to `tally`, which every reader of this socket shares.
fn read_drops(socket: &OwnedFd, tally: &AtomicU64) -> u64 {
    let new =
        sys::get_option::<libc::tpacket_stats_v3>(socket, libc::SOL_PACKET, sys::PACKET_STATISTICS)
            .map_or(0, |kernel| u64::from(kernel.tp_drops));
    tally.fetch_add(new, Ordering::Relaxed).saturating_add(new)
}

impl LiveSource {
    /// Opens a live capture; `stop` ends it (after the frames already captured are read).
    pub fn open(
        config: &LiveConfig<'_>,
        stop: &'static AtomicBool,
    ) -> Result<LiveSource, CaptureError> {
        let blocks = (config.buffer_bytes / BLOCK_SIZE).max(MIN_BLOCKS);
        LiveSource::open_socket(config, stop, blocks, Role::Alone)
    }

    /// Opens one socket with a ring of `blocks` blocks, bound to the interface.
    fn open_socket(
        config: &LiveConfig<'_>,
        stop: &'static AtomicBool,
        blocks: usize,
        role: Role,
    ) -> Result<LiveSource, CaptureError> {
        let name = config.interface.as_str();
        let io_error = |step: &str, source: io::Error| open_error(name, step, source);
        let ifindex = if name == ANY {
            0
        } else {
            sys::interface_index(name).ok_or_else(|| CaptureError::NoSuchInterface {
                interface: name.to_string(),
            })?
        };
        // `any` is always cooked; a named interface starts raw, which suits most of them,
        // and serves to ask for the interface's flags and hardware type.
        let first_kind = if ifindex == 0 {
            libc::SOCK_DGRAM
        } else {
            libc::SOCK_RAW
        };
        let mut socket =
            sys::packet_socket(first_kind).map_err(|e| io_error("opening a socket", e))?;
        let hatype = if ifindex == 0 {
            None
        } else {
            let flags = sys::interface_flags(&socket, name).map_err(|e| {
                if e.raw_os_error() == Some(libc::ENODEV) {
                    CaptureError::NoSuchInterface {
                        interface: name.to_string(),
                    }
                } else {
                    io_error("reading the interface flags", e)
                }
            })?;
            if flags & sys::IFF_UP == 0 {
                return Err(CaptureError::InterfaceDown {
                    interface: name.to_string(),
                });
            }
            Some(
                sys::interface_hardware_type(&socket, name)
                    .map_err(|e| io_error("reading the hardware type", e))?,
            )
        };
        let (link, shape) = match hatype {
            Some(sys::ARPHRD_ETHER) | Some(sys::ARPHRD_LOOPBACK) => {
                (LinkType::ETHERNET, Shape::AsIs)
            }
            Some(sys::ARPHRD_NONE) => (LinkType::RAW, Shape::AsIs),
            _ => (LinkType::LINUX_SLL, Shape::Cooked),
        };
        if shape == Shape::Cooked && first_kind != libc::SOCK_DGRAM {
            socket = sys::packet_socket(libc::SOCK_DGRAM)
                .map_err(|e| io_error("opening a socket", e))?;
        }
        sys::set_option(
            &socket,
            libc::SOL_PACKET,
            sys::PACKET_VERSION,
            &sys::TPACKET_V3,
        )
        .map_err(|e| io_error("asking for TPACKET_V3 (Linux 3.2 or later)", e))?;
        let kernel_filter = applicable_filter(config, link, shape);
        match (role, kernel_filter) {
            (Role::Alone, Some(kf)) => attach_filter(&socket, kf.program)
                .map_err(|e| io_error("attaching the filter", e))?,
            (Role::Alone, None) => {}
            (Role::Member, _) => attach_filter(&socket, &REJECT_ALL)
                .map_err(|e| io_error("attaching the filter", e))?,
        }
        if hatype == Some(sys::ARPHRD_LOOPBACK) {
            // Best effort: before Linux 4.20 the outgoing copies are skipped in user space.
            let _ = sys::set_option(
                &socket,
                libc::SOL_PACKET,
                sys::PACKET_IGNORE_OUTGOING,
                &1 as &libc::c_int,
            );
        }
        let request = ring_request(blocks).ok_or_else(|| {
            io_error(
                "sizing the ring",
                io::Error::from(io::ErrorKind::InvalidInput),
            )
        })?;
        sys::set_option(&socket, libc::SOL_PACKET, sys::PACKET_RX_RING, &request).map_err(|e| {
            io_error(
                &format!(
                    "setting up a ring of {} MiB (try a smaller --buffer-size)",
                    ring_mib(blocks)
                ),
                e,
            )
        })?;
        let ring =
            Ring::map(&socket, BLOCK_SIZE, blocks).map_err(|e| io_error("mapping the ring", e))?;
        sys::bind_all_protocols(&socket, ifindex).map_err(|e| io_error("binding", e))?;
        if ifindex != 0 && hatype != Some(sys::ARPHRD_LOOPBACK) {
            let promisc = libc::packet_mreq {
                mr_ifindex: ifindex,
                mr_type: sys::PACKET_MR_PROMISC,
                mr_alen: 0,
                mr_address: [0; 8],
            };
            sys::set_option(
                &socket,
                libc::SOL_PACKET,
                sys::PACKET_ADD_MEMBERSHIP,
                &promisc,
            )
            .map_err(|e| io_error("entering promiscuous mode", e))?;
        }
        match sys::take_socket_error(&socket) {
            Ok(None) => {}
            Ok(Some(e)) if e.raw_os_error() == Some(libc::ENETDOWN) => {
                return Err(CaptureError::InterfaceDown {
                    interface: name.to_string(),
                })
            }
            Ok(Some(e)) | Err(e) => return Err(io_error("binding", e)),
        }
        Ok(LiveSource {
            socket: Arc::new(socket),
            ring,
            interface: name.to_string(),
            link,
            shape,
            loopback: hatype == Some(sys::ARPHRD_LOOPBACK),
            kernel_filter_len: kernel_filter.map(|kf| kf.program.len()),
            current: 0,
            cursor: None,
            scratch: Vec::new(),
            stop,
            drain_until: None,
            stats: LiveStats::default(),
            dropped: Arc::new(AtomicU64::new(0)),
        })
    }

    /// One line for the user: interface, link type and ring size.
    pub fn description(&self) -> String {
        self.describe(&format!("ring of {} MiB", ring_mib(self.ring.blocks())))
    }

    /// The description, with `rings` saying what the ring (or the rings) are.
    fn describe(&self, rings: &str) -> String {
        let link = match self.link {
            LinkType::ETHERNET => "Ethernet",
            LinkType::RAW => "raw IP",
            _ => "Linux cooked",
        };
        let kernel_filter = match self.kernel_filter_len {
            Some(len) => format!(", kernel filter: {len} instructions"),
            None => String::new(),
        };
        format!(
            "{}, link type {} ({link}), {rings}{kernel_filter}",
            self.interface, self.link.0
        )
    }

    /// The length of the program the kernel runs, if one was attached.
    pub fn kernel_filter_len(&self) -> Option<usize> {
        self.kernel_filter_len
    }

    /// Counters so far, with the kernel's drop count (read and added up: reading resets
    /// the kernel's counters).
    pub fn stats(&mut self) -> LiveStats {
        self.stats.dropped = read_drops(&self.socket, &self.dropped);
        self.stats
    }

    /// The id of the fanout group the socket is in, as the kernel says (`None`: alone).
    pub fn fanout_id(&self) -> Option<u16> {
        let value: u32 =
            sys::get_option(&self.socket, libc::SOL_PACKET, sys::PACKET_FANOUT).ok()?;
        // Zero when the socket is in no group (the kernel's answer then); a group's value
        // also holds its mode and flags above the id, and the mode `PACKET_FANOUT_HASH`
        // is zero, so a group is known by its flags (we always give some).
        (value != 0).then_some((value & 0xFFFF) as u16)
    }

    /// A handle that reads this source's drop count from any thread.
    pub fn drop_counters(&self) -> DropCounters {
        DropCounters::of(std::slice::from_ref(self))
    }

    /// The next frame, or `None` when none came within `quiet` (the ring had nothing to
    /// hand over for that long): for a reader that has other work when its share of the
    /// traffic is quiet, such as the parallel pipeline's workers, which then tell the
    /// merger that their clock moved on. `Next::End` when stopped, as `next_packet`.
    pub fn next_within(&mut self, quiet: Duration) -> Option<Next<'_>> {
        match self.advance(Some(quiet)) {
            Ok(Advance::Quiet) => None,
            other => Some(self.yielded(other)),
        }
    }

    /// What [`LiveSource::advance`] found, as a [`Next`].
    fn yielded(&self, advanced: Result<Advance, String>) -> Next<'_> {
        match advanced {
            Ok(Advance::Frame(found)) => {
                let data = match &found.at {
                    Shaped::Block(range) => self
                        .ring
                        .block(self.current)
                        .and_then(|block| block.get(range.clone()))
                        .unwrap_or_default(),
                    Shaped::Scratch => &self.scratch,
                };
                Next::Packet(Packet {
                    ts: found.ts,
                    link: self.link,
                    data,
                    orig_len: found.orig_len,
                })
            }
            Ok(Advance::Stopped) => Next::End,
            // Only asked for with a deadline (`next_within`), which says so itself.
            Ok(Advance::Quiet) => Next::End,
            Err(reason) => Next::Damaged(reason),
        }
    }

    /// Moves to the next frame to yield; `Stopped` when stopped, `Quiet` when nothing
    /// came for `quiet` (counted from the first look at the next block: a frame of the
    /// current block costs no clock read).
    fn advance(&mut self, quiet: Option<Duration>) -> Result<Advance, String> {
        let mut quiet_until: Option<Instant> = None;
        loop {
            if let Some(cursor) = &mut self.cursor {
                if !cursor.is_done() {
                    let Some(block) = self.ring.block_mut(self.current) else {
                        self.cursor = None;
                        continue;
                    };
                    let frame = match cursor.next_frame(block) {
                        Ok(frame) => frame,
                        Err(_) => {
                            self.stats.malformed += 1;
                            continue;
                        }
                    };
                    if frame.pkttype == sys::PACKET_OUTGOING && frame.hatype == sys::ARPHRD_LOOPBACK
                    {
                        continue;
                    }
                    let shape = if self.shape == Shape::AsIs
                        && self.link == LinkType::ETHERNET
                        && frame.has_stripped_vlan()
                    {
                        Shape::VlanTag
                    } else {
                        self.shape
                    };
                    let at = shape.apply(block, &frame, &mut self.scratch);
                    let len = match &at {
                        Shaped::Block(range) => range.len(),
                        Shaped::Scratch => self.scratch.len(),
                    };
                    let added = u32::try_from(len.saturating_sub(frame.data.len())).unwrap_or(0);
                    self.stats.captured += 1;
                    return Ok(Advance::Frame(Found {
                        at,
                        ts: Timestamp::from_secs_nanos(frame.sec.into(), frame.nsec.into()),
                        orig_len: frame.wire_len.saturating_add(added),
                    }));
                }
                // Every frame of the block was read (and the last one is no longer
                // borrowed, as this call holds `&mut self`): hand the block back.
                self.cursor = None;
                self.ring.release(self.current);
                self.current = (self.current + 1) % self.ring.blocks();
                continue;
            }
            let mut timeout = POLL_TIMEOUT_MS;
            if self.stop.load(Ordering::Relaxed) {
                let until = *self
                    .drain_until
                    .get_or_insert_with(|| Instant::now() + DRAIN_WAIT);
                let left = until.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Ok(Advance::Stopped);
                }
                timeout = i32::try_from(left.as_millis()).unwrap_or(1).max(1);
            }
            if let Some(quiet) = quiet {
                let until = *quiet_until.get_or_insert_with(|| Instant::now() + quiet);
                let left = until.saturating_duration_since(Instant::now());
                if left.is_zero() && self.ring.block(self.current).is_none() {
                    return Ok(Advance::Quiet);
                }
                timeout = timeout.min(i32::try_from(left.as_millis()).unwrap_or(1).max(1));
            }
            if let Some(block) = self.ring.block(self.current) {
                match BlockCursor::open(block) {
                    Ok(cursor) => self.cursor = Some(cursor),
                    Err(_) => {
                        self.stats.malformed += 1;
                        self.ring.release(self.current);
                        self.current = (self.current + 1) % self.ring.blocks();
                    }
                }
                continue;
            }
            self.wait(timeout)?;
        }
    }

    /// Waits for the kernel to hand over a block, a signal, or the timeout.
    fn wait(&mut self, timeout_ms: i32) -> Result<(), String> {
        let revents = sys::poll_readable(&self.socket, timeout_ms)
            .map_err(|e| format!("live capture on {}: poll: {e}", self.interface))?;
        if revents & libc::POLLERR != 0 {
            match sys::take_socket_error(&self.socket) {
                Ok(None) => {}
                Ok(Some(e)) if e.raw_os_error() == Some(libc::ENETDOWN) => {
                    return Err(format!("interface {} went down", self.interface))
                }
                Ok(Some(e)) | Err(e) => {
                    return Err(format!("live capture on {}: {e}", self.interface))
                }
            }
        }
        if revents & (libc::POLLHUP | libc::POLLNVAL) != 0 {
            return Err(format!(
                "live capture on {}: the socket was closed",
                self.interface
            ));
        }
        Ok(())
    }
}

impl PacketSource for LiveSource {
    fn next_packet(&mut self) -> Next<'_> {
        let advanced = self.advance(None);
        self.yielded(advanced)
    }

    fn kernel_drops(&mut self) -> Option<u64> {
        Some(self.stats().dropped)
    }
}

/// The size of a ring of `blocks` blocks, in MiB.
fn ring_mib(blocks: usize) -> usize {
    blocks.saturating_mul(BLOCK_SIZE) / (1 << 20)
}

/// The `PACKET_RX_RING` request for `blocks` blocks.
fn ring_request(blocks: usize) -> Option<libc::tpacket_req3> {
    let frames = (BLOCK_SIZE / FRAME_SIZE).checked_mul(blocks)?;
    Some(libc::tpacket_req3 {
        tp_block_size: u32::try_from(BLOCK_SIZE).ok()?,
        tp_block_nr: u32::try_from(blocks).ok()?,
        tp_frame_size: u32::try_from(FRAME_SIZE).ok()?,
        tp_frame_nr: u32::try_from(frames).ok()?,
        tp_retire_blk_tov: RETIRE_TIMEOUT_MS,
        tp_sizeof_priv: 0,
        tp_feature_req_word: 0,
    })
}

/// Attaches a classic BPF program (`SO_ATTACH_FILTER`); the kernel copies it.
fn attach_filter(socket: &OwnedFd, program: &[libc::sock_filter]) -> io::Result<()> {
    if program.is_empty() || program.len() > sys::BPF_MAXINSNS {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "a classic BPF program has 1 to {} instructions, not {}",
                sys::BPF_MAXINSNS,
                program.len()
            ),
        ));
    }
    let fprog = libc::sock_fprog {
        len: program.len() as u16,
        // The kernel only reads through this pointer (the C type lacks `const`).
        filter: program.as_ptr().cast_mut(),
    };
    sys::set_option(socket, libc::SOL_SOCKET, libc::SO_ATTACH_FILTER, &fprog)
}

/// An interface as `/sys/class/net` describes it, for choosing the default one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InterfaceInfo {
    pub name: String,
    pub index: u32,
    /// `IFF_*` flags.
    pub flags: u32,
    /// `operstate`: `up`, `down`, `unknown` (interfaces that do not report it)...
    pub operstate: String,
}

/// The interface to capture from when none is named (SPEC §1): the up, non-loopback
/// interface with the lowest index, preferring those whose link is up.
pub fn choose_default_interface(interfaces: &[InterfaceInfo]) -> Option<&InterfaceInfo> {
    interfaces
        .iter()
        .filter(|i| i.flags & sys::IFF_UP != 0 && i.flags & sys::IFF_LOOPBACK == 0)
        .min_by_key(|i| {
            let link_up = matches!(i.operstate.as_str(), "up" | "unknown");
            (!link_up, i.index)
        })
}

/// The interfaces listed in `/sys/class/net`.
pub fn list_interfaces() -> io::Result<Vec<InterfaceInfo>> {
    let root = std::path::Path::new("/sys/class/net");
    let read = |name: &str, file: &str| {
        std::fs::read_to_string(root.join(name).join(file))
            .map(|s| s.trim().to_string())
            .unwrap_or_default()
    };
    let mut list = Vec::new();
    for entry in std::fs::read_dir(root)? {
        let Ok(name) = entry?.file_name().into_string() else {
            continue;
        };
        let flags = read(&name, "flags");
        let flags = u32::from_str_radix(flags.trim_start_matches("0x"), 16).unwrap_or(0);
        let index = read(&name, "ifindex").parse().unwrap_or(u32::MAX);
        let operstate = read(&name, "operstate");
        list.push(InterfaceInfo {
            name,
            index,
            flags,
            operstate,
        });
    }
    Ok(list)
}

/// The default interface's name, or why there is none.
pub fn default_interface() -> Result<String, CaptureError> {
    let list = list_interfaces().map_err(|source| CaptureError::Io {
        what: "looking for an interface in /sys/class/net".into(),
        source,
    })?;
    choose_default_interface(&list)
        .map(|i| i.name.clone())
        .ok_or(CaptureError::NoDefaultInterface)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(name: &str, index: u32, flags: u32, operstate: &str) -> InterfaceInfo {
        InterfaceInfo {
            name: name.into(),
            index,
            flags,
            operstate: operstate.into(),
        }
    }

    #[test]
    fn the_default_interface_is_the_first_up_one_that_is_not_loopback() {
        let list = [
            info("eth1", 4, 0x1003, "up"),
            info("lo", 1, 0x9, "unknown"),
            info("ifb0", 2, 0x82, "down"),
            info("eth0", 3, 0x1003, "up"),
        ];
        assert_eq!(choose_default_interface(&list).unwrap().name, "eth0");
    }

    #[test]
    fn an_interface_whose_link_is_up_wins_over_one_without_carrier() {
        let list = [
            info("eth0", 2, 0x1003, "down"),
            info("wg0", 5, 0x91, "unknown"),
        ];
        assert_eq!(choose_default_interface(&list).unwrap().name, "wg0");
        assert_eq!(
            choose_default_interface(&list[..1]).unwrap().name,
            "eth0",
            "an up interface without carrier is still better than none"
        );
    }

    #[test]
    fn no_default_interface_when_only_loopback_is_up() {
        assert!(choose_default_interface(&[info("lo", 1, 0x9, "unknown")]).is_none());
        assert!(choose_default_interface(&[]).is_none());
    }

    #[test]
    fn the_ring_request_is_consistent() {
        let r = ring_request(32).unwrap();
        assert_eq!(r.tp_block_nr, 32);
        assert_eq!(
            r.tp_frame_nr,
            r.tp_block_nr * (r.tp_block_size / r.tp_frame_size)
        );
        assert_eq!(r.tp_block_size as usize % 4096, 0);
        assert_eq!(r.tp_frame_size as usize % sys::TPACKET_ALIGNMENT, 0);
    }

    #[test]
    fn a_missing_interface_is_named() {
        static STOP: AtomicBool = AtomicBool::new(false);
        let config = LiveConfig {
            interface: "does-not-exist0".into(),
            buffer_bytes: BLOCK_SIZE,
            kernel_filter: None,
        };
        match LiveSource::open(&config, &STOP) {
            Err(CaptureError::NoSuchInterface { interface }) => {
                assert_eq!(interface, "does-not-exist0")
            }
            Err(other) => panic!("unexpected error {other}"),
            Ok(_) => panic!("opened a missing interface"),
        }
    }

    #[test]
    fn an_overlong_interface_name_is_not_found_rather_than_cut() {
        assert_eq!(sys::interface_index("lo-with-a-very-long-name"), None);
        assert_eq!(sys::interface_index("l\0o"), None);
    }
}
