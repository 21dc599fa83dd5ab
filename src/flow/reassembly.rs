//! In-order reassembly of one direction of a connection (SPEC §3.4).
//!
//! In-order payload is delivered at once. Out-of-order payload waits, sorted by
//! sequence number, until a segment fills the gap; then it and every waiting segment
//! that became contiguous are delivered, each as its own piece. Bytes already
//! delivered are never replaced (the first delivered copy wins). A FIN waits like data.
//! Waiting data is bounded per direction and across all connections ([`QueueBudget`]);
//! what does not fit is discarded and counted.

use std::collections::BTreeMap;

use super::seq::SeqNum;

/// Bytes charged per waiting segment on top of its payload, so that a flood of tiny
/// segments is bounded too. Measured (tests/bounds.rs, one-byte segments): a B-tree
/// entry in half-full nodes plus the smallest heap chunk for the copy cost about 120
/// bytes, so the bound on charged bytes is also a bound on memory.
const SEGMENT_OVERHEAD: usize = 128;

/// Largest hole an acknowledgement may reveal ([`Reassembler::skip_to`]): no window is
/// larger (RFC 7323 §2.3: 2^30), so an acknowledgement further ahead is not believed.
const MAX_GAP: i32 = 1 << 30;

/// Memory shared by every connection's out-of-order queues.
#[derive(Debug)]
pub struct QueueBudget {
    /// Most bytes (payload + overhead) one direction may keep waiting.
    pub per_direction: usize,
    /// Most bytes all directions together may keep waiting.
    pub total: usize,
    /// Bytes waiting now, across all connections.
    pub used: usize,
    /// Payload bytes discarded because a bound was reached.
    pub discarded_bytes: u64,
    /// Segments discarded because a bound was reached.
    pub discarded_segments: u64,
    /// Payload bytes still waiting when their connection ended (the gap never filled).
    pub abandoned_bytes: u64,
}

impl QueueBudget {
    pub fn new(per_direction: usize, total: usize) -> Self {
        QueueBudget {
            per_direction,
            total,
            used: 0,
            discarded_bytes: 0,
            discarded_segments: 0,
            abandoned_bytes: 0,
        }
    }
}

/// A segment waiting for the gap before it to fill.
#[derive(Debug)]
struct Waiting {
    seq: SeqNum,
    data: Box<[u8]>,
    fin: bool,
    urgent: Option<SeqNum>,
}

/// What happened to a received segment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Received {
    /// The segment reached the delivery point (it carried the next expected byte).
    pub in_order: bool,
    /// The direction's FIN was delivered by this call.
    pub fin_delivered: bool,
    /// Payload bytes of the segment that had already been delivered: sent again.
    pub retransmitted: u32,
}

/// One direction's reassembly state. Small: most directions never see a segment out
/// of order, so the queue for those is allocated only when one comes.
#[derive(Debug)]
pub struct Reassembler {
    /// The next sequence number to deliver.
    next: SeqNum,
    /// A pending urgent byte (SPEC §3.4: removed from the stream when delivered).
    urgent: Option<SeqNum>,
    fin_delivered: bool,
    /// Segments waiting for a gap to fill; `None` when there are none.
    queue: Option<Box<Queue>>,
}

/// The segments of one direction waiting for a gap to fill.
#[derive(Debug, Default)]
struct Queue {
    /// Offset of `next` from where this queue started counting, in sequence space;
    /// waiting segments are keyed by their offset so their order does not wrap.
    next_offset: u64,
    /// Waiting segments by (offset, arrival number): duplicates keep both.
    waiting: BTreeMap<(u64, u32), Waiting>,
    arrivals: u32,
    /// Bytes charged to the budget by this direction.
    charged: usize,
}

impl Reassembler {
    /// Starts delivering at `first_seq` (the initial sequence number + 1).
    pub fn new(first_seq: SeqNum) -> Self {
        Reassembler {
            next: first_seq,
            urgent: None,
            fin_delivered: false,
            queue: None,
        }
    }

    pub fn fin_delivered(&self) -> bool {
        self.fin_delivered
    }

    /// Whether [`Self::skip_to`] would do anything for `ack`: it acknowledges bytes
    /// past the delivery point, within the believed distance. Most acknowledgements do
    /// not (they acknowledge what was delivered), and this costs a few instructions.
    #[inline]
    pub fn acked_past(&self, ack: SeqNum) -> bool {
        !self.fin_delivered && ack.after(self.next) && ack.diff(self.next) <= MAX_GAP
    }

    /// Payload bytes waiting for a gap to fill.
    pub fn waiting_bytes(&self) -> u64 {
        self.queue
            .as_ref()
            .map_or(0, |q| q.waiting.values().map(|w| w.data.len() as u64).sum())
    }

    /// Receives a segment; calls `deliver` with each piece of newly in-order payload.
    /// `urgent` is the sequence number of the urgent byte when URG is set.
    pub fn receive<E>(
        &mut self,
        seq: SeqNum,
        payload: &[u8],
        fin: bool,
        urgent: Option<SeqNum>,
        budget: &mut QueueBudget,
        deliver: &mut dyn FnMut(&[u8]) -> Result<(), E>,
    ) -> Result<Received, E> {
        let mut result = Received::default();
        if self.fin_delivered || (payload.is_empty() && !fin) {
            return Ok(result);
        }
        let end = seq
            .wrapping_add(payload.len() as u32)
            .wrapping_add(u32::from(fin));
        if seq.after(self.next) {
            self.wait(seq, payload, fin, urgent, budget);
            return Ok(result);
        }
        // Bytes before the delivery point were delivered already: sent again.
        result.retransmitted = (self.next.diff(seq).max(0) as u32).min(payload.len() as u32);
        if !end.after(self.next) {
            // Entirely old: a retransmission of delivered bytes.
            return Ok(result);
        }
        result.in_order = true;
        result.fin_delivered = self.deliver_from(seq, payload, fin, urgent, deliver)?;
        result.fin_delivered |= self.deliver_waiting(budget, deliver)?;
        Ok(result)
    }

    /// The receiver acknowledged everything before `ack`: bytes before it that never
    /// arrived were delivered to the receiver but missed by the capture. Each such hole
    /// is reported to `gap` (its length) and skipped, and the waiting segments that
    /// became contiguous are delivered. Returns whether the FIN was delivered.
    pub fn skip_to<E>(
        &mut self,
        ack: SeqNum,
        budget: &mut QueueBudget,
        gap: &mut dyn FnMut(u64) -> Result<(), E>,
        deliver: &mut dyn FnMut(&[u8]) -> Result<(), E>,
    ) -> Result<bool, E> {
        let mut fin = false;
        // An acknowledgement further ahead than any window is not believed.
        if !self.acked_past(ack) {
            return Ok(false);
        }
        loop {
            fin |= self.deliver_waiting(budget, deliver)?;
            if self.fin_delivered || !ack.after(self.next) {
                break;
            }
            // Nothing waiting starts at the delivery point now: the hole runs to the
            // first waiting segment, or to the acknowledged point.
            let hole_end = self
                .queue
                .as_ref()
                .and_then(|q| q.waiting.first_key_value())
                .map(|(_, w)| w.seq)
                .filter(|&seq| seq.before(ack))
                .unwrap_or(ack);
            let len = hole_end.diff(self.next).max(0) as u32;
            if len == 0 {
                break;
            }
            gap(u64::from(len))?;
            self.next = hole_end;
            if let Some(queue) = self.queue.as_mut() {
                queue.next_offset += u64::from(len);
            }
        }
        Ok(fin)
    }

    /// Delivers the waiting segments that start at or before the delivery point.
    fn deliver_waiting<E>(
        &mut self,
        budget: &mut QueueBudget,
        deliver: &mut dyn FnMut(&[u8]) -> Result<(), E>,
    ) -> Result<bool, E> {
        let mut fin = false;
        while !self.fin_delivered {
            let Some(queue) = self.queue.as_mut() else {
                break;
            };
            let Some(entry) = queue.waiting.first_entry() else {
                break;
            };
            let &(offset, _) = entry.key();
            if offset > queue.next_offset {
                break;
            }
            let w = entry.remove();
            let cost = Self::cost(w.data.len());
            queue.charged = queue.charged.saturating_sub(cost);
            budget.used = budget.used.saturating_sub(cost);
            let w_end = w
                .seq
                .wrapping_add(w.data.len() as u32)
                .wrapping_add(u32::from(w.fin));
            if w_end.after(self.next) {
                fin |= self.deliver_from(w.seq, &w.data, w.fin, w.urgent, deliver)?;
            }
        }
        if self.queue.as_ref().is_some_and(|q| q.waiting.is_empty()) {
            self.queue = None;
        }
        Ok(fin)
    }

    /// Returns this direction's waiting bytes to the budget (the connection ended).
    pub fn abandon(&mut self, budget: &mut QueueBudget) {
        budget.abandoned_bytes += self.waiting_bytes();
        if let Some(queue) = self.queue.take() {
            budget.used = budget.used.saturating_sub(queue.charged);
        }
    }

    fn cost(len: usize) -> usize {
        len + SEGMENT_OVERHEAD
    }

    fn wait(
        &mut self,
        seq: SeqNum,
        payload: &[u8],
        fin: bool,
        urgent: Option<SeqNum>,
        budget: &mut QueueBudget,
    ) {
        let cost = Self::cost(payload.len());
        let charged = self.queue.as_ref().map_or(0, |q| q.charged);
        if charged + cost > budget.per_direction || budget.used + cost > budget.total {
            budget.discarded_bytes += payload.len() as u64;
            budget.discarded_segments += 1;
            return;
        }
        let queue = self.queue.get_or_insert_with(Box::default);
        queue.charged += cost;
        budget.used += cost;
        // `seq` is after `next`, so the difference is positive.
        let offset = queue.next_offset + seq.diff(self.next) as u64;
        queue.arrivals = queue.arrivals.wrapping_add(1);
        queue.waiting.insert(
            (offset, queue.arrivals),
            Waiting {
                seq,
                data: payload.into(),
                fin,
                urgent,
            },
        );
    }

    /// Delivers the part of a segment from `self.next` on (its start is at or before
    /// `next` and its end after it). Returns whether its FIN was delivered.
    fn deliver_from<E>(
        &mut self,
        seq: SeqNum,
        payload: &[u8],
        fin: bool,
        urgent: Option<SeqNum>,
        deliver: &mut dyn FnMut(&[u8]) -> Result<(), E>,
    ) -> Result<bool, E> {
        let already = self.next.diff(seq).max(0) as usize;
        let fresh = payload.get(already..).unwrap_or(&[]);
        let start = self.next;
        let data_end = seq.wrapping_add(payload.len() as u32);
        if let Some(u) = urgent {
            if !u.before(start) && self.urgent.is_none_or(|pending| u.after(pending)) {
                self.urgent = Some(u);
            }
        }
        match self.urgent {
            Some(u) if !u.before(start) && u.before(data_end) => {
                let cut = u.diff(start) as usize;
                self.urgent = None;
                if cut > 0 {
                    deliver(&fresh[..cut])?;
                }
                if cut + 1 < fresh.len() {
                    deliver(&fresh[cut + 1..])?;
                }
            }
            _ => {
                if !fresh.is_empty() {
                    deliver(fresh)?;
                }
            }
        }
        let advanced = fresh.len() as u32 + u32::from(fin);
        self.next = self.next.wrapping_add(advanced);
        if let Some(queue) = self.queue.as_mut() {
            queue.next_offset += u64::from(advanced);
        }
        self.fin_delivered |= fin;
        Ok(fin)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn budget() -> QueueBudget {
        QueueBudget::new(1 << 20, 1 << 24)
    }

    /// Feeds (seq, payload, fin) segments and returns the delivered stream and the pieces.
    fn feed(start: u32, segments: &[(u32, &[u8], bool)]) -> (Vec<u8>, Vec<Vec<u8>>, bool) {
        let mut r = Reassembler::new(SeqNum(start));
        let mut b = budget();
        let mut pieces: Vec<Vec<u8>> = Vec::new();
        let mut fin = false;
        for &(seq, data, f) in segments {
            let got = r
                .receive::<()>(SeqNum(seq), data, f, None, &mut b, &mut |p| {
                    pieces.push(p.to_vec());
                    Ok(())
                })
                .unwrap();
            fin |= got.fin_delivered;
        }
        (pieces.concat(), pieces, fin)
    }

    #[test]
    fn in_order_segments_are_delivered_at_once() {
        let (stream, pieces, _) = feed(100, &[(100, b"abc", false), (103, b"def", false)]);
        assert_eq!(stream, b"abcdef");
        assert_eq!(pieces.len(), 2);
    }

    #[test]
    fn out_of_order_segments_wait_for_the_gap_then_come_as_separate_pieces() {
        let (stream, pieces, _) = feed(
            1,
            &[(4, b"def", false), (7, b"ghi", false), (1, b"abc", false)],
        );
        assert_eq!(stream, b"abcdefghi");
        assert_eq!(
            pieces,
            vec![b"abc".to_vec(), b"def".to_vec(), b"ghi".to_vec()]
        );
    }

    #[test]
    fn overlapping_retransmission_keeps_the_first_delivered_bytes() {
        let (stream, _, _) = feed(1, &[(1, b"abcd", false), (3, b"XYZW", false)]);
        assert_eq!(stream, b"abcdZW");
    }

    #[test]
    fn duplicate_waiting_segments_deliver_once() {
        let (stream, _, _) = feed(
            1,
            &[(3, b"cd", false), (3, b"cd", false), (1, b"ab", false)],
        );
        assert_eq!(stream, b"abcd");
    }

    #[test]
    fn a_fin_that_arrives_early_waits_for_the_data_before_it() {
        let (stream, _, fin) = feed(1, &[(4, b"", true), (1, b"abc", false)]);
        assert_eq!(stream, b"abc");
        assert!(fin);
        let (_, _, fin_early) = feed(1, &[(4, b"", true)]);
        assert!(!fin_early);
    }

    #[test]
    fn sequence_numbers_crossing_two_to_the_32_lose_nothing() {
        let start = u32::MAX - 2;
        let (stream, _, _) = feed(
            start,
            &[
                (start.wrapping_add(4), b"efgh", false),
                (start, b"abcd", false),
            ],
        );
        assert_eq!(stream, b"abcdefgh");
    }

    #[test]
    fn the_urgent_byte_is_removed_from_the_stream() {
        let mut r = Reassembler::new(SeqNum(10));
        let mut b = budget();
        let mut out = Vec::new();
        r.receive::<()>(
            SeqNum(10),
            b"ab!cd",
            false,
            Some(SeqNum(12)),
            &mut b,
            &mut |p| {
                out.extend_from_slice(p);
                Ok(())
            },
        )
        .unwrap();
        assert_eq!(out, b"abcd");
        assert_eq!(r.next, SeqNum(15));
    }

    #[test]
    fn waiting_data_beyond_the_bound_is_discarded_and_counted() {
        let mut r = Reassembler::new(SeqNum(0));
        let mut b = QueueBudget::new(SEGMENT_OVERHEAD + 10, 1 << 20);
        let mut sink = |_: &[u8]| Ok::<(), ()>(());
        r.receive(SeqNum(100), &[0; 10], false, None, &mut b, &mut sink)
            .unwrap();
        r.receive(SeqNum(200), &[0; 10], false, None, &mut b, &mut sink)
            .unwrap();
        assert_eq!(b.discarded_bytes, 10);
        assert_eq!(b.discarded_segments, 1);
        r.abandon(&mut b);
        assert_eq!(b.used, 0);
        assert_eq!(b.abandoned_bytes, 10);
    }
}
