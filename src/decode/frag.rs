//! IP fragment reassembly, IPv4 and IPv6 alike, bounded in hosts, bytes and time.
//!
//! A datagram is rebuilt in one buffer sized to the furthest byte seen, with a sorted
//! list of the byte ranges received. Fragments may come in any order, repeat or
//! overlap: bytes already received are kept, only the gaps a fragment fills are copied.
//!
//! Pending datagrams are grouped by **destination** host, as libnids does (and as the
//! receiving host itself would reassemble, RFC 791 §3.2): the per-host byte bound then
//! models that host's reassembly buffer, and a sender spoofing many source addresses
//! towards one victim occupies one host slot, not the whole table.
//!
//! "Oldest" is decided by arrival order, not by timestamps, since capture timestamps may
//! go backwards.

use std::collections::HashMap;
use std::net::IpAddr;

use super::DecodeStats;
use crate::time::Timestamp;

/// A datagram with no new fragment for this long (capture time, either direction) is
/// discarded: RFC 791 §3.2 suggests 15 s, libnids (like Linux 2.0) uses 30 s, re-armed
/// by each fragment.
pub const TIMEOUT_NS: u64 = 30 * 1_000_000_000;

/// Bytes of pending fragments per destination host: libnids' `IPFRAG_HIGH_THRESH`.
pub const HOST_BYTES_MAX: usize = 256 * 1024;

/// Bytes of pending fragments in all, whatever `-d` says, so that the default 1024
/// hosts cannot hold 256 MiB.
pub const TOTAL_BYTES_MAX: usize = 64 * 1024 * 1024;

/// Largest reassembled IP payload: the 16-bit length fields of IPv4 (RFC 791 §3.1) and
/// IPv6 (RFC 8200 §3) cannot describe more.
pub const DATAGRAM_MAX: u32 = 65_535;

/// Disjoint byte ranges one datagram may hold before it is given up. Real senders
/// produce a handful (an IPv6 datagram has at most 52 fragments at the 1280-byte
/// minimum MTU); only crafted traffic gets near this.
pub const RANGES_MAX: usize = 1024;

/// What one pending datagram costs besides its buffer, charged to its host so that
/// thousands of empty datagrams cannot hide under the byte bound.
const DATAGRAM_OVERHEAD: usize = 256;

/// Released buffers kept for the next datagrams, so a steady stream of fragmented
/// traffic stops allocating.
const SPARE_BUFFERS: usize = 8;

/// What identifies the fragments of one datagram: source, destination, protocol and
/// identification for IPv4 (RFC 791 §3.2); source, destination and identification for
/// IPv6 (RFC 8200 §4.5), where `protocol` is 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct DatagramId {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub protocol: u8,
    pub id: u32,
}

/// One fragment, borrowed from the packet.
pub(crate) struct Fragment<'b> {
    pub id: DatagramId,
    /// Byte offset of `data` in the reassembled payload.
    pub offset: u32,
    pub more: bool,
    pub data: &'b [u8],
    /// IPv6: the fragment header's Next Header; only the first fragment's counts
    /// (RFC 8200 §4.5). IPv4: unused.
    pub next_header: u8,
}

pub(crate) enum Outcome {
    /// Kept, waiting for the rest.
    Held,
    /// Dropped (counted in the stats).
    Discarded,
    /// The datagram is whole: its payload is [`Reassembler::output`].
    Complete { next_header: u8 },
}

struct Datagram {
    id: DatagramId,
    /// Arrival number of its first fragment.
    born: u64,
    /// Time of its latest fragment, for the timeout.
    last_ts: Timestamp,
    /// Payload length, known once the last fragment (MF = 0) has come.
    total: Option<u32>,
    /// Received byte ranges `[start, end)`: sorted, disjoint, not adjacent.
    ranges: Vec<(u32, u32)>,
    data: Vec<u8>,
    /// Fragments taken in (duplicates included), for the discard counters.
    fragments: u64,
    next_header: u8,
    /// What it is charged to its host and the total right now.
    charged: usize,
}

impl Datagram {
    fn furthest(&self) -> u32 {
        self.ranges.last().map_or(0, |r| r.1)
    }

    /// Whether a fragment ending at `end` agrees with what is known of the length.
    fn consistent(&self, end: u32, more: bool) -> bool {
        match (self.total, more) {
            (Some(total), true) => end <= total,
            (Some(total), false) => end == total,
            (None, true) => true,
            // A last fragment must not cut off bytes already received.
            (None, false) => self.furthest() <= end,
        }
    }

    /// Copies the parts of `[offset, offset + data.len())` not yet received, and
    /// records the range.
    fn fill(&mut self, offset: u32, data: &[u8], end: u32) {
        if self.data.len() < end as usize {
            self.data.resize(end as usize, 0);
        }
        // Copy into each gap between the ranges already held.
        let mut pos = offset;
        let mut i = self.ranges.partition_point(|r| r.1 <= offset);
        while pos < end {
            match self.ranges.get(i) {
                Some(&(start, stop)) if start <= pos => {
                    pos = pos.max(stop);
                    i += 1;
                }
                next => {
                    let gap_end = next.map_or(end, |r| r.0.min(end));
                    let src = (pos - offset) as usize..(gap_end - offset) as usize;
                    let dst = pos as usize..gap_end as usize;
                    if let (Some(to), Some(from)) = (self.data.get_mut(dst), data.get(src)) {
                        to.copy_from_slice(from);
                    }
                    pos = gap_end;
                }
            }
        }
        // Merge [offset, end) with the ranges it overlaps or touches: ranges[lo..hi].
        // lo <= hi because every range before lo ends before `offset <= end`.
        let lo = self.ranges.partition_point(|r| r.1 < offset);
        let hi = self.ranges.partition_point(|r| r.0 <= end);
        let touched = self.ranges.get(lo..hi).unwrap_or(&[]);
        let start = touched.first().map_or(offset, |r| r.0.min(offset));
        let stop = touched.last().map_or(end, |r| r.1.max(end));
        self.ranges.splice(lo..hi, [(start, stop)]);
    }

    fn is_complete(&self) -> bool {
        matches!((self.total, self.ranges.as_slice()), (Some(total), [(0, end)]) if *end == total)
    }

    fn cost(&self) -> usize {
        DATAGRAM_OVERHEAD
            + self.data.capacity()
            + self.ranges.capacity() * std::mem::size_of::<(u32, u32)>()
    }
}

#[derive(Default)]
struct Host {
    datagrams: Vec<Datagram>,
    bytes: usize,
}

impl Host {
    fn oldest(&self) -> u64 {
        self.datagrams
            .iter()
            .map(|d| d.born)
            .min()
            .unwrap_or(u64::MAX)
    }
}

/// Why a datagram is given up; picks the stats counter.
#[derive(Clone, Copy)]
enum Loss {
    /// Its host was pushed out of a table full at `-d` hosts.
    Hosts,
    /// A byte bound (its host's, or all hosts'), or too many ranges.
    Size,
    Timeout,
}

/// The byte account of all pending datagrams, and released buffers kept for reuse.
#[derive(Default)]
struct Memory {
    /// Sum of all hosts' bytes.
    bytes: usize,
    spare: Vec<Vec<u8>>,
}

impl Memory {
    fn buffer(&mut self) -> Vec<u8> {
        let mut buf = self.spare.pop().unwrap_or_default();
        buf.clear();
        buf
    }

    fn recycle(&mut self, buf: Vec<u8>) {
        if self.spare.len() < SPARE_BUFFERS && buf.capacity() > 0 {
            self.spare.push(buf);
        }
    }

    /// Re-charges a datagram whose buffers may have grown.
    fn recharge(&mut self, host: &mut Host, index: usize) {
        if let Some(d) = host.datagrams.get_mut(index) {
            let (before, after) = (d.charged, d.cost());
            d.charged = after;
            host.bytes = host.bytes - before + after;
            self.bytes = self.bytes - before + after;
        }
    }

    /// Takes a datagram out of its host, releasing its charge and its pending fragments.
    fn remove(
        &mut self,
        host: &mut Host,
        index: usize,
        stats: &mut DecodeStats,
    ) -> Option<Datagram> {
        if index >= host.datagrams.len() {
            return None;
        }
        let d = host.datagrams.swap_remove(index);
        host.bytes -= d.charged;
        self.bytes -= d.charged;
        stats.fragments_pending -= d.fragments;
        Some(d)
    }

    fn discard(&mut self, host: &mut Host, index: usize, why: Loss, stats: &mut DecodeStats) {
        if let Some(d) = self.remove(host, index, stats) {
            match why {
                Loss::Hosts => stats.fragments_discarded_hosts += d.fragments,
                Loss::Size => stats.fragments_discarded_size += d.fragments,
                Loss::Timeout => stats.fragments_discarded_timeout += d.fragments,
            }
            self.recycle(d.data);
        }
    }

    /// Discards the host's timed-out datagrams.
    fn expire(&mut self, host: &mut Host, now: Timestamp, stats: &mut DecodeStats) {
        let mut i = 0;
        while i < host.datagrams.len() {
            if timed_out(&host.datagrams[i], now) {
                self.discard(host, i, Loss::Timeout, stats);
            } else {
                i += 1;
            }
        }
    }
}

/// Whether the datagram's latest fragment is more than [`TIMEOUT_NS`] away from `now`, in
/// either direction: a capture whose clock jumps back by more than the timeout cannot
/// keep stale fragments forever.
fn timed_out(d: &Datagram, now: Timestamp) -> bool {
    now.0.abs_diff(d.last_ts.0) > TIMEOUT_NS
}

pub(crate) struct Reassembler {
    hosts: HashMap<IpAddr, Host>,
    max_hosts: usize,
    /// [`HOST_BYTES_MAX`] and [`TOTAL_BYTES_MAX`], smaller in tests.
    host_bytes_max: usize,
    total_bytes_max: usize,
    /// Fragments taken in so far: the clock for "oldest".
    arrivals: u64,
    memory: Memory,
    /// The last completed datagram.
    out: Vec<u8>,
}

impl Reassembler {
    pub fn new(max_hosts: usize) -> Self {
        Self::with_byte_bounds(max_hosts, HOST_BYTES_MAX, TOTAL_BYTES_MAX)
    }

    pub fn with_byte_bounds(
        max_hosts: usize,
        host_bytes_max: usize,
        total_bytes_max: usize,
    ) -> Self {
        Reassembler {
            hosts: HashMap::new(),
            max_hosts,
            host_bytes_max,
            total_bytes_max,
            arrivals: 0,
            memory: Memory::default(),
            out: Vec::new(),
        }
    }

    /// The payload of the datagram completed by the last [`Outcome::Complete`].
    pub fn output(&self) -> &[u8] {
        &self.out
    }

    /// Takes one fragment at time `ts`. The caller has counted it in `stats.fragments`.
    pub fn insert(&mut self, f: Fragment<'_>, ts: Timestamp, stats: &mut DecodeStats) -> Outcome {
        if f.data.is_empty() && f.more {
            // Carries nothing and announces nothing.
            stats.fragments_discarded_invalid += 1;
            return Outcome::Discarded;
        }
        // Offsets are at most 8191 * 8 and lengths below 2^16: no overflow in u32.
        let end = f.offset + f.data.len() as u32;
        if end > DATAGRAM_MAX {
            // No IP length field can describe it.
            stats.fragments_discarded_invalid += 1;
            return Outcome::Discarded;
        }
        if self.max_hosts == 0 {
            stats.fragments_discarded_hosts += 1;
            return Outcome::Discarded;
        }
        self.arrivals += 1;
        let host_addr = f.id.dst;

        if let Some(host) = self.hosts.get_mut(&host_addr) {
            self.memory.expire(host, ts, stats);
        }
        if !self.hosts.contains_key(&host_addr) && self.hosts.len() >= self.max_hosts {
            self.evict_oldest_host(host_addr, ts, Loss::Hosts, stats);
        }
        let host = self.hosts.entry(host_addr).or_default();

        let index = match host.datagrams.iter().position(|d| d.id == f.id) {
            Some(i) if !host.datagrams[i].consistent(end, f.more) => {
                stats.fragments_discarded_invalid += 1;
                return Outcome::Discarded;
            }
            Some(i) => i,
            None => {
                host.datagrams.push(Datagram {
                    id: f.id,
                    born: self.arrivals,
                    last_ts: ts,
                    total: None,
                    ranges: Vec::new(),
                    data: self.memory.buffer(),
                    fragments: 0,
                    next_header: f.next_header,
                    charged: 0,
                });
                host.datagrams.len() - 1
            }
        };

        let d = &mut host.datagrams[index];
        d.last_ts = ts;
        d.fragments += 1;
        stats.fragments_pending += 1;
        if !f.more {
            d.total = Some(end);
        }
        if f.offset == 0 {
            d.next_header = f.next_header;
        }
        d.fill(f.offset, f.data, end);
        let too_scattered = d.ranges.len() > RANGES_MAX;
        let complete = d.is_complete();
        self.memory.recharge(host, index);

        if too_scattered {
            self.memory.discard(host, index, Loss::Size, stats);
            self.remove_if_empty(host_addr);
            return Outcome::Discarded;
        }
        if complete {
            let Some(done) = self.memory.remove(host, index, stats) else {
                return Outcome::Discarded;
            };
            stats.datagrams_reassembled += 1;
            let previous = std::mem::replace(&mut self.out, done.data);
            self.memory.recycle(previous);
            self.remove_if_empty(host_addr);
            return Outcome::Complete {
                next_header: done.next_header,
            };
        }

        // Over the host's bound: give up its oldest other datagrams. With the real bounds
        // the current one alone always fits (65535 bytes plus ranges is well under).
        while host.bytes > self.host_bytes_max {
            let victim = host
                .datagrams
                .iter()
                .enumerate()
                .filter(|(_, d)| d.id != f.id)
                .min_by_key(|(_, d)| d.born)
                .map(|(i, _)| i);
            let Some(victim) = victim else { break };
            self.memory.discard(host, victim, Loss::Size, stats);
        }
        while self.memory.bytes > self.total_bytes_max && self.hosts.len() > 1 {
            self.evict_oldest_host(host_addr, ts, Loss::Size, stats);
        }
        Outcome::Held
    }

    /// Discards every datagram of the host whose oldest datagram is the oldest of all,
    /// other than `keep`, counted as lost to `why`; those already past the timeout at
    /// `now` count as timed out.
    fn evict_oldest_host(
        &mut self,
        keep: IpAddr,
        now: Timestamp,
        why: Loss,
        stats: &mut DecodeStats,
    ) {
        let victim = self
            .hosts
            .iter()
            .filter(|(addr, _)| **addr != keep)
            .min_by_key(|(_, host)| host.oldest())
            .map(|(addr, _)| *addr);
        if let Some(mut host) = victim.and_then(|addr| self.hosts.remove(&addr)) {
            while let Some(d) = host.datagrams.last() {
                let loss = if timed_out(d, now) {
                    Loss::Timeout
                } else {
                    why
                };
                let last = host.datagrams.len() - 1;
                self.memory.discard(&mut host, last, loss, stats);
            }
        }
    }

    fn remove_if_empty(&mut self, addr: IpAddr) {
        if self
            .hosts
            .get(&addr)
            .is_some_and(|h| h.datagrams.is_empty())
        {
            self.hosts.remove(&addr);
        }
    }

    /// Hosts with fragments pending right now.
    #[cfg(test)]
    pub fn hosts(&self) -> usize {
        self.hosts.len()
    }
}

#[cfg(test)]
mod tests {
    //! Each reason a fragment is given up counts into its own counter, and only there.
    use super::*;

    const SEC: i64 = 1_000_000_000;

    fn id(dst: [u8; 4], id: u32) -> DatagramId {
        DatagramId {
            src: IpAddr::from([192, 0, 2, 1]),
            dst: IpAddr::from(dst),
            protocol: 6,
            id,
        }
    }

    fn first(id: DatagramId, data: &[u8]) -> Fragment<'_> {
        Fragment {
            id,
            offset: 0,
            more: true,
            data,
            next_header: 6,
        }
    }

    /// The discard counters, in the order hosts, size, timeout, invalid.
    fn losses(s: &DecodeStats) -> [u64; 4] {
        [
            s.fragments_discarded_hosts,
            s.fragments_discarded_size,
            s.fragments_discarded_timeout,
            s.fragments_discarded_invalid,
        ]
    }

    #[test]
    fn host_pushed_out_by_the_d_limit_counts_as_hosts() {
        let mut r = Reassembler::new(1);
        let mut s = DecodeStats::default();
        let data = [0u8; 64];
        r.insert(first(id([10, 0, 0, 1], 1), &data), Timestamp(0), &mut s);
        r.insert(first(id([10, 0, 0, 2], 2), &data), Timestamp(1), &mut s);
        assert_eq!(losses(&s), [1, 0, 0, 0]);
        assert_eq!(s.fragments_pending, 1);
    }

    #[test]
    fn zero_hosts_allowed_counts_as_hosts() {
        let mut r = Reassembler::new(0);
        let mut s = DecodeStats::default();
        r.insert(first(id([10, 0, 0, 1], 1), &[0; 64]), Timestamp(0), &mut s);
        assert_eq!(losses(&s), [1, 0, 0, 0]);
    }

    #[test]
    fn host_byte_bound_counts_as_size() {
        let mut r = Reassembler::with_byte_bounds(16, 2048, usize::MAX);
        let mut s = DecodeStats::default();
        let data = [0u8; 1024];
        for n in 0..3 {
            r.insert(first(id([10, 0, 0, 1], n), &data), Timestamp(0), &mut s);
        }
        assert_eq!(losses(&s), [0, 2, 0, 0]);
    }

    #[test]
    fn total_byte_bound_counts_as_size() {
        let mut r = Reassembler::with_byte_bounds(16, usize::MAX, 2048);
        let mut s = DecodeStats::default();
        let data = [0u8; 1024];
        for n in 0..3u8 {
            r.insert(first(id([10, 0, 0, n], 1), &data), Timestamp(0), &mut s);
        }
        assert_eq!(losses(&s), [0, 2, 0, 0]);
    }

    #[test]
    fn too_scattered_a_datagram_counts_as_size() {
        let mut r = Reassembler::new(16);
        let mut s = DecodeStats::default();
        let data = [0u8; 8];
        for i in 0..=RANGES_MAX as u32 {
            let f = Fragment {
                offset: 16 * i,
                ..first(id([10, 0, 0, 1], 1), &data)
            };
            r.insert(f, Timestamp(0), &mut s);
        }
        assert_eq!(losses(&s), [0, RANGES_MAX as u64 + 1, 0, 0]);
    }

    #[test]
    fn silence_beyond_the_timeout_counts_as_timeout() {
        let mut r = Reassembler::new(16);
        let mut s = DecodeStats::default();
        let data = [0u8; 64];
        r.insert(first(id([10, 0, 0, 1], 1), &data), Timestamp(0), &mut s);
        let later = Timestamp(TIMEOUT_NS as i64 + SEC);
        r.insert(first(id([10, 0, 0, 1], 2), &data), later, &mut s);
        assert_eq!(losses(&s), [0, 0, 1, 0]);
    }

    #[test]
    fn host_pushed_out_after_its_timeout_counts_as_timeout() {
        let mut r = Reassembler::new(1);
        let mut s = DecodeStats::default();
        let data = [0u8; 64];
        r.insert(first(id([10, 0, 0, 1], 1), &data), Timestamp(0), &mut s);
        let later = Timestamp(TIMEOUT_NS as i64 + SEC);
        r.insert(first(id([10, 0, 0, 2], 1), &data), later, &mut s);
        assert_eq!(losses(&s), [0, 0, 1, 0]);
    }

    #[test]
    fn contradictory_empty_or_oversized_fragments_count_as_invalid() {
        let mut r = Reassembler::new(16);
        let mut s = DecodeStats::default();
        let dg = id([10, 0, 0, 1], 1);
        // Carries nothing.
        r.insert(first(dg, &[]), Timestamp(0), &mut s);
        // Reaches beyond 65535 bytes.
        let data = [0u8; 16];
        let far = Fragment {
            offset: 65_528,
            more: false,
            ..first(dg, &data)
        };
        r.insert(far, Timestamp(0), &mut s);
        // A last fragment ending before bytes already held.
        r.insert(first(dg, &[0; 64]), Timestamp(0), &mut s);
        let short_last = Fragment {
            more: false,
            ..first(dg, &data)
        };
        r.insert(short_last, Timestamp(0), &mut s);
        assert_eq!(losses(&s), [0, 0, 0, 3]);
        assert_eq!(s.fragments_pending, 1);
    }
}
