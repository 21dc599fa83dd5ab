//! Several sockets in one `PACKET_FANOUT` group, so that several threads share one
//! interface's traffic: the kernel hands each frame to one member, chosen by a hash of
//! its flow, and each member has its own ring that one thread reads.
//!
//! Owns opening the members, joining them into a group whose id no other group of the
//! network namespace uses, and the members' drop counters. Must not: read frames (each
//! member is a [`LiveSource`], read on its own) or decide how records are merged.
//!
//! The group uses `PACKET_FANOUT_HASH` with `PACKET_FANOUT_FLAG_DEFRAG`. The hash is the
//! kernel's symmetric flow hash (addresses and ports, sorted), so both directions of a
//! connection go to one member; with the defrag flag the kernel reassembles IPv4
//! fragments before hashing and hands the member the whole datagram (one frame, not its
//! fragments: unlike a single socket, which sees each fragment). IPv6 fragments are not
//! reassembled there: they arrive as fragments, hashed on their addresses alone, so all
//! fragments between two hosts go to one member, which need not be the member of the
//! flow's unfragmented packets.
//!
//! A member leaves the group when it is dropped, and the kernel then spreads the flows
//! over the members left: flows move from one member to another. The readers keep their
//! members until all of them stop.
//!
//! Nothing is captured before the group is complete: each member receives through a
//! program that rejects every frame until all have joined, and only then gets the real
//! kernel filter (or none). A member that received alone before joining would see every
//! frame, and one that joined early would get flows that belong to a later member.
//!
//! Ring size: the `--buffer-size` is shared out between the members (each gets an equal
//! part, at least [`MIN_BLOCKS`] blocks), so the kernel memory stays what the user asked
//! for whatever the number of members, unless the parts fall below the minimum.

use std::io;
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};

use super::{
    applicable_filter, attach_filter, open_error, read_drops, ring_mib, sys, LiveConfig,
    LiveSource, Role, BLOCK_SIZE, MIN_BLOCKS,
};
use crate::capture::CaptureError;

/// Most members in a group: the kernel's limit for a group joined with a plain id, as
/// here (a larger one needs `struct fanout_args`); far more threads than one capture gets.
pub const MAX_MEMBERS: usize = 256;

/// N sockets on one interface in one fanout group.
pub struct LiveGroup {
    members: Vec<LiveSource>,
    /// The kernel's id of the group; `None` for a group of one (a plain socket).
    fanout_id: Option<u16>,
}

impl LiveGroup {
    /// Opens `members` sockets on `config.interface` in one fanout group, each with an
    /// equal part of `config.buffer_bytes` and the kernel filter. With one member this is
    /// [`LiveSource::open`]: no fanout group. `stop` ends every member (each after reading
    /// what the kernel had captured for it).
    pub fn open(
        config: &LiveConfig<'_>,
        members: usize,
        stop: &'static AtomicBool,
    ) -> Result<LiveGroup, CaptureError> {
        let name = config.interface.as_str();
        if members == 0 || members > MAX_MEMBERS {
            return Err(CaptureError::Io {
                what: format!("live capture on {name}"),
                source: io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("a fanout group has 1 to {MAX_MEMBERS} sockets, not {members}"),
                ),
            });
        }
        if members == 1 {
            return Ok(LiveGroup {
                members: vec![LiveSource::open(config, stop)?],
                fanout_id: None,
            });
        }
        let blocks = member_blocks(config.buffer_bytes, members);
        let mut sockets = Vec::with_capacity(members);
        for _ in 0..members {
            sockets.push(LiveSource::open_socket(config, stop, blocks, Role::Member)?);
        }
        let id = join(&sockets).map_err(|e| {
            open_error(
                name,
                &format!("joining {members} sockets in a fanout group (a kernel of 2017 or later)"),
                e,
            )
        })?;
        // The group is complete: from here each frame goes to one member, which now lets
        // through what the filter accepts (replacing the reject-all program at once).
        for member in &sockets {
            let result = match applicable_filter(config, member.link, member.shape) {
                Some(kf) => attach_filter(&member.socket, kf.program),
                None => sys::set_option(
                    &member.socket,
                    libc::SOL_SOCKET,
                    libc::SO_DETACH_FILTER,
                    &0 as &libc::c_int,
                ),
            };
            result.map_err(|e| open_error(name, "attaching the filter", e))?;
        }
        Ok(LiveGroup {
            members: sockets,
            fanout_id: Some(id),
        })
    }

    /// How many members (sockets) the group has.
    pub fn len(&self) -> usize {
        self.members.len()
    }

    /// Never true for an opened group; here because `len` is.
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// The kernel's id of the group (`None` with one member: no group).
    pub fn fanout_id(&self) -> Option<u16> {
        self.fanout_id
    }

    /// One line for the user: interface, link type, rings and the group.
    pub fn description(&self) -> String {
        let Some(first) = self.members.first() else {
            return String::new();
        };
        match self.fanout_id {
            None => first.description(),
            Some(id) => first.describe(&format!(
                "{} rings of {} MiB in fanout group {id} (flow hash)",
                self.members.len(),
                ring_mib(first.ring.blocks())
            )),
        }
    }

    /// The members, to move each to its own thread; each gives its counters with
    /// [`LiveSource::stats`] (their sum, with `Sum`, is the group's). The group lives as
    /// long as any of them: a member that is dropped leaves it, and its flows go to the
    /// others.
    pub fn into_members(self) -> Vec<LiveSource> {
        self.members
    }

    /// A handle that reads the members' drop counts from any thread, for the metrics
    /// while the members are read elsewhere.
    pub fn drop_counters(&self) -> DropCounters {
        DropCounters::of(&self.members)
    }
}

/// Blocks per member ring: an equal part of `buffer_bytes`, at least [`MIN_BLOCKS`].
fn member_blocks(buffer_bytes: usize, members: usize) -> usize {
    (buffer_bytes / members.max(1) / BLOCK_SIZE).max(MIN_BLOCKS)
}

/// The value of the `PACKET_FANOUT` option: the group id, and the mode and flags above it.
fn fanout_value(id: u16, mode_and_flags: u32) -> u32 {
    u32::from(id) | (mode_and_flags << 16)
}

/// Joins every member (bound, each receiving nothing yet) into a new group; its id.
///
/// The first member asks the kernel for an unused id (`PACKET_FANOUT_FLAG_UNIQUEID`), so
/// the group cannot be one that another process or another group of ours already uses,
/// as an id chosen here could be; the others join it by that id, with the same mode and
/// flags (the kernel refuses a member whose differ).
fn join(members: &[LiveSource]) -> io::Result<u16> {
    let Some((first, others)) = members.split_first() else {
        return Err(io::Error::from(io::ErrorKind::InvalidInput));
    };
    let mut flags = sys::PACKET_FANOUT_HASH | sys::PACKET_FANOUT_FLAG_DEFRAG;
    if first.loopback {
        // As `PACKET_IGNORE_OUTGOING` does for one socket (which the group's delivery
        // does not look at): each loopback frame once, not twice, in the rings.
        flags |= sys::PACKET_FANOUT_FLAG_IGNORE_OUTGOING;
    }
    let create = |flags: u32| {
        sys::set_option(
            &first.socket,
            libc::SOL_PACKET,
            sys::PACKET_FANOUT,
            &fanout_value(0, flags | sys::PACKET_FANOUT_FLAG_UNIQUEID),
        )
    };
    match create(flags) {
        Err(e)
            if e.raw_os_error() == Some(libc::EINVAL)
                && flags & sys::PACKET_FANOUT_FLAG_IGNORE_OUTGOING != 0 =>
        {
            // A kernel that refuses the flag: the outgoing copies are skipped in user
            // space, as for one socket before Linux 4.20.
            flags &= !sys::PACKET_FANOUT_FLAG_IGNORE_OUTGOING;
            create(flags)?;
        }
        other => other?,
    }
    let joined: u32 = sys::get_option(&first.socket, libc::SOL_PACKET, sys::PACKET_FANOUT)?;
    let id = (joined & 0xFFFF) as u16;
    for member in others {
        sys::set_option(
            &member.socket,
            libc::SOL_PACKET,
            sys::PACKET_FANOUT,
            &fanout_value(id, flags),
        )?;
    }
    Ok(id)
}

/// The drop counts of one or more sockets, readable from any thread while the sockets
/// are read elsewhere (`Send`, `Sync`, cheap to clone).
///
/// Reading a socket's statistics resets the kernel's counters, so the sockets and this
/// handle add what each reads to one tally per socket: both see the same totals. The
/// handle does not keep a socket open: once a member is dropped, its last tally stays.
#[derive(Clone, Debug)]
pub struct DropCounters {
    members: Vec<(Weak<OwnedFd>, Arc<AtomicU64>)>,
}

impl DropCounters {
    pub(super) fn of(members: &[LiveSource]) -> DropCounters {
        DropCounters {
            members: members
                .iter()
                .map(|m| (Arc::downgrade(&m.socket), Arc::clone(&m.dropped)))
                .collect(),
        }
    }

    /// Each socket's drops so far, in member order (asks the kernel).
    pub fn per_member(&self) -> Vec<u64> {
        self.members
            .iter()
            .map(|(socket, tally)| match socket.upgrade() {
                Some(socket) => read_drops(&socket, tally),
                None => tally.load(Ordering::Relaxed),
            })
            .collect()
    }

    /// All the sockets' drops so far (asks the kernel).
    pub fn total(&self) -> u64 {
        self.per_member()
            .into_iter()
            .fold(0, |sum, one| sum.saturating_add(one))
    }
}

#[cfg(test)]
mod tests {
    use super::super::LiveStats;
    use super::*;

    #[test]
    fn the_buffer_is_shared_out_and_each_ring_keeps_the_minimum() {
        assert_eq!(member_blocks(32 << 20, 1), 128);
        assert_eq!(member_blocks(32 << 20, 2), 64);
        assert_eq!(member_blocks(32 << 20, 3), 42);
        assert_eq!(member_blocks(32 << 20, 64), MIN_BLOCKS);
        assert_eq!(member_blocks(0, 2), MIN_BLOCKS);
    }

    #[test]
    fn the_fanout_value_puts_the_mode_and_flags_above_the_id() {
        let flags = sys::PACKET_FANOUT_HASH | sys::PACKET_FANOUT_FLAG_DEFRAG;
        assert_eq!(fanout_value(0x1234, flags), 0x8000_1234);
        assert_eq!(
            fanout_value(0, flags | sys::PACKET_FANOUT_FLAG_UNIQUEID),
            0xA000_0000
        );
    }

    #[test]
    fn live_sources_and_drop_counters_may_move_to_other_threads() {
        fn sendable<T: Send>() {}
        fn shared<T: Send + Sync>() {}
        sendable::<LiveSource>();
        sendable::<LiveGroup>();
        shared::<DropCounters>();
    }

    #[test]
    fn a_group_of_no_sockets_or_too_many_is_refused_before_opening_any() {
        static STOP: AtomicBool = AtomicBool::new(false);
        let config = LiveConfig {
            interface: "lo".into(),
            buffer_bytes: BLOCK_SIZE,
            kernel_filter: None,
        };
        for members in [0, MAX_MEMBERS + 1] {
            match LiveGroup::open(&config, members, &STOP) {
                Err(CaptureError::Io { source, .. }) => {
                    assert_eq!(source.kind(), io::ErrorKind::InvalidInput);
                    assert!(source.to_string().contains(&members.to_string()));
                }
                Err(other) => panic!("unexpected error {other}"),
                Ok(_) => panic!("opened a group of {members}"),
            }
        }
    }

    #[test]
    fn a_group_on_a_missing_interface_says_so_as_one_socket_does() {
        static STOP: AtomicBool = AtomicBool::new(false);
        let config = LiveConfig {
            interface: "does-not-exist0".into(),
            buffer_bytes: BLOCK_SIZE,
            kernel_filter: None,
        };
        match LiveGroup::open(&config, 2, &STOP) {
            Err(CaptureError::NoSuchInterface { interface }) => {
                assert_eq!(interface, "does-not-exist0")
            }
            Err(other) => panic!("unexpected error {other}"),
            Ok(_) => panic!("opened a missing interface"),
        }
    }

    #[test]
    fn the_sum_of_stats_adds_each_counter() {
        let a = LiveStats {
            captured: 3,
            dropped: 1,
            malformed: 0,
        };
        let b = LiveStats {
            captured: 4,
            dropped: 2,
            malformed: 5,
        };
        let sum: LiveStats = [a, b].into_iter().sum();
        assert_eq!(
            sum,
            LiveStats {
                captured: 7,
                dropped: 3,
                malformed: 5
            }
        );
    }
}
