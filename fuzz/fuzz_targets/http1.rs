//! HTTP/1 framers over arbitrary bytes, cut in arbitrary pieces and with gaps: the
//! messages they report (boundaries, heads, body sizes) do not depend on the cuts,
//! every call makes progress, and nothing panics.
//!
//! Input: one control byte (seeds the cuts, the gaps and the request kinds the
//! response framer is told), then the stream.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rustniffer::exchange::http1::{
    FramerState, GapEffect, Progress, RequestFramer, RequestKind, ResponseFramer,
};

/// A small deterministic generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

enum Op<'a> {
    Data(&'a [u8]),
    Gap(u64),
}

/// (start, length, head, body, ended) per message, and the gaps' effects.
type Msg<H> = (usize, usize, Option<H>, u64, bool);

#[derive(Debug, PartialEq)]
struct Log<H> {
    msgs: Vec<Msg<H>>,
    gaps: Vec<GapEffect>,
    offset: usize,
    state: Option<FramerState>,
}

impl<H: Copy> Log<H> {
    fn record(&mut self, p: &Progress<H>, input: usize, stopped: bool) {
        assert!(p.consumed <= input && p.skipped <= p.consumed);
        assert!(p.consumed > 0 || stopped, "no progress");
        if p.started {
            assert!(p.early <= self.offset + p.skipped);
            self.msgs
                .push((self.offset + p.skipped - p.early, p.early, None, 0, false));
        } else {
            assert_eq!(p.early, 0);
        }
        let own = p.consumed - p.skipped;
        if own > 0 || p.head.is_some() || p.ended {
            let m = self.msgs.last_mut().expect("message bytes before a start");
            assert!(!m.4, "bytes after a message's end");
            m.1 += own;
            if p.head.is_some() {
                assert!(m.2.is_none(), "two heads");
                m.2 = p.head;
            }
            m.3 += p.body;
            m.4 = p.ended;
        } else {
            assert_eq!(p.body, 0);
        }
        self.offset += p.consumed;
    }
}

fn new_log<H>() -> Log<H> {
    Log {
        msgs: Vec::new(),
        gaps: Vec::new(),
        offset: 0,
        state: None,
    }
}

/// Cuts `data` at the given points (each taken modulo its length + 1).
fn pieces<'a>(data: &'a [u8], cuts: &[usize]) -> Vec<&'a [u8]> {
    let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (data.len() + 1)).collect();
    cuts.sort_unstable();
    let mut out = Vec::new();
    let mut from = 0;
    for c in cuts.into_iter().chain([data.len()]) {
        out.push(&data[from..c]);
        from = c;
    }
    out
}

fn requests(
    ops: &[Op],
    cuts: &[usize],
    bytewise: bool,
) -> Log<rustniffer::exchange::http1::RequestHead> {
    let mut f = RequestFramer::new();
    let mut log = new_log();
    for op in ops {
        match op {
            Op::Gap(len) => log.gaps.push(f.gap(*len)),
            Op::Data(data) => {
                let cut: Vec<usize> = if bytewise {
                    (1..data.len()).collect()
                } else {
                    cuts.to_vec()
                };
                for mut rest in pieces(data, &cut) {
                    while !rest.is_empty() {
                        let p = f.feed(rest);
                        log.record(&p, rest.len(), f.state() == FramerState::Stopped);
                        if p.consumed == 0 {
                            break;
                        }
                        rest = &rest[p.consumed..];
                    }
                }
            }
        }
    }
    log.state = Some(f.state());
    log
}

fn responses(
    ops: &[Op],
    kinds: &[RequestKind],
    cuts: &[usize],
    bytewise: bool,
) -> Log<rustniffer::exchange::http1::ResponseHead> {
    let mut f = ResponseFramer::new();
    let mut log = new_log();
    let mut answered = 0;
    for op in ops {
        match op {
            Op::Gap(len) => log.gaps.push(f.gap(*len)),
            Op::Data(data) => {
                let cut: Vec<usize> = if bytewise {
                    (1..data.len()).collect()
                } else {
                    cuts.to_vec()
                };
                for mut rest in pieces(data, &cut) {
                    while !rest.is_empty() {
                        let p = f.feed(rest, kinds.get(answered).copied());
                        log.record(&p, rest.len(), f.state() == FramerState::Stopped);
                        let interim = log
                            .msgs
                            .last()
                            .and_then(|m| m.2)
                            .is_some_and(|h| h.interim());
                        if p.ended && !interim {
                            answered += 1;
                        }
                        if p.consumed == 0 {
                            break;
                        }
                        rest = &rest[p.consumed..];
                    }
                }
            }
        }
    }
    log.state = Some(f.state());
    log
}

fuzz_target!(|data: &[u8]| {
    let Some((&control, stream)) = data.split_first() else {
        return;
    };
    let mut rng = Rng(u64::from(control)
        .wrapping_mul(0x9e37_79b9_7f4a_7c15)
        .wrapping_add(1));

    // Up to two gaps: bytes of the stream the capture missed.
    let mut ops = Vec::new();
    let mut from = 0;
    for _ in 0..(control % 3) {
        let at = from + rng.below(stream.len() - from + 1);
        let len = rng.below((stream.len() - at).min(64) + 1);
        ops.push(Op::Data(&stream[from..at]));
        ops.push(Op::Gap(len as u64));
        from = at + len;
    }
    ops.push(Op::Data(&stream[from..]));

    let cuts: Vec<usize> = (0..rng.below(8)).map(|_| rng.next() as usize).collect();
    let kinds: Vec<RequestKind> = (0..8)
        .map(|_| match rng.below(4) {
            0 => RequestKind::Head,
            1 => RequestKind::Connect,
            _ => RequestKind::Other,
        })
        .collect();

    let reference = requests(&ops, &[], false);
    assert_eq!(requests(&ops, &cuts, false), reference);
    let reference_r = responses(&ops, &kinds, &[], false);
    assert_eq!(responses(&ops, &kinds, &cuts, false), reference_r);
    if stream.len() <= 512 {
        assert_eq!(requests(&ops, &[], true), reference);
        assert_eq!(responses(&ops, &kinds, &[], true), reference_r);
    }
});
