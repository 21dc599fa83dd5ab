//! The merger: the workers' records, in key order, to the run's record sink.
//!
//! Each worker's items come in increasing key order, so this is a k-way merge. An item
//! goes out once every other worker either has an item waiting with a larger key or has
//! said (its watermark) that it is past the item's packet. The merger waits only on a
//! worker with nothing waiting, whose output channel is then empty: with bounded
//! channels everywhere, memory stays bounded and output flows while the reader reads.

use std::sync::mpsc::{Receiver, SyncSender};

use super::key::{Chunk, Item, What, END, HOLE_LEN, PHASE_PACKET};
use super::tally::Tally;
use crate::output::RecordSink;

/// One worker's side of the merge.
struct Lane {
    input: Receiver<Chunk>,
    /// Where emptied chunks go back to be filled again.
    spare: SyncSender<Chunk>,
    chunk: Chunk,
    /// The next item of `chunk`.
    next: usize,
    /// The worker sent its last chunk (or stopped).
    done: bool,
}

impl Lane {
    fn head(&self) -> Option<&Item> {
        self.chunk.items.get(self.next)
    }
}

/// What the merge found beyond the records.
#[derive(Clone, Copy, Debug, Default)]
pub struct Merged {
    /// Most connections tracked at once over all workers.
    pub peak: u64,
}

/// Merges the chunks of `inputs` (one receiver per worker, with the way back for its
/// emptied chunks) into `records`, until every worker has finished. An error writing a record stops the merge (dropping the
/// receivers stops the workers).
pub fn merge<R: RecordSink>(
    inputs: Vec<(Receiver<Chunk>, SyncSender<Chunk>)>,
    records: &mut R,
    tally: &mut Tally,
) -> std::io::Result<Merged> {
    let mut lanes: Vec<Lane> = inputs
        .into_iter()
        .map(|(input, spare)| Lane {
            input,
            spare,
            chunk: Chunk::default(),
            next: 0,
            done: false,
        })
        .collect();
    let mut tracked: u64 = 0;
    // The end of capture prints every connection still open with the count from before
    // the first of them ended (FlowTable::finish).
    let mut at_end: Option<u64> = None;
    // A record with its `%streams` filled in.
    let mut filled = Vec::new();
    let mut merged = Merged::default();
    loop {
        let mut best: Option<(usize, super::key::Key)> = None;
        for (i, lane) in lanes.iter().enumerate() {
            if let Some(item) = lane.head() {
                if best.is_none_or(|(_, key)| item.key < key) {
                    best = Some((i, item.key));
                }
            }
        }
        // A worker that could still send something before the best item is heard first
        // (the one furthest behind when nothing waits).
        let wait = lanes
            .iter()
            .enumerate()
            .filter(|(_, lane)| !lane.done && lane.head().is_none())
            .filter(|(_, lane)| best.is_none_or(|(_, key)| lane.chunk.watermark < key.index))
            .min_by_key(|(_, lane)| lane.chunk.watermark)
            .map(|(i, _)| i);
        if let Some(i) = wait {
            let Some(lane) = lanes.get_mut(i) else {
                break;
            };
            match lane.input.recv() {
                Ok(chunk) => {
                    let mut done = std::mem::replace(&mut lane.chunk, chunk);
                    lane.next = 0;
                    done.clear();
                    // The worker allocates another when none is back.
                    let _ = lane.spare.try_send(done);
                }
                Err(_) => lane.done = true,
            }
            continue;
        }
        let Some((i, _)) = best else {
            break;
        };
        let Some(lane) = lanes.get_mut(i) else {
            break;
        };
        let Some(item) = lane.head().copied() else {
            break;
        };
        lane.next += 1;
        if item.key.index == END && item.key.phase == PHASE_PACKET && at_end.is_none() {
            at_end = Some(tracked);
        }
        match item.what {
            What::Record { start, end, holes } if holes.0 == holes.1 => {
                records.record(lane.chunk.bytes.get(start..end).unwrap_or_default())?;
            }
            What::Record { start, end, holes } => {
                let streams = at_end.unwrap_or(tracked);
                let holes = lane
                    .chunk
                    .holes
                    .get(holes.0 as usize..holes.1 as usize)
                    .unwrap_or_default();
                filled.clear();
                let mut from = start;
                for &hole in holes {
                    filled.extend_from_slice(lane.chunk.bytes.get(from..hole).unwrap_or_default());
                    filled.extend_from_slice(streams.to_string().as_bytes());
                    from = hole + HOLE_LEN;
                }
                filled.extend_from_slice(lane.chunk.bytes.get(from..end).unwrap_or_default());
                records.record(&filled)?;
            }
            What::Opened => {
                tracked += 1;
                merged.peak = merged.peak.max(tracked);
            }
            What::Ended => tracked = tracked.saturating_sub(1),
            What::Fact(f) => {
                if let Some(fact) = lane.chunk.facts.get(f as usize) {
                    tally.add(i, fact, &lane.chunk.bytes)?;
                }
            }
        }
    }
    records.finish()?;
    Ok(merged)
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;

    use super::*;
    use crate::parallel::key::{Key, END, PHASE_PACKET};

    /// Records what it is given, one string per record.
    #[derive(Default)]
    struct Lines(Vec<String>);

    impl RecordSink for Lines {
        fn record(&mut self, bytes: &[u8]) -> std::io::Result<()> {
            self.0.push(String::from_utf8_lossy(bytes).into_owned());
            Ok(())
        }
    }

    /// A chunk of records `(index, phase, sub, text)` and marks, with its watermark.
    fn chunk(items: &[(u64, u8, u64, &str)], watermark: u64) -> Chunk {
        let mut c = Chunk {
            watermark,
            ..Chunk::default()
        };
        for &(index, phase, sub, text) in items {
            let key = Key { index, phase, sub };
            let what = match text {
                "+" => What::Opened,
                "-" => What::Ended,
                _ => {
                    let start = c.bytes.len();
                    c.bytes.extend_from_slice(text.as_bytes());
                    What::Record {
                        start,
                        end: c.bytes.len(),
                        holes: (0, 0),
                    }
                }
            };
            c.items.push(Item { key, what });
        }
        c
    }

    /// Runs the merge over lanes given as lists of chunks, sent from other threads.
    fn merged(lanes: Vec<Vec<Chunk>>) -> (Vec<String>, Merged) {
        let mut inputs = Vec::new();
        let mut senders = Vec::new();
        for chunks in lanes {
            let (tx, rx) = mpsc::sync_channel(1);
            let (spare_tx, _spare_rx) = mpsc::sync_channel(8);
            inputs.push((rx, spare_tx));
            senders.push(std::thread::spawn(move || {
                for c in chunks {
                    tx.send(c).expect("the merger receives");
                }
            }));
        }
        let mut lines = Lines::default();
        let result = merge(inputs, &mut lines, &mut Tally::none()).expect("merges");
        for s in senders {
            s.join().expect("sender");
        }
        (lines.0, result)
    }

    #[test]
    fn records_come_out_in_key_order_across_workers() {
        let a = vec![
            chunk(&[(1, 2, 1, "+"), (1, 2, 1, "a1")], 1),
            chunk(&[(4, 2, 1, "a4"), (4, 2, 1, "a4'")], 5),
            chunk(&[(END, 2, 1, "a-end"), (END, 2, 1, "-")], END),
        ];
        let b = vec![
            chunk(&[(2, 2, 1, "+"), (3, 2, 1, "b3")], 3),
            chunk(&[(5, 2, 0, "b5-evicted"), (5, 2, 0, "-")], 6),
            chunk(&[(END, 2, 2, "b-end")], END),
        ];
        let (lines, result) = merged(vec![a, b]);
        assert_eq!(
            lines,
            ["a1", "b3", "a4", "a4'", "b5-evicted", "a-end", "b-end"]
        );
        assert_eq!(result.peak, 2);
    }

    #[test]
    fn the_idle_phase_of_a_packet_goes_before_its_own_records() {
        // Worker a expires its connection created at 1 when packet 7 comes; worker b's
        // connection created at 2 expires at the same check, and packet 7 is b's.
        let a = vec![
            chunk(&[(7, 1, 1, "a-idle"), (7, 1, 1, "-")], 7),
            chunk(&[], END),
        ];
        let b = vec![
            chunk(&[(7, 1, 2, "b-idle"), (7, 1, 2, "-"), (7, 2, 1, "b7")], 7),
            chunk(&[], END),
        ];
        let (lines, _) = merged(vec![a, b]);
        assert_eq!(lines, ["a-idle", "b-idle", "b7"]);
    }

    #[test]
    fn streams_places_get_the_count_of_every_worker_then_the_count_before_the_end() {
        let hole = |c: &mut Chunk, index: u64, sub: u64, before: &str, after: &str| {
            let start = c.bytes.len();
            c.bytes.extend_from_slice(before.as_bytes());
            let from = c.holes.len() as u32;
            c.holes.push(c.bytes.len());
            c.bytes.extend_from_slice(b"1111111111");
            c.bytes.extend_from_slice(after.as_bytes());
            let holes = (from, c.holes.len() as u32);
            let what = What::Record {
                start,
                end: c.bytes.len(),
                holes,
            };
            c.items.push(Item {
                key: Key {
                    index,
                    phase: PHASE_PACKET,
                    sub,
                },
                what,
            });
        };
        // a opens at 1 and closes at 4 (its end mark after its record); b opens at 2;
        // both are printed at the end with the count from before either ended.
        let mut a1 = chunk(&[(1, 2, 1, "+")], 1);
        hole(&mut a1, 4, 1, "a closes, ", " open");
        a1.items.push(Item {
            key: Key {
                index: 4,
                phase: PHASE_PACKET,
                sub: 1,
            },
            what: What::Ended,
        });
        let mut a2 = chunk(&[(5, 2, 1, "+")], END);
        hole(&mut a2, END, 5, "a end ", "");
        let mut b1 = chunk(&[(2, 2, 1, "+")], 4);
        hole(&mut b1, 3, 1, "b data ", "");
        let mut b2 = chunk(&[], END);
        hole(&mut b2, END, 2, "b end ", "");
        let (lines, result) = merged(vec![vec![a1, a2], vec![b1, b2]]);
        assert_eq!(
            lines,
            ["b data 2", "a closes, 2 open", "b end 2", "a end 2"]
        );
        assert_eq!(result.peak, 2);
    }

    #[test]
    fn a_worker_that_stops_ends_its_lane() {
        let a = vec![chunk(&[(1, 2, 1, "a1")], 1)];
        let b = vec![chunk(&[(2, 2, 1, "b2")], 2), chunk(&[], END)];
        let (lines, _) = merged(vec![a, b]);
        assert_eq!(lines, ["a1", "b2"]);
    }
}
