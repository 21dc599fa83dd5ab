use super::*;
use proptest::prelude::*;

/// One message as the caller sees it, in offsets of the bytes fed (gaps not counted).
#[derive(Clone, Debug, PartialEq, Eq)]
struct Msg<H> {
    start: usize,
    len: usize,
    head: Option<H>,
    body: u64,
    ended: bool,
}

/// What a run of a framer told, message by message.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Log<H> {
    msgs: Vec<Msg<H>>,
    gaps: Vec<GapEffect>,
    offset: usize,
}

impl<H: Copy + std::fmt::Debug> Log<H> {
    fn new() -> Self {
        Log {
            msgs: Vec::new(),
            gaps: Vec::new(),
            offset: 0,
        }
    }

    fn record(&mut self, p: &Progress<H>, input: usize, stopped: bool) {
        assert!(p.consumed <= input, "{p:?} consumes more than {input}");
        assert!(p.skipped <= p.consumed, "{p:?}");
        assert!(
            p.consumed > 0 || input == 0 || stopped,
            "no progress: {p:?}"
        );
        if p.started {
            assert!(p.early <= self.offset + p.skipped, "{p:?}");
            self.msgs.push(Msg {
                start: self.offset + p.skipped - p.early,
                len: p.early,
                head: None,
                body: 0,
                ended: false,
            });
        } else {
            assert_eq!(p.early, 0);
        }
        let own = p.consumed - p.skipped;
        if own > 0 || p.head.is_some() || p.ended {
            let m = self
                .msgs
                .last_mut()
                .expect("message bytes before any start");
            assert!(!m.ended, "bytes after the end of {m:?}: {p:?}");
            m.len += own;
            if p.head.is_some() {
                assert!(m.head.is_none(), "two heads in one message");
                m.head = p.head;
            }
            m.body += p.body;
            m.ended = p.ended;
        } else {
            assert_eq!(p.body, 0);
        }
        self.offset += p.consumed;
    }
}

/// Input events: bytes, or a gap of that many bytes.
#[derive(Clone, Debug)]
enum Op<'a> {
    Data(&'a [u8]),
    Gap(u64),
}

/// Feeds `ops` to a request framer, each data event cut at `cuts` (offsets in it).
fn run_requests(ops: &[Op], cuts: &dyn Fn(usize) -> Vec<usize>) -> (Log<RequestHead>, FramerState) {
    let mut f = RequestFramer::new();
    let mut log = Log::new();
    for op in ops {
        match op {
            Op::Gap(len) => log.gaps.push(f.gap(*len)),
            Op::Data(data) => {
                for piece in pieces(data, &cuts(data.len())) {
                    let mut rest = piece;
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
    (log, f.state())
}

/// Feeds `ops` to a response framer, telling it the kind of the request the current
/// response answers: `kinds` in order, interim responses keeping the same request.
fn run_responses(
    ops: &[Op],
    kinds: &[RequestKind],
    cuts: &dyn Fn(usize) -> Vec<usize>,
) -> (Log<ResponseHead>, FramerState) {
    let mut f = ResponseFramer::new();
    let mut log = Log::new();
    let mut answered = 0;
    for op in ops {
        match op {
            Op::Gap(len) => log.gaps.push(f.gap(*len)),
            Op::Data(data) => {
                for piece in pieces(data, &cuts(data.len())) {
                    let mut rest = piece;
                    while !rest.is_empty() {
                        let p = f.feed(rest, kinds.get(answered).copied());
                        log.record(&p, rest.len(), f.state() == FramerState::Stopped);
                        if p.ended
                            && !log
                                .msgs
                                .last()
                                .and_then(|m| m.head)
                                .is_some_and(|h| h.interim())
                        {
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
    (log, f.state())
}

fn pieces<'a>(data: &'a [u8], cuts: &[usize]) -> Vec<&'a [u8]> {
    let mut cuts: Vec<usize> = cuts.iter().map(|&c| c.min(data.len())).collect();
    cuts.sort_unstable();
    let mut out = Vec::new();
    let mut from = 0;
    for c in cuts.into_iter().chain([data.len()]) {
        out.push(&data[from..c]);
        from = c;
    }
    out
}

fn whole(_: usize) -> Vec<usize> {
    Vec::new()
}

fn bytewise(len: usize) -> Vec<usize> {
    (1..len).collect()
}

fn requests(stream: &[u8]) -> (Log<RequestHead>, FramerState) {
    run_requests(&[Op::Data(stream)], &whole)
}

fn responses(stream: &[u8], kinds: &[RequestKind]) -> (Log<ResponseHead>, FramerState) {
    run_responses(&[Op::Data(stream)], kinds, &whole)
}

fn head_of(log: &Log<RequestHead>, n: usize) -> RequestHead {
    log.msgs[n].head.expect("a head")
}

fn rhead_of(log: &Log<ResponseHead>, n: usize) -> ResponseHead {
    log.msgs[n].head.expect("a head")
}

use RequestKind::{Connect, Head, Other};

// ---------------------------------------------------------------------------------
// Requests.

#[test]
fn get_without_body_ends_with_its_head() {
    let get = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n";
    let (log, state) = requests(get);
    assert_eq!(state, FramerState::Idle);
    assert_eq!(log.msgs.len(), 1);
    let m = &log.msgs[0];
    assert_eq!((m.start, m.len, m.body, m.ended), (0, get.len(), 0, true));
    let h = m.head.unwrap();
    assert_eq!(h.kind, Other);
    assert!(h.method_valid);
    assert_eq!(h.version, Version::Http11);
    assert_eq!(h.body, BodyFraming::None);
    assert_eq!(h.keep_alive, None);
    assert!(h.persistent());
}

#[test]
fn pipelined_requests_are_separate_messages() {
    let (log, _) =
        requests(b"GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\nHEAD /c HTTP/1.0\r\n\r\n");
    let spans: Vec<_> = log.msgs.iter().map(|m| (m.start, m.len, m.ended)).collect();
    assert_eq!(spans, [(0, 19, true), (19, 19, true), (38, 20, true)]);
    assert_eq!(head_of(&log, 2).kind, Head);
    assert_eq!(head_of(&log, 2).version, Version::Http10);
    assert!(!head_of(&log, 2).persistent());
}

#[test]
fn content_length_body_is_counted_and_ends_the_request() {
    let (log, state) = requests(
        b"POST /f HTTP/1.1\r\nContent-Length: 11\r\n\r\nhello worldGET / HTTP/1.1\r\n\r\n",
    );
    assert_eq!(state, FramerState::Idle);
    assert_eq!(head_of(&log, 0).body, BodyFraming::Length(11));
    assert_eq!(
        (log.msgs[0].len, log.msgs[0].body, log.msgs[0].ended),
        (51, 11, true)
    );
    assert_eq!(log.msgs[1].start, 51);
    assert!(log.msgs[1].ended);
}

#[test]
fn content_length_zero_ends_the_message_with_its_head() {
    let (log, _) = requests(b"POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
    assert_eq!(head_of(&log, 0).body, BodyFraming::Length(0));
    assert!(log.msgs[0].ended);
}

#[test]
fn content_length_body_in_progress_is_not_ended() {
    let (log, state) = requests(b"PUT / HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc");
    assert_eq!(state, FramerState::Body);
    assert_eq!((log.msgs[0].body, log.msgs[0].ended), (3, false));
}

#[test]
fn chunked_body_counts_decoded_bytes_and_skips_extensions_and_trailers() {
    let msg = b"POST /c HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n\
                5;name=value;x=\"y\"\r\nhello\r\nA \r\n0123456789\r\n0\r\nX-Trailer: 1\r\n\r\n";
    let (log, state) = requests(msg);
    assert_eq!(state, FramerState::Idle);
    assert_eq!(head_of(&log, 0).body, BodyFraming::Chunked);
    assert_eq!(
        (log.msgs[0].len, log.msgs[0].body, log.msgs[0].ended),
        (msg.len(), 15, true)
    );
}

#[test]
fn chunked_body_without_trailers_ends_at_the_empty_line() {
    let (log, _) = requests(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\nGET / HTTP/1.1\r\n\r\n");
    assert_eq!(log.msgs.len(), 2);
    assert_eq!((log.msgs[0].body, log.msgs[0].ended), (3, true));
}

#[test]
fn transfer_encoding_chunked_wins_over_content_length() {
    let (log, _) = requests(
        b"POST / HTTP/1.1\r\nContent-Length: 100\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n\r\n",
    );
    assert_eq!(head_of(&log, 0).body, BodyFraming::Chunked);
    assert!(log.msgs[0].ended);
}

#[test]
fn transfer_encoding_is_chunked_only_if_chunked_is_the_last_coding() {
    let (log, state) = requests(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\n");
    assert_eq!(
        state,
        FramerState::Broken,
        "RFC 9112 §6.3 rule 4 for a request"
    );
    assert!(log.msgs[0].head.is_none());
    let (log, _) = requests(b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\nTRANSFER-ENCODING: CHUNKED\r\n\r\n0\r\n\r\n");
    assert_eq!(head_of(&log, 0).body, BodyFraming::Chunked);
    assert!(log.msgs[0].ended);
}

#[test]
fn repeated_equal_content_lengths_are_one_value() {
    let (log, _) =
        requests(b"POST / HTTP/1.1\r\nContent-Length: 3, 3\r\ncontent-length:3\r\n\r\nabc");
    assert_eq!(head_of(&log, 0).body, BodyFraming::Length(3));
    assert!(log.msgs[0].ended);
}

#[test]
fn different_content_lengths_break_the_framer() {
    let (_, state) =
        requests(b"POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd");
    assert_eq!(state, FramerState::Broken);
    let (_, state) = requests(b"POST / HTTP/1.1\r\nContent-Length: 3,4\r\n\r\nabcd");
    assert_eq!(state, FramerState::Broken);
}

#[test]
fn content_length_overflow_or_garbage_breaks_the_framer() {
    let (_, state) = requests(b"POST / HTTP/1.1\r\nContent-Length: 18446744073709551616\r\n\r\n");
    assert_eq!(state, FramerState::Broken);
    let (log, _) = requests(b"POST / HTTP/1.1\r\nContent-Length: 18446744073709551615\r\n\r\n");
    assert_eq!(head_of(&log, 0).body, BodyFraming::Length(u64::MAX));
    for bad in [&b"1 2"[..], b"-1", b"0x10", b"12a"] {
        let mut msg = b"POST / HTTP/1.1\r\nContent-Length: ".to_vec();
        msg.extend_from_slice(bad);
        msg.extend_from_slice(b"\r\n\r\n");
        assert_eq!(
            requests(&msg).1,
            FramerState::Broken,
            "{}",
            String::from_utf8_lossy(bad)
        );
    }
}

#[test]
fn bad_chunk_sizes_break_the_framer() {
    for body in [
        &b"g\r\n"[..],
        b"\r\n",
        b" 5\r\n",
        b"10000000000000000\r\n",
        b"3\r\nabcX",
    ] {
        let mut msg = b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
        msg.extend_from_slice(body);
        assert_eq!(
            requests(&msg).1,
            FramerState::Broken,
            "{}",
            String::from_utf8_lossy(body)
        );
    }
    let (log, _) =
        requests(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\nab");
    assert_eq!(log.msgs[0].body, 2, "the largest size fits");
}

#[test]
fn header_names_and_tokens_are_case_insensitive() {
    let (log, _) = requests(b"POST / HTTP/1.1\r\ncOnTeNt-LeNgTh: 2\r\nCONNECTION: Keep-Alive, UPGRADE\r\nupgrade: WebSocket\r\n\r\nab");
    let h = head_of(&log, 0);
    assert_eq!(h.body, BodyFraming::Length(2));
    assert_eq!(h.keep_alive, Some(true));
    assert!(h.connection_upgrade);
    assert_eq!(h.upgrade, Upgrade::WebSocket);
}

#[test]
fn similar_names_are_not_framing_fields() {
    let (log, _) = requests(b"POST / HTTP/1.1\r\nContent-Length-X: 5\r\nX-Content-Length: 5\r\nContent-Lengt: 5\r\n\r\n");
    assert_eq!(head_of(&log, 0).body, BodyFraming::None);
}

#[test]
fn connection_close_wins_and_decides_persistence() {
    let (log, _) =
        requests(b"GET / HTTP/1.1\r\nConnection: keep-alive\r\nConnection: close\r\n\r\n");
    assert_eq!(head_of(&log, 0).keep_alive, Some(false));
    assert!(!head_of(&log, 0).persistent());
    let (log, _) = requests(b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n");
    assert!(head_of(&log, 0).persistent());
    let (log, _) = requests(b"GET / HTTP/1.1\r\nConnection: closed, keep-alives\r\n\r\n");
    assert_eq!(head_of(&log, 0).keep_alive, None, "whole tokens only");
}

#[test]
fn upgrade_names_websocket_h2c_or_other() {
    for (value, want) in [
        (&b"websocket"[..], Upgrade::WebSocket),
        (b"h2c", Upgrade::H2c),
        (b"HTTP/2.0, h2c", Upgrade::H2c),
        (b"WebSocket/13", Upgrade::WebSocket),
        (b"IRC/6.9", Upgrade::Other),
        (b"websockets", Upgrade::Other),
    ] {
        let mut msg = b"GET / HTTP/1.1\r\nConnection: upgrade\r\nUpgrade: ".to_vec();
        msg.extend_from_slice(value);
        msg.extend_from_slice(b"\r\n\r\n");
        assert_eq!(
            head_of(&requests(&msg).0, 0).upgrade,
            want,
            "{}",
            String::from_utf8_lossy(value)
        );
    }
    assert_eq!(
        head_of(&requests(b"GET / HTTP/1.1\r\n\r\n").0, 0).upgrade,
        Upgrade::None
    );
}

#[test]
fn methods_head_and_connect_are_recognised_exactly() {
    for (line, kind) in [
        (&b"HEAD / HTTP/1.1\r\n\r\n"[..], Head),
        (b"CONNECT example.com:443 HTTP/1.1\r\n\r\n", Connect),
        (b"head / HTTP/1.1\r\n\r\n", Other),
        (b"HEADER / HTTP/1.1\r\n\r\n", Other),
        (b"HEA / HTTP/1.1\r\n\r\n", Other),
        (b"PROPFIND / HTTP/1.1\r\n\r\n", Other),
    ] {
        let h = head_of(&requests(line).0, 0);
        assert_eq!(h.kind, kind, "{}", String::from_utf8_lossy(line));
        assert!(h.method_valid);
    }
}

#[test]
fn a_method_with_non_token_bytes_is_flagged_invalid() {
    let (log, _) = requests(b"GE\"T / HTTP/1.1\r\n\r\n");
    assert!(!head_of(&log, 0).method_valid);
}

#[test]
fn versions_10_11_and_later_minor_versions() {
    assert_eq!(
        head_of(&requests(b"GET / HTTP/1.0\r\n\r\n").0, 0).version,
        Version::Http10
    );
    assert_eq!(
        head_of(&requests(b"GET / HTTP/1.1\r\n\r\n").0, 0).version,
        Version::Http11
    );
    assert_eq!(
        head_of(&requests(b"GET / HTTP/1.2\r\n\r\n").0, 0).version,
        Version::Http11
    );
    for bad in [
        &b"GET / HTTP/2.0\r\n"[..],
        b"GET / http/1.1\r\n",
        b"GET /\r\n",
        b"GET / HTTP/1.10\r\n",
        b"GET\r\n",
    ] {
        assert_eq!(
            requests(bad).1,
            FramerState::Broken,
            "{}",
            String::from_utf8_lossy(bad)
        );
    }
}

#[test]
fn bare_lf_line_ends_are_accepted() {
    let (log, state) = requests(b"POST / HTTP/1.1\nContent-Length: 2\n\nabGET / HTTP/1.1\n\n");
    assert_eq!(state, FramerState::Idle);
    assert_eq!(log.msgs.len(), 2);
    assert_eq!(log.msgs[0].body, 2);
    let (log, _) = requests(b"POST / HTTP/1.1\nTransfer-Encoding: chunked\n\n2\nab\n0\n\n");
    assert_eq!((log.msgs[0].body, log.msgs[0].ended), (2, true));
}

#[test]
fn obsolete_line_folding_continues_the_value() {
    let (log, _) = requests(
        b"GET / HTTP/1.1\r\nConnection: keep-alive,\r\n  close\r\nX-A: 1\r\n\tmore\r\n\r\n",
    );
    assert_eq!(head_of(&log, 0).keep_alive, Some(false));
    assert!(log.msgs[0].ended);
}

#[test]
fn lines_without_colon_are_ignored() {
    let (log, _) = requests(b"GET / HTTP/1.1\r\nnonsense\r\nContent-Length: 1\r\n\r\nx");
    assert_eq!(head_of(&log, 0).body, BodyFraming::Length(1));
    assert!(log.msgs[0].ended);
}

#[test]
fn empty_lines_between_requests_are_skipped() {
    let (log, _) = requests(b"\r\n\r\nGET / HTTP/1.1\r\n\r\n\r\nGET / HTTP/1.1\r\n\r\n\r\n");
    let spans: Vec<_> = log.msgs.iter().map(|m| (m.start, m.len)).collect();
    assert_eq!(spans, [(4, 18), (24, 18)]);
    assert_eq!(log.offset, 44);
}

#[test]
fn binary_first_byte_breaks_and_everything_after_is_skipped() {
    let mut f = RequestFramer::new();
    let p = f.feed(&[0x16, 0x03, 0x01, 0x00]);
    assert_eq!((p.consumed, p.started, p.head), (1, true, None));
    assert_eq!(f.state(), FramerState::Broken);
    let p = f.feed(&[0x03, 0x01, 0x00]);
    assert_eq!((p.consumed, p.skipped, p.started), (3, 3, false));
    let p = f.feed(b"GET / HTTP/1.1\r\n\r\n");
    assert_eq!((p.consumed, p.skipped, p.started), (18, 18, false));
    let mut f = ResponseFramer::new();
    f.feed(b"SSH-2.0-OpenSSH\r\n", None);
    assert_eq!(f.state(), FramerState::Broken);
}

#[test]
fn an_over_long_line_breaks_the_framer() {
    let mut msg = b"GET /".to_vec();
    msg.extend(std::iter::repeat_n(b'a', usize::from(MAX_LINE)));
    msg.extend_from_slice(b" HTTP/1.1\r\n\r\n");
    assert_eq!(requests(&msg).1, FramerState::Broken);
    let mut msg = b"GET / HTTP/1.1\r\nX: ".to_vec();
    msg.extend(std::iter::repeat_n(b'a', usize::from(MAX_LINE) - 6));
    msg.extend_from_slice(b"\r\n\r\n");
    assert_eq!(
        requests(&msg).1,
        FramerState::Idle,
        "a line of exactly MAX_LINE bytes"
    );
}

#[test]
fn a_header_section_over_64_kib_breaks_the_framer() {
    let mut msg = b"GET / HTTP/1.1\r\n".to_vec();
    while msg.len() <= MAX_HEAD as usize {
        msg.extend_from_slice(b"X-Filler: 0123456789012345678901234567890123456789\r\n");
    }
    msg.extend_from_slice(b"\r\n");
    assert_eq!(requests(&msg).1, FramerState::Broken);
}

#[test]
fn a_long_chunk_extension_line_breaks_the_framer() {
    let mut msg = b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1;x=".to_vec();
    msg.extend(std::iter::repeat_n(b'a', usize::from(MAX_LINE)));
    assert_eq!(requests(&msg).1, FramerState::Broken);
}

#[test]
fn stop_makes_feed_consume_nothing() {
    let mut f = RequestFramer::new();
    let p = f.feed(b"CONNECT h:443 HTTP/1.1\r\n\r\n");
    assert_eq!(p.head.unwrap().kind, Connect);
    f.stop();
    assert_eq!(f.state(), FramerState::Stopped);
    assert_eq!(f.feed(b"\x16\x03\x01").consumed, 0);
}

// ---------------------------------------------------------------------------------
// Responses.

#[test]
fn response_to_head_has_no_body_despite_content_length() {
    let (log, state) = responses(
        b"HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
        &[Head, Other],
    );
    assert_eq!(state, FramerState::Idle);
    assert_eq!(rhead_of(&log, 0).body, BodyFraming::None);
    assert_eq!(rhead_of(&log, 1).body, BodyFraming::Length(2));
    assert!(log.msgs.iter().all(|m| m.ended));
    assert_eq!(log.msgs[1].body, 2);
}

#[test]
fn no_content_and_not_modified_have_no_body() {
    let (log, _) = responses(
        b"HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\nHTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n",
        &[Other, Other],
    );
    assert_eq!(log.msgs.len(), 2);
    assert!(log
        .msgs
        .iter()
        .all(|m| m.ended && m.head.unwrap().body == BodyFraming::None));
}

#[test]
fn interim_responses_are_messages_of_their_own() {
    let (log, _) = responses(
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx",
        &[Other],
    );
    let status: Vec<_> = log
        .msgs
        .iter()
        .map(|m| (m.head.unwrap().status, m.ended))
        .collect();
    assert_eq!(status, [(100, true), (103, true), (200, true)]);
    assert!(rhead_of(&log, 0).interim() && !rhead_of(&log, 2).interim());
}

#[test]
fn switching_protocols_stops_the_framer() {
    let mut f = ResponseFramer::new();
    let head =
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n";
    let mut bytes = head.to_vec();
    bytes.extend_from_slice(&[0x81, 0x02, b'h', b'i']);
    let p = f.feed(&bytes, Some(Other));
    assert_eq!((p.consumed, p.ended), (head.len(), true));
    let h = p.head.unwrap();
    assert_eq!(h.handoff, Some(Handoff::SwitchingProtocols));
    assert_eq!(h.upgrade, Upgrade::WebSocket);
    assert!(h.connection_upgrade);
    assert_eq!(f.state(), FramerState::Stopped);
    assert_eq!(
        f.feed(&bytes[head.len()..], None).consumed,
        0,
        "stopped: nothing consumed"
    );
    assert_eq!(f.gap(10), GapEffect::Ignored);
}

#[test]
fn a_2xx_to_connect_makes_a_tunnel_and_a_refusal_does_not() {
    let (log, state) = responses(
        b"HTTP/1.1 200 Connection established\r\n\r\n\x16\x03\x03",
        &[Connect],
    );
    assert_eq!(state, FramerState::Stopped);
    assert_eq!(rhead_of(&log, 0).handoff, Some(Handoff::Tunnel));
    let (log, state) = responses(
        b"HTTP/1.1 407 Auth\r\nContent-Length: 1\r\n\r\nx",
        &[Connect],
    );
    assert_eq!(state, FramerState::Idle);
    assert_eq!((rhead_of(&log, 0).handoff, log.msgs[0].body), (None, 1));
}

#[test]
fn a_response_without_length_runs_until_close() {
    let mut f = ResponseFramer::new();
    let p = f.feed(
        b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nsome text",
        Some(Other),
    );
    let h = p.head.unwrap();
    assert_eq!(
        (h.body, h.version, p.body, p.ended),
        (BodyFraming::UntilClose, Version::Http10, 9, false)
    );
    assert!(!h.persistent());
    assert!(f.ends_at_close());
    assert_eq!(
        f.feed(b"HTTP/1.1 200 OK\r\n\r\n", None).body,
        19,
        "still body"
    );
    assert_eq!(f.gap(100), GapEffect::InBody { ended: false });
}

#[test]
fn a_response_whose_last_coding_is_not_chunked_runs_until_close() {
    let (log, state) = responses(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nxyz",
        &[Other],
    );
    assert_eq!(rhead_of(&log, 0).body, BodyFraming::UntilClose);
    assert_eq!((state, log.msgs[0].body), (FramerState::Body, 3));
}

#[test]
fn a_response_without_its_request_is_framed_as_for_get() {
    let (log, _) = responses(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc", &[]);
    assert_eq!((log.msgs[0].body, log.msgs[0].ended), (3, true));
}

#[test]
fn status_line_without_reason_and_bad_status_lines() {
    let (log, _) = responses(b"HTTP/1.1 204\r\n\r\n", &[Other]);
    assert_eq!(rhead_of(&log, 0).status, 204);
    for bad in [
        &b"HTTP/1.1 20 OK\r\n"[..],
        b"HTTP/1.1 099 X\r\n",
        b"HTTP/1.1 2000\r\n",
        b"HTTP/1.1  200\r\n",
        b"HTTP/2 200\r\n",
    ] {
        assert_eq!(
            responses(bad, &[Other]).1,
            FramerState::Broken,
            "{}",
            String::from_utf8_lossy(bad)
        );
    }
}

// ---------------------------------------------------------------------------------
// Gaps and resynchronisation.

#[test]
fn a_gap_inside_a_content_length_body_keeps_sync() {
    let ops = [
        Op::Data(b"POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\nab"),
        Op::Gap(5),
        Op::Data(b"cdeGET / HTTP/1.1\r\n\r\n"),
    ];
    let (log, state) = run_requests(&ops, &whole);
    assert_eq!(log.gaps, [GapEffect::InBody { ended: false }]);
    assert_eq!(state, FramerState::Idle);
    assert_eq!(log.msgs.len(), 2);
    assert_eq!((log.msgs[0].body, log.msgs[0].ended), (5, true));
    assert!(log.msgs[1].ended);
}

#[test]
fn a_gap_that_ends_the_body_ends_the_message() {
    let ops = [
        Op::Data(b"POST / HTTP/1.1\r\nContent-Length: 4\r\n\r\nab"),
        Op::Gap(2),
        Op::Data(b"GET / HTTP/1.1\r\n\r\n"),
    ];
    let (log, _) = run_requests(&ops, &whole);
    assert_eq!(log.gaps, [GapEffect::InBody { ended: true }]);
    assert_eq!(log.msgs.len(), 2);
    assert_eq!(log.msgs[1].start, 40);
}

#[test]
fn a_gap_inside_chunk_data_keeps_sync() {
    let ops = [
        Op::Data(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n8\r\nab"),
        Op::Gap(6),
        Op::Data(b"\r\n0\r\n\r\n"),
    ];
    let (log, state) = run_responses(&ops, &[Other], &whole);
    assert_eq!(log.gaps, [GapEffect::InBody { ended: false }]);
    assert_eq!(
        (state, log.msgs[0].ended, log.msgs[0].body),
        (FramerState::Idle, true, 2)
    );
}

#[test]
fn a_gap_past_the_body_loses_sync() {
    let mut f = RequestFramer::new();
    f.feed(b"POST / HTTP/1.1\r\nContent-Length: 4\r\n\r\n");
    assert_eq!(f.gap(5), GapEffect::LostSync);
    assert_eq!(f.state(), FramerState::Resync);
}

#[test]
fn a_gap_in_a_head_resyncs_at_the_next_request_line() {
    let ops = [
        Op::Data(b"GET /a HTTP/1.1\r\nHo"),
        Op::Gap(30),
        Op::Data(b"st: x\r\nGET it done\r\nSTATUS / HTTP/1.1\r\n\r\nPOST /b HTTP/1.1\r\nContent-Length: 1\r\n\r\nz"),
    ];
    let (log, state) = run_requests(&ops, &whole);
    assert_eq!(log.gaps, [GapEffect::LostSync]);
    assert_eq!(state, FramerState::Idle);
    assert_eq!(log.msgs.len(), 2);
    assert!(!log.msgs[0].ended, "the first request lost its end");
    assert_eq!(log.msgs[1].start, 19 + 41);
    assert_eq!(
        (log.msgs[1].len, log.msgs[1].body, log.msgs[1].ended),
        (40, 1, true)
    );
}

#[test]
fn a_resync_candidate_split_across_feeds_is_found() {
    let mut f = RequestFramer::new();
    f.feed(b"GET / HTTP/1.1\r\nX: ");
    assert_eq!(f.gap(100), GapEffect::LostSync);
    let p = f.feed(b"junk\r\nHEA");
    assert_eq!((p.consumed, p.skipped, p.started), (9, 9, false));
    let p = f.feed(b"D /x HT");
    assert_eq!((p.consumed, p.skipped, p.started), (7, 7, false));
    let p = f.feed(b"TP/1.1\r\n\r\n");
    assert_eq!(
        (p.consumed, p.skipped, p.started, p.early, p.ended),
        (10, 0, true, 10, true)
    );
    assert_eq!(p.head.unwrap().kind, Head);
}

#[test]
fn a_gap_may_end_at_a_message_start() {
    let ops = [
        Op::Data(b"GET /a HTTP/1.1\r\nHo"),
        Op::Gap(9),
        Op::Data(b"GET /b HTTP/1.1\r\n\r\n"),
    ];
    let (log, _) = run_requests(&ops, &whole);
    assert_eq!(
        (log.msgs.len(), log.msgs[1].start, log.msgs[1].ended),
        (2, 19, true)
    );
}

#[test]
fn responses_resync_at_a_status_line() {
    let ops = [
        Op::Data(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab"),
        Op::Gap(3),
        Op::Data(b"\r\n"),
        Op::Gap(1000),
        Op::Data(b"ter\r\nHTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"),
    ];
    let (log, state) = run_responses(&ops, &[Other, Other], &whole);
    assert_eq!(
        log.gaps,
        [GapEffect::InBody { ended: false }, GapEffect::LostSync]
    );
    assert_eq!(state, FramerState::Idle);
    assert_eq!(rhead_of(&log, 1).status, 404);
    assert!(log.msgs[1].ended);
}

// ---------------------------------------------------------------------------------
// Segmentation independence.

/// Realistic request streams, and response streams with their requests' kinds.
fn request_streams() -> Vec<&'static [u8]> {
    vec![
        b"GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        b"POST /f HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\nhello worldGET / HTTP/1.0\r\n\r\n",
        b"POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5;a=b\r\nhello\r\n6\r\n world\r\n0\r\nT: 1\r\n\r\n",
        b"HEAD / HTTP/1.1\r\n\r\nPOST /u HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\nabc",
        b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n",
        b"GET /chat HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
        b"\r\nGET / HTTP/1.1\nA: b\n c\n\n",
    ]
}

fn response_streams() -> Vec<(&'static [u8], Vec<RequestKind>)> {
    vec![
        (b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabcHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", vec![Other, Other]),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", vec![Head, Other]),
        (b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok", vec![Other]),
        (b"HTTP/1.1 103 Early Hints\r\nLink: </s.css>\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4;x\r\nabcd\r\n0\r\nE: 1\r\n\r\n", vec![Other]),
        (b"HTTP/1.1 204 No Content\r\n\r\nHTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\n\r\n", vec![Other, Other]),
        (b"HTTP/1.1 200 Connection Established\r\n\r\n\x16\x03\x01\x00\x05hello", vec![Connect]),
        (b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n\x81\x02hi", vec![Other]),
        (b"HTTP/1.0 200 OK\r\nContent-Type: text/html\r\n\r\n<html>HTTP/1.1 200 OK\r\n</html>", vec![Other]),
    ]
}

#[test]
fn requests_do_not_depend_on_segmentation() {
    for stream in request_streams() {
        let ops = [Op::Data(stream)];
        let reference = run_requests(&ops, &whole);
        assert!(
            !reference.0.msgs.is_empty() && reference.1 != FramerState::Broken,
            "{reference:?}"
        );
        assert_eq!(run_requests(&ops, &bytewise), reference, "1-byte pieces");
        for cut in 0..=stream.len() {
            assert_eq!(
                run_requests(&ops, &|_| vec![cut]),
                reference,
                "cut at {cut}"
            );
        }
    }
}

#[test]
fn responses_do_not_depend_on_segmentation() {
    for (stream, kinds) in response_streams() {
        let ops = [Op::Data(stream)];
        let reference = run_responses(&ops, &kinds, &whole);
        assert!(
            !reference.0.msgs.is_empty() && reference.1 != FramerState::Broken,
            "{reference:?}"
        );
        assert_eq!(
            run_responses(&ops, &kinds, &bytewise),
            reference,
            "1-byte pieces"
        );
        for cut in 0..=stream.len() {
            assert_eq!(
                run_responses(&ops, &kinds, &|_| vec![cut]),
                reference,
                "cut at {cut}"
            );
        }
    }
}

#[test]
fn gaps_and_resync_do_not_depend_on_segmentation() {
    let ops = [
        Op::Data(b"GET /a HTTP/1.1\r\nHo"),
        Op::Gap(30),
        Op::Data(b"st: x\r\nGET it done\r\nPOST /b HTTP/1.1\r\nContent-Length: 4\r\n\r\nz"),
        Op::Gap(2),
        Op::Data(b"zGET / HTTP/1.1\r\n\r\n"),
    ];
    let reference = run_requests(&ops, &whole);
    assert_eq!(reference.0.msgs.len(), 3);
    assert_eq!(run_requests(&ops, &bytewise), reference);
    for cut in 0..80 {
        assert_eq!(
            run_requests(&ops, &|_| vec![cut]),
            reference,
            "cut at {cut}"
        );
    }
}

/// Pieces of HTTP-like text, to build inputs that go deep into the machines.
fn fragment() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        Just(b"GET / HTTP/1.1\r\n".to_vec()),
        Just(b"HEAD /x HTTP/1.0\n".to_vec()),
        Just(b"HTTP/1.1 200 OK\r\n".to_vec()),
        Just(b"HTTP/1.1 100 Continue\r\n".to_vec()),
        Just(b"HTTP/1.1 101 S\r\n".to_vec()),
        Just(b"Content-Length: 3\r\n".to_vec()),
        Just(b"Transfer-Encoding: chunked\r\n".to_vec()),
        Just(b"Connection: close, upgrade\r\n".to_vec()),
        Just(b"connection:keep-alive\r\n".to_vec()),
        Just(b"CONTENT-LENGTH:\t0 \r\n".to_vec()),
        Just(b"Upgrade: h2c\r\n".to_vec()),
        Just(b"\r\n".to_vec()),
        Just(b"5;x=y\r\nabcde\r\n".to_vec()),
        Just(b"0\r\n\r\n".to_vec()),
        Just(b" ".to_vec()),
        proptest::collection::vec(any::<u8>(), 0..8),
    ]
}

fn input() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(fragment(), 0..24).prop_map(|v| v.concat())
}

fn kinds() -> impl Strategy<Value = Vec<RequestKind>> {
    proptest::collection::vec(prop_oneof![Just(Head), Just(Connect), Just(Other)], 0..8)
}

proptest! {
    #[test]
    fn random_splits_never_change_the_result(
        data in input(),
        cuts in proptest::collection::vec(any::<usize>(), 0..12),
        gap_at in any::<usize>(),
        gap in 0u64..64,
        kinds in kinds(),
    ) {
        let at = gap_at % (data.len() + 1);
        let ops = [Op::Data(&data[..at]), Op::Gap(gap), Op::Data(&data[at..])];
        let cut = |len: usize| cuts.iter().map(|c| c % (len + 1)).collect::<Vec<_>>();
        prop_assert_eq!(run_requests(&ops, &cut), run_requests(&ops, &whole));
        prop_assert_eq!(run_responses(&ops, &kinds, &cut), run_responses(&ops, &kinds, &whole));
        prop_assert_eq!(run_requests(&ops, &bytewise), run_requests(&ops, &whole));
    }

    #[test]
    fn random_bytes_never_panic_and_always_progress(
        data in proptest::collection::vec(any::<u8>(), 0..512),
        cuts in proptest::collection::vec(any::<usize>(), 0..8),
    ) {
        // `record` asserts progress and bounds on every call.
        let ops = [Op::Data(&data)];
        let cut = |len: usize| cuts.iter().map(|c| c % (len + 1)).collect::<Vec<_>>();
        prop_assert_eq!(run_requests(&ops, &cut), run_requests(&ops, &whole));
        prop_assert_eq!(run_responses(&ops, &[Other], &cut), run_responses(&ops, &[Other], &whole));
    }
}

/// Heads read at once (whole in one piece) and byte by byte (1-byte pieces) agree on
/// the shapes the at-once path hands back to the byte path: a CR before a field name,
/// folding, a line without a colon, odd spacing in the start line, bare LFs.
#[test]
fn heads_read_at_once_and_byte_by_byte_agree_on_unusual_lines() {
    let requests: &[&[u8]] = &[
        b"GET / HTTP/1.1\r\n\rConnection: close\r\nContent-Length: 2\r\n\r\nab",
        b"GET / HTTP/1.1\r\nX: a\r\n  folded\r\nContent-Length: 1\r\n\r\nz",
        b"GET / HTTP/1.1\r\nno colon here\r\nContent-Length: 1\r\n\r\nz",
        b"GET  /two-spaces HTTP/1.1\r\n\r\n",
        b"GET / HTTP/1.1\nHost: x\nContent-Length: 1\n\nz",
        b"GET / HTTP/1.1\r\r\n\r\n",
        b"HEAD / HTTP/1.0\r\nConnection: keep-alive, Upgrade\r\nUpgrade: websocket\r\n\r\n",
    ];
    for stream in requests {
        let ops = [Op::Data(stream)];
        assert_eq!(
            run_requests(&ops, &whole),
            run_requests(&ops, &bytewise),
            "{}",
            String::from_utf8_lossy(stream)
        );
    }
    let responses: &[&[u8]] = &[
        b"HTTP/1.1 101 Ww\n\rUpgrade: websocket\r\nConnection: upgrade\r\n\r\n",
        b"HTTP/1.1 200\r\nContent-Length: 1\r\n\r\nz",
        b"HTTP/1.1 200 OK\r\r\nContent-Length: 1\r\n\r\nz",
        b"HTTP/1.1 099 Low\r\n\r\n",
        b"HTTP/1.1 204 No Content\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
    ];
    for stream in responses {
        let ops = [Op::Data(stream)];
        assert_eq!(
            run_responses(&ops, &[RequestKind::Other], &whole),
            run_responses(&ops, &[RequestKind::Other], &bytewise),
            "{}",
            String::from_utf8_lossy(stream)
        );
    }
}

/// The byte path's rule for a whole field name: every byte a tchar and the name equal
/// to one of [`NAMES`] ignoring case.
fn field_named_bytewise(name: &[u8]) -> Field {
    let known = name.iter().all(|&c| is_tchar(c));
    field_of(
        NAMES
            .iter()
            .position(|cand| known && cand.eq_ignore_ascii_case(name)),
    )
}

/// Pieces of field names and values: the known ones in any case, near misses, blanks
/// and separators, and any bytes.
fn name_or_value_piece() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        Just(b"Content-Length".to_vec()),
        Just(b"TRANSFER-encoding".to_vec()),
        Just(b"connection".to_vec()),
        Just(b"Upgrade".to_vec()),
        Just(b"Connectio\r".to_vec()),
        Just(b"keep-alive".to_vec()),
        Just(b"Keep-Alive".to_vec()),
        Just(b"CLOSE".to_vec()),
        Just(b"chunked".to_vec()),
        Just(b"WebSocket".to_vec()),
        Just(b"h2c".to_vec()),
        Just(b"12345".to_vec()),
        Just(b"18446744073709551616".to_vec()),
        Just(b" ".to_vec()),
        Just(b"\t".to_vec()),
        Just(b"\r".to_vec()),
        Just(b",".to_vec()),
        Just(b";".to_vec()),
        Just(b"/".to_vec()),
        proptest::collection::vec(any::<u8>(), 0..4),
    ]
}

fn name_or_value() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(name_or_value_piece(), 0..5).prop_map(|v| v.concat())
}

proptest! {
    #[test]
    fn field_names_at_once_match_the_byte_rule(name in name_or_value()) {
        prop_assert_eq!(field_named(&name), field_named_bytewise(&name));
        for cand in NAMES {
            prop_assert_eq!(same_ignoring_case(&name, cand), name.eq_ignore_ascii_case(cand));
        }
    }

    /// A value read at once leaves the state that byte steps over it leave, for every
    /// framing field, and so does the end of its field.
    #[test]
    fn values_at_once_match_byte_steps(value in name_or_value(), field in 0usize..4) {
        let mut start = Core {
            field: field_of(Some(field)),
            ..Core::default()
        };
        start.flags = F_KEEP;
        let mut at_once = start.clone();
        at_once.value_at_once(&value);
        let mut bytewise = start;
        for &c in &value {
            bytewise.value_byte(c);
        }
        prop_assert_eq!(format!("{at_once:?}"), format!("{bytewise:?}"));
        at_once.end_field();
        bytewise.end_field();
        prop_assert_eq!(format!("{at_once:?}"), format!("{bytewise:?}"));
    }

    /// Where a framer says the header block ends is where `header_split` ends it.
    #[test]
    fn the_header_end_told_is_the_header_splits(data in input()) {
        for side in [Side::Request, Side::Response] {
            let mut core = Core::default();
            let mut at = 0;
            let mut start = 0;
            while at < data.len() {
                let out = core.feed(side, &data[at..], Some(RequestKind::Other));
                if out.consumed == 0 {
                    break;
                }
                if out.started {
                    start = at + out.skipped;
                }
                if let Some(known) = out.known {
                    prop_assert!(out.started && out.head.is_some());
                    let message = &data[start..];
                    let (header_len, _) = crate::exchange::http::header_split(message);
                    prop_assert_eq!(known.header_end, header_len);
                    // The field lines told are those the template's lookup finds.
                    let block = &message[..header_len];
                    let http = crate::exchange::http::FieldLines::default();
                    prop_assert_ne!(known.fields, http);
                    for name in [&b"Connection"[..], b"content-length", b"Host"] {
                        prop_assert_eq!(
                            crate::exchange::http::header_value_indexed(block, name, known.fields),
                            crate::exchange::http::header_value(block, name)
                        );
                    }
                }
                at += out.consumed;
            }
        }
    }
}

#[test]
fn plain_heads_tell_their_header_end_and_others_do_not() {
    let plain = b"GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive\r\n\r\n";
    let out = Core::default().feed(Side::Request, plain, None);
    let known = out.known.unwrap();
    assert_eq!(known.header_end, plain.len() - 2);
    assert_eq!(known.fields.connection, 25);
    assert_eq!(
        known.fields.content_length,
        crate::exchange::http::FieldLines::ABSENT
    );
    for other in [
        &b"GET / HTTP/1.1\nHost: a\r\n\r\n"[..],
        b"GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\n\n",
    ] {
        let out = Core::default().feed(Side::Request, other, None);
        assert!(out.head.is_some());
        assert_eq!(out.known, None, "{}", String::from_utf8_lossy(other));
    }
}

/// `Core::known_token` relies on it: byte steps over a whole token of a list leave
/// that token's candidate alone only if no other token of its list starts with it.
#[test]
fn no_known_token_is_a_prefix_of_another_of_its_list() {
    for list in [TE_TOKENS, CONNECTION_TOKENS, UPGRADE_TOKENS] {
        for (i, a) in list.iter().enumerate() {
            for (j, b) in list.iter().enumerate() {
                assert!(i == j || !b.starts_with(a), "{a:?} starts {b:?}");
            }
        }
    }
}

// ---------------------------------------------------------------------------------
// The head read by masks against the head read line by line.

/// Field lines of all the shapes the two at-once readers meet: framing fields in any
/// case and spacing, other fields, lines long enough to cross 64-byte blocks, and the
/// shapes both hand back (folding, no colon, bare LF, a stray CR).
fn head_line() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        Just(b"Host: example.com\r\n".to_vec()),
        Just(b"Connection: keep-alive\r\n".to_vec()),
        Just(b"connection: close, Upgrade\r\n".to_vec()),
        Just(b"Content-Length: 12\r\n".to_vec()),
        Just(b"content-length:0 \r\n".to_vec()),
        Just(b"Content-Type: text/plain\r\n".to_vec()),
        Just(b"Transfer-Encoding: chunked\r\n".to_vec()),
        Just(b"TE: trailers\r\n".to_vec()),
        Just(b"Upgrade: websocket\r\n".to_vec()),
        Just(b"User-Agent: rustniffer\r\n".to_vec()),
        Just(
            b"X-Long: 0123456789012345678901234567890123456789012345678901234567890123\r\n"
                .to_vec()
        ),
        Just(b" folded\r\n".to_vec()),
        Just(b"\tx\r\n".to_vec()),
        Just(b"no colon\r\n".to_vec()),
        Just(b"bare: lf\n".to_vec()),
        Just(b"a\rb: c\r\n".to_vec()),
        Just(b"\r\n".to_vec()),
        (name_or_value(), name_or_value()).prop_map(|(name, value)| [
            name,
            b":".to_vec(),
            value,
            b"\r\n".to_vec()
        ]
        .concat()),
    ]
}

fn start_line() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        Just(b"GET /item/0 HTTP/1.1\r\n".to_vec()),
        Just(b"HEAD / HTTP/1.0\r\n".to_vec()),
        Just(b"CONNECT example.com:443 HTTP/1.1\r\n".to_vec()),
        Just(
            b"POST /a/very/long/target/that/fills/most/of/a/block/of/sixty-four HTTP/1.1\r\n"
                .to_vec()
        ),
        Just(b"HTTP/1.1 200 OK\r\n".to_vec()),
        Just(b"HTTP/1.0 101 Switching Protocols\r\n".to_vec()),
        Just(b"HTTP/1.1 204\r\n".to_vec()),
        Just(b"GET / HTTP/1.1\n".to_vec()),
        proptest::collection::vec(any::<u8>(), 0..12),
        // Any byte in or right after the method (a non-tchar, an early SP, a line end):
        // the method's end is found by its first non-tchar.
        (any::<u8>(), 0usize..5).prop_map(|(b, at)| {
            let mut line = b"POST /x HTTP/1.1\r\n".to_vec();
            line[at] = b;
            line
        }),
    ]
}

fn plain_head() -> impl Strategy<Value = Vec<u8>> {
    (
        start_line(),
        proptest::collection::vec(head_line(), 0..12),
        proptest::collection::vec(any::<u8>(), 0..4),
    )
        .prop_map(|(start, lines, after)| [start, lines.concat(), b"\r\n".to_vec(), after].concat())
}

/// Both at-once readers from a message's first byte: the masks' outcome when it has
/// one, the lines', and the states each leaves.
fn read_both(side: Side, kind: RequestKind, data: &[u8]) -> [(Option<WholeHead>, String); 2] {
    let mut by_masks = Core::default();
    by_masks.begin(side, false);
    let mut by_lines = by_masks.clone();
    let masks = by_masks.head_by_masks(side, Some(kind), data);
    let lines = by_lines.head_by_lines(side, Some(kind), data);
    [
        (masks, format!("{by_masks:?}")),
        (lines, format!("{by_lines:?}")),
    ]
}

proptest! {
    /// Wherever the mask reader reads a head, it reads it as the line reader does.
    #[test]
    fn heads_by_masks_match_heads_by_lines(data in plain_head(), kind in 0usize..3) {
        let kind = [Head, Connect, Other][kind];
        for side in [Side::Request, Side::Response] {
            let [masks, lines] = read_both(side, kind, &data);
            if masks.0.is_some() {
                prop_assert_eq!(masks, lines);
            }
        }
    }

    /// Plain heads, whole or split anywhere, frame as they do byte by byte.
    #[test]
    fn plain_heads_do_not_depend_on_segmentation(data in plain_head(), cut in any::<usize>()) {
        let ops = [Op::Data(&data)];
        let cut = |len: usize| vec![cut % (len + 1)];
        let whole_log = run_requests(&ops, &whole);
        prop_assert_eq!(&run_requests(&ops, &cut), &whole_log);
        prop_assert_eq!(&run_requests(&ops, &bytewise), &whole_log);
        let kinds = [Other, Head];
        let whole_log = run_responses(&ops, &kinds, &whole);
        prop_assert_eq!(&run_responses(&ops, &kinds, &cut), &whole_log);
        prop_assert_eq!(&run_responses(&ops, &kinds, &bytewise), &whole_log);
    }

    /// A framing field's whole value taken at once leaves the state that its value
    /// read at once (or byte by byte) and the end of its field leave.
    #[test]
    fn whole_values_match_values_and_field_ends(
        value in name_or_value(),
        field in 0usize..4,
        earlier_length in proptest::option::of(0u64..20),
    ) {
        let mut start = Core {
            field: field_of(Some(field)),
            ..Core::default()
        };
        start.flags = F_KEEP;
        if let Some(cl) = earlier_length {
            start.flags |= F_CL;
            start.cl = cl;
        }
        let mut whole = start.clone();
        whole.whole_value(&value);
        let mut at_once = start.clone();
        at_once.value_at_once(&value);
        at_once.end_field();
        let mut bytewise = start;
        for &c in &value {
            bytewise.value_byte(c);
        }
        bytewise.end_field();
        prop_assert_eq!(format!("{whole:?}"), format!("{at_once:?}"));
        prop_assert_eq!(format!("{whole:?}"), format!("{bytewise:?}"));
    }
}

/// A plain head read by masks whatever 64-byte block boundary its lines, their CRLFs
/// and its empty line fall on, and split at every byte.
#[test]
fn plain_heads_are_read_by_masks_at_every_block_offset() {
    for pad in 0..140 {
        let head = format!(
            "GET /item/0 HTTP/1.1\r\nHost: bench.example\r\nX-Pad: {}\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nab",
            "p".repeat(pad)
        );
        let data = head.as_bytes();
        let [masks, lines] = read_both(Side::Request, Other, data);
        assert!(masks.0.is_some(), "pad {pad}");
        assert_eq!(masks, lines, "pad {pad}");
        let ops = [Op::Data(data)];
        let reference = run_requests(&ops, &whole);
        assert_eq!(run_requests(&ops, &bytewise), reference, "pad {pad}");
        for cut in 0..=data.len() {
            assert_eq!(
                run_requests(&ops, &|_| vec![cut]),
                reference,
                "pad {pad} cut {cut}"
            );
        }
    }
}

/// The shapes the mask reader hands to the line reader (which takes some of them).
#[test]
fn heads_the_masks_do_not_read() {
    for (head, lines_read) in [
        (&b"GET / HTTP/1.1\nHost: a\n\n"[..], true),
        (b"GET / HTTP/1.1\r\nHost: a\n\r\n", true),
        (b"GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n", true),
        (b"GET / HTTP/1.1\r\n folded\r\n\r\n", false),
        (b"GET / HTTP/1.1\r\nHost: a\r\n\r", false),
        (b"GET / HTTP/1.1\r\nHost: a\r\n", false),
        (b"GET / HTTP/1.1\r\n\rX: a\r\n\r\n", false),
    ] {
        let [masks, lines] = read_both(Side::Request, Other, head);
        assert_eq!(masks.0, None, "{}", String::from_utf8_lossy(head));
        assert_eq!(
            lines.0.is_some(),
            lines_read,
            "{}",
            String::from_utf8_lossy(head)
        );
    }
    // A head over MAX_LINE bytes, its lines within: the line reader's.
    let line = format!("X: {}\r\n", "x".repeat(usize::from(MAX_LINE) / 2));
    let long = format!("GET / HTTP/1.1\r\n{line}{line}{line}\r\n");
    let [masks, lines] = read_both(Side::Request, Other, long.as_bytes());
    assert_eq!(masks.0, None);
    assert!(lines.0.is_some());
}

proptest! {
    /// Wherever `body_within` takes bytes, `feed` over them reports what it says (all
    /// consumed, none skipped, that many body bytes, nothing else) and leaves the same
    /// state; streams cut anywhere.
    #[test]
    fn body_within_is_what_feed_does(
        data in input(),
        cuts in proptest::collection::vec(any::<usize>(), 0..12),
        kinds in kinds(),
    ) {
        let cut: Vec<usize> = cuts.iter().map(|c| c % (data.len() + 1)).collect();
        for side in [Side::Request, Side::Response] {
            let mut core = Core::default();
            let mut answered = 0;
            for piece in pieces(&data, &cut) {
                let mut rest = piece;
                while !rest.is_empty() {
                    let mut fast = core.clone();
                    let taken = fast.body_within(rest.len());
                    let out = core.feed(side, rest, kinds.get(answered).copied());
                    if taken {
                        prop_assert_eq!(out.consumed, rest.len());
                        prop_assert_eq!(
                            (out.skipped, out.started, out.early, out.head, out.ended, out.known),
                            (0, false, 0, None, false, None)
                        );
                        prop_assert_eq!(out.body, rest.len() as u64);
                        prop_assert_eq!(format!("{fast:?}"), format!("{core:?}"));
                    }
                    if out.ended {
                        answered += 1;
                    }
                    if out.consumed == 0 {
                        break;
                    }
                    rest = &rest[out.consumed..];
                }
            }
        }
    }
}

#[test]
fn body_within_takes_bytes_inside_bodies_only() {
    let mut f = ResponseFramer::new();
    f.feed(
        b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n",
        Some(Other),
    );
    assert!(f.body_within(9));
    assert!(!f.body_within(1), "the byte that ends the body");
    assert!(!f.body_within(0));
    let p = f.feed(b"z", Some(Other));
    assert!(p.ended && p.body == 1);
    assert!(!f.body_within(3), "between messages");
    f.feed(b"HTTP/1.0 200 OK\r\n\r\n", Some(Other));
    assert!(f.body_within(1000), "until close");
}

/// `known_token_index` picks a field's token by its length: the tokens of each field
/// differ in length, and the pick agrees with comparing every token.
#[test]
fn a_fields_tokens_differ_in_length() {
    for tokens in [TE_TOKENS, CONNECTION_TOKENS, UPGRADE_TOKENS] {
        for (i, a) in tokens.iter().enumerate() {
            for b in &tokens[i + 1..] {
                assert_ne!(a.len(), b.len());
            }
        }
        for word in [
            &b"close"[..],
            b"Keep-Alive",
            b"UPGRADE",
            b"chunked",
            b"WebSocket",
            b"h2c",
            b"h2",
            b"clos",
            b"keep_alive",
            b"",
        ] {
            let every = tokens.iter().position(|t| word.eq_ignore_ascii_case(t));
            assert_eq!(known_token_index(tokens, word), every);
        }
    }
}
