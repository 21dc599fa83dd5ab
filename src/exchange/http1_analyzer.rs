//! HTTP/1.0 and 1.1 in `messages` mode: one exchange per request/response pair, cut at
//! the messages' own boundaries (RFC 9112 §6) by the framers of [`super::http1`].
//!
//! Pipelined requests queue up and are answered in order; interim responses (1xx)
//! belong to their request's exchange; a response ends its exchange by its framing
//! (or, close-delimited, at the close). After a gap the framers resynchronise at the
//! next message start, and the exchange the gap hit is marked. A `101 Switching
//! Protocols` or a 2xx answer to `CONNECT` ends HTTP/1 on the connection: what follows
//! goes to the next analyzer (HTTP/2 for `Upgrade: h2c`, the upgrade request being its
//! stream 1; WebSocket for `Upgrade: websocket`; the turns rule for other upgrades until
//! their protocol has an analyzer; detection again for a tunnel, which often carries
//! TLS).
//!
//! The framers keep no header values, but an upgrade's analyzer needs some (the
//! WebSocket key, subprotocols, extensions): a request head that asks for an upgrade
//! and the head of a 101 are copied (at most the framers' head bound each) and handed
//! over with the connection. A head that arrives in one piece is copied only when it
//! turns out to ask for an upgrade; one split across pieces is gathered meanwhile.

use super::analyzer::{AnalyzerSlot, Exchanges, Handoff};
use super::detect::Detect;
use super::h2_analyzer::H2Analyzer;
use super::http1::{
    FramerState, GapEffect, Handoff as Switch, RequestFramer, ResponseFramer, Upgrade, Version,
};
use super::record::Protocol;
use super::turns::Turns;
use super::ws_analyzer::{Handshake, WsAnalyzer};
use crate::flow::Direction;
use crate::time::Timestamp;

/// Skipped bytes kept per direction while resynchronising: enough for the start line
/// a resynchronisation accepts (the framers' line bound).
const SKIPPED_KEPT: usize = super::http1::MAX_LINE as usize;

/// One HTTP/1 connection's state.
#[derive(Debug, Default)]
pub(crate) struct Http1Analyzer {
    requests: RequestFramer,
    responses: ResponseFramer,
    /// The response in progress is an interim (1xx) one.
    interim: bool,
    /// The response in progress hands the connection over when it ends.
    switch: Option<(Switch, Upgrade)>,
    /// Bytes kept across events, allocated on first use: messages in one piece
    /// without an upgrade never need them, and an analyzer without them is cheap to
    /// build, test for rest and drop (see [`Http1Slot`]).
    held: Option<Box<Held>>,
}

/// The bytes an HTTP/1 analyzer keeps across events.
#[derive(Debug, Default)]
struct Held {
    /// The last bytes skipped while resynchronising, `[requests, responses]`: a
    /// message found by a resynchronisation starts with some of them.
    skipped: [Vec<u8>; 2],
    /// `[requests, responses]`: the bytes of a head split across pieces, while it is
    /// read (at most [`super::http1::MAX_HEAD`] bytes).
    head: [Vec<u8>; 2],
    /// `[request, response]`: the last request head that asked for an upgrade, and
    /// the head of a 101, until the connection is handed over.
    upgrade_heads: [Option<Box<[u8]>>; 2],
}

impl Held {
    fn is_empty(&self) -> bool {
        self.skipped.iter().all(Vec::is_empty)
            && self.head.iter().all(Vec::is_empty)
            && self.upgrade_heads.iter().all(Option::is_none)
    }
}

/// Follows one head across the pieces of one direction: returns the whole head once
/// it ended in these bytes and `keep` says it is wanted.
fn gather_head(
    buffer: &mut Vec<u8>,
    started: bool,
    early: &[u8],
    message: &[u8],
    ended_here: Option<bool>,
) -> Option<Box<[u8]>> {
    if started {
        buffer.clear();
    }
    match ended_here {
        // The head ended in these bytes.
        Some(keep) => {
            let whole = if keep {
                let mut head = std::mem::take(buffer);
                head.extend_from_slice(early);
                head.extend_from_slice(message);
                let end = super::http::header_split(&head).0;
                head.truncate(end.saturating_add(2).min(head.len()));
                Some(head.into_boxed_slice())
            } else {
                None
            };
            *buffer = Vec::new();
            whole
        }
        None => {
            let room = (super::http1::MAX_HEAD as usize).saturating_sub(buffer.len());
            let more = early.iter().chain(message).take(room).copied();
            buffer.extend(more);
            None
        }
    }
}

impl Http1Analyzer {
    /// Keeps the tail of skipped bytes; returns the last `early` of them when a
    /// message was found to start there.
    #[inline(always)]
    fn note_skipped(&mut self, side: usize, skipped: &[u8], early: usize) -> Vec<u8> {
        // The common case (no bytes skipped, none taken back) changes nothing.
        if skipped.is_empty() && early == 0 {
            return Vec::new();
        }
        self.keep_skipped(side, skipped, early)
    }

    #[inline(never)]
    fn keep_skipped(&mut self, side: usize, skipped: &[u8], early: usize) -> Vec<u8> {
        let kept = &mut self.held().skipped[side];
        if !skipped.is_empty() {
            kept.extend_from_slice(skipped);
            if kept.len() > SKIPPED_KEPT {
                kept.drain(..kept.len() - SKIPPED_KEPT);
            }
        }
        if early == 0 {
            return Vec::new();
        }
        let from = kept.len().saturating_sub(early);
        let start = kept.split_off(from);
        *kept = Vec::new();
        start
    }

    fn held(&mut self) -> &mut Held {
        self.held.get_or_insert_with(Box::default)
    }

    /// Whether a head of `side` split across pieces is being gathered.
    #[inline(always)]
    fn gathering(&self, side: usize) -> bool {
        self.held.as_ref().is_some_and(|h| !h.head[side].is_empty())
    }

    /// Whether `side`'s head buffer holds an allocation (it gathered a head before).
    #[inline(always)]
    fn head_allocated(&self, side: usize) -> bool {
        self.held
            .as_ref()
            .is_some_and(|h| h.head[side].capacity() > 0)
    }

    /// Follows one head of `side` across pieces ([`gather_head`]); a whole head that
    /// asked for an upgrade (or a 101) is kept for the handover.
    #[inline(never)]
    fn gather(
        &mut self,
        side: usize,
        started: bool,
        early: &[u8],
        message: &[u8],
        ended_here: Option<bool>,
    ) {
        let held = self.held();
        if let Some(head) = gather_head(&mut held.head[side], started, early, message, ended_here) {
            held.upgrade_heads[side] = Some(head);
        }
    }

    fn requests(&mut self, x: &mut Exchanges<'_>, ts: Timestamp, bytes: &[u8]) -> Handoff {
        // Body bytes that do not end the request (most segments of a large body):
        // what the loop below does with them, without its steps.
        if !self.gathering(0) && self.requests.body_within(bytes.len()) {
            x.request_data_head(ts, bytes, None);
            x.newest_mut().facts.request_body += bytes.len() as u64;
            return Handoff::Stay;
        }
        let mut rest = bytes;
        while !rest.is_empty() {
            if self.requests.state() == FramerState::Broken {
                return not_http(bytes.len() - rest.len());
            }
            let p = self.requests.feed(rest);
            if p.consumed == 0 {
                // Stopped: the connection changed protocol with the last response.
                return not_http(bytes.len() - rest.len());
            }
            let (skipped, message) = rest[..p.consumed].split_at(p.skipped);
            let early = self.note_skipped(0, skipped, if p.started { p.early } else { 0 });
            if !skipped.is_empty() && !p.started && self.requests.state() != FramerState::Broken {
                // Bytes of a message whose start was lost: they belong to the request
                // being received, if there is one.
                lost_start_request_data(x, ts, skipped);
            }
            if p.started {
                x.begin_request();
                x.newest_mut().facts.framed = true;
                if !early.is_empty() {
                    rare_data(x, Direction::FromClient, ts, &early);
                }
            }
            if !message.is_empty() {
                // The framer's offsets count from the message's first byte.
                let known = p.known.filter(|_| p.started && early.is_empty());
                x.request_data_head(ts, message, known);
            }
            let in_head = p.head.is_none() && self.requests.state() == FramerState::Head;
            let ended = p.head.map(|h| h.upgrade != super::http1::Upgrade::None);
            // A whole head that is not wanted, nothing gathered: nothing to do.
            let unwanted = ended == Some(false) && !self.head_allocated(0);
            if !unwanted && (in_head || p.head.is_some() || self.gathering(0)) {
                self.gather(0, p.started, &early, message, ended);
            }
            let newest = x.newest_mut();
            if let Some(head) = p.head {
                newest.facts.request_kind = Some(head.kind);
                newest.facts.request_head = true;
                if x.facts.session_requests <= 1 {
                    // The first request's version names the connection's protocol.
                    x.set_protocol(match head.version {
                        Version::Http10 => Protocol::Http10,
                        Version::Http11 => Protocol::Http11,
                    });
                }
            }
            let newest = x.newest_mut();
            if p.body > 0 {
                newest.facts.request_body += p.body;
            }
            if p.ended {
                newest.facts.request_done = true;
            }
            rest = &rest[p.consumed..];
        }
        Handoff::Stay
    }

    fn responses(&mut self, x: &mut Exchanges<'_>, ts: Timestamp, bytes: &[u8]) -> Handoff {
        // Body bytes that do not end the response, as for requests.
        if !self.gathering(1) && self.responses.body_within(bytes.len()) {
            x.response_data_head(ts, bytes, None);
            if let Some(e) = x.answering_mut() {
                e.facts.framed = true;
                e.facts.response_body += bytes.len() as u64;
            }
            return Handoff::Stay;
        }
        let mut rest = bytes;
        while !rest.is_empty() {
            if self.responses.state() == FramerState::Broken {
                return not_http(bytes.len() - rest.len());
            }
            let kind = x.answering_mut().and_then(|e| e.facts.request_kind);
            let p = self.responses.feed(rest, kind);
            if p.consumed == 0 {
                return not_http(bytes.len() - rest.len());
            }
            let (skipped, message) = rest[..p.consumed].split_at(p.skipped);
            let early = self.note_skipped(1, skipped, if p.started { p.early } else { 0 });
            if p.started {
                // A response that never ended before this one (its end was lost):
                // its exchange is over, incomplete.
                if x.answering_mut().is_some_and(|e| e.response.size > 0) {
                    unended_response(x);
                }
                self.interim = false;
                self.switch = None;
                if !early.is_empty() {
                    rare_data(x, Direction::FromServer, ts, &early);
                }
            }
            if !message.is_empty() {
                let known = p.known.filter(|_| p.started && early.is_empty());
                x.response_data_head(ts, message, known);
            }
            let in_head = p.head.is_none() && self.responses.state() == FramerState::Head;
            let ended = p.head.map(|h| h.status == 101);
            let unwanted = ended == Some(false) && !self.head_allocated(1);
            if !unwanted && (in_head || p.head.is_some() || self.gathering(1)) {
                self.gather(1, p.started, &early, message, ended);
            }
            // Read here for the response's end below: nothing between changes it.
            let mut request_done = false;
            if let Some(e) = x.answering_mut() {
                request_done = e.facts.request_done;
                e.facts.framed = true;
                if let Some(head) = p.head {
                    self.interim = head.interim();
                    self.switch = head.handoff.map(|h| (h, head.upgrade));
                    if !self.interim {
                        e.facts.response_head = true;
                        e.facts.response_body = 0;
                    }
                }
                if p.body > 0 {
                    e.facts.response_body += p.body;
                }
            }
            rest = &rest[p.consumed..];
            if p.ended {
                if self.interim {
                    self.interim = false;
                    x.interim_response();
                    continue;
                }
                if self.switch == Some((Switch::SwitchingProtocols, Upgrade::H2c)) {
                    self.switch = None;
                    let request = self
                        .held
                        .as_mut()
                        .and_then(|h| std::mem::take(&mut h.upgrade_heads)[0].take())
                        .unwrap_or_default();
                    return upgrade_to_h2c(x, bytes.len() - rest.len(), &request);
                }
                x.finish_response(request_done);
                if let Some((switch, upgrade)) = self.switch.take() {
                    return self.hand_over(x, switch, upgrade, ts, bytes.len() - rest.len());
                }
            }
        }
        Handoff::Stay
    }

    /// The connection is no longer HTTP/1 after `consumed` bytes of this event.
    #[cold]
    fn hand_over(
        &mut self,
        x: &mut Exchanges<'_>,
        switch: Switch,
        upgrade: Upgrade,
        ts: Timestamp,
        consumed: usize,
    ) -> Handoff {
        let [request, response] = self
            .held
            .as_mut()
            .map(|h| std::mem::take(&mut h.upgrade_heads))
            .unwrap_or_default();
        let next = match switch {
            Switch::SwitchingProtocols if upgrade == Upgrade::WebSocket => {
                x.set_protocol(Protocol::WebSocket);
                // The upgrade is the connection's last HTTP exchange, and what follows
                // may be silent for long: its record is due now.
                x.print_when_done();
                let handshake = Handshake {
                    request: request.as_deref().unwrap_or_default(),
                    response: response.as_deref().unwrap_or_default(),
                };
                let options = x.options;
                AnalyzerSlot::Ws(Box::new(WsAnalyzer::new(x, options, &handshake, ts)))
            }
            Switch::SwitchingProtocols => {
                x.set_protocol(match upgrade {
                    Upgrade::WebSocket => Protocol::WebSocket,
                    Upgrade::H2c => Protocol::H2c,
                    Upgrade::None | Upgrade::Other => Protocol::Unknown,
                });
                AnalyzerSlot::Turns(Turns::default())
            }
            Switch::Tunnel => AnalyzerSlot::Detect(Detect::default()),
        };
        Handoff::To { next, consumed }
    }
}

/// A `101` to `Upgrade: h2c` ended: the upgrade request is HTTP/2's stream 1, whose
/// response is the server's first HTTP/2 response; the 101 was an interim response of
/// that exchange (RFC 9113 §3.2). `request`: the upgrade request's head (its
/// `HTTP2-Settings`).
#[cold]
fn upgrade_to_h2c(x: &mut Exchanges<'_>, consumed: usize, request: &[u8]) -> Handoff {
    x.set_protocol(Protocol::H2c);
    let next = match x.answering_id() {
        Some(id) => {
            x.interim_response();
            AnalyzerSlot::H2(Box::new(H2Analyzer::upgraded(x, id, request)))
        }
        None => AnalyzerSlot::H2(Box::new(H2Analyzer::prior_knowledge())),
    };
    Handoff::To { next, consumed }
}

/// A response began while the one before it had not ended (its end was lost): that
/// exchange is over, incomplete.
#[cold]
#[inline(never)]
fn unended_response(x: &mut Exchanges<'_>) {
    x.finish_response(false);
}

/// Request bytes skipped by the framer after a gap, before it found a message start:
/// they belong to the request being received, if there is one.
#[cold]
#[inline(never)]
fn lost_start_request_data(x: &mut Exchanges<'_>, ts: Timestamp, skipped: &[u8]) {
    if x.newest_mut().request.size > 0 && !x.newest_mut().facts.request_done {
        x.request_data(ts, skipped);
    }
}

/// Bytes of `dir` outside the framers' common path (the start of a message found by a
/// resynchronisation): out of line, so that the common path stays compact.
#[cold]
#[inline(never)]
fn rare_data(x: &mut Exchanges<'_>, dir: Direction, ts: Timestamp, bytes: &[u8]) {
    match dir {
        Direction::FromClient => x.request_data(ts, bytes),
        Direction::FromServer => x.response_data(ts, bytes),
    }
}

/// The bytes stopped being HTTP/1: the turns rule takes the rest.
#[cold]
fn not_http(consumed: usize) -> Handoff {
    Handoff::To {
        next: AnalyzerSlot::Turns(Turns::default()),
        consumed,
    }
}

impl Http1Analyzer {
    /// Between messages in both directions, with nothing pending: the state is that of
    /// a new analyzer.
    fn at_rest(&self) -> bool {
        self.requests.state() == FramerState::Idle
            && self.responses.state() == FramerState::Idle
            && !self.interim
            && self.switch.is_none()
            && self.held.as_ref().is_none_or(|h| h.is_empty())
    }
}

/// The HTTP/1 analyzer as a connection holds it: allocated while a message is in
/// progress, released when both directions are between messages, so that an idle
/// keep-alive connection costs no memory beyond its slot.
#[derive(Debug, Default)]
pub(crate) struct Http1Slot(Option<Box<Http1Analyzer>>);

impl Http1Slot {
    fn with<R>(&mut self, f: impl FnOnce(&mut Http1Analyzer) -> R) -> R {
        match &mut self.0 {
            Some(analyzer) => {
                let result = f(analyzer);
                if analyzer.at_rest() {
                    self.0 = None;
                }
                result
            }
            None => {
                // At rest: a fresh analyzer on the stack, boxed only if the event leaves
                // a message in progress (most events carry whole messages).
                let mut analyzer = Http1Analyzer::default();
                let result = f(&mut analyzer);
                if !analyzer.at_rest() {
                    self.0 = Some(Box::new(analyzer));
                }
                result
            }
        }
    }
}

impl super::analyzer::Analyzer for Http1Slot {
    fn data(
        &mut self,
        x: &mut Exchanges<'_>,
        dir: Direction,
        ts: Timestamp,
        bytes: &[u8],
    ) -> Handoff {
        self.with(|a| a.data(x, dir, ts, bytes))
    }

    fn gap(&mut self, x: &mut Exchanges<'_>, dir: Direction, ts: Timestamp, len: u64) {
        self.with(|a| a.gap(x, dir, ts, len));
    }

    fn end(&mut self, x: &mut Exchanges<'_>, closed: bool) {
        self.with(|a| a.end(x, closed));
    }
}

impl super::analyzer::Analyzer for Http1Analyzer {
    fn data(
        &mut self,
        x: &mut Exchanges<'_>,
        dir: Direction,
        ts: Timestamp,
        bytes: &[u8],
    ) -> Handoff {
        match dir {
            Direction::FromClient => self.requests(x, ts, bytes),
            Direction::FromServer => self.responses(x, ts, bytes),
        }
    }

    fn gap(&mut self, x: &mut Exchanges<'_>, dir: Direction, ts: Timestamp, len: u64) {
        let _ = ts;
        x.gap(dir, len);
        match dir {
            Direction::FromClient => {
                if let GapEffect::InBody { ended: true } = self.requests.gap(len) {
                    x.newest_mut().facts.request_done = true;
                }
            }
            Direction::FromServer => match self.responses.gap(len) {
                GapEffect::InBody { ended: true } | GapEffect::LostSync => {
                    self.interim = false;
                    self.switch = None;
                    x.finish_response(false);
                }
                GapEffect::InBody { ended: false } | GapEffect::Ignored => {}
            },
        }
    }

    fn end(&mut self, x: &mut Exchanges<'_>, closed: bool) {
        // A close-delimited body ends with the connection (RFC 9112 §6.3 rule 8).
        if closed && self.responses.ends_at_close() {
            let request_done = x.answering_mut().is_some_and(|e| e.facts.request_done);
            x.finish_response(request_done);
        }
    }
}
