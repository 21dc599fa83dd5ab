//! The merger: the workers' records, in key order, to the run's record sink.
//!
//! Each worker's items come in increasing key order, so this is a k-way merge. An item
//! goes out once every other worker either has an item waiting with a larger key or has
//! said (its watermark) that it is past the item's packet. The merger waits only on a
//! worker with nothing waiting, whose output channel is then empty: with bounded
//! channels everywhere, memory stays bounded and output flows while the reader reads.

use std::sync::mpsc::{Receiver, SyncSender};

use super::key::{Chunk, Item, What};
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
                    done.items.clear();
                    done.bytes.clear();
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
        match item.what {
            What::Record { start, end } => {
                records.record(lane.chunk.bytes.get(start..end).unwrap_or_default())?;
            }
            What::Opened => {
                tracked += 1;
                merged.peak = merged.peak.max(tracked);
            }
            What::Ended => tracked = tracked.saturating_sub(1),
        }
    }
    records.finish()?;
    Ok(merged)
}
