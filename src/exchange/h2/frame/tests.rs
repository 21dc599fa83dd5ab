use super::*;
use proptest::prelude::*;

// ---- builders, from the RFC 9113 §4.1 and §6 layouts ----

/// A frame: the 9-byte header and its payload.
fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let mut out = (payload.len() as u32).to_be_bytes()[1..].to_vec();
    out.push(kind);
    out.push(flags);
    out.extend_from_slice(&stream.to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// A padded payload: pad length, body, padding.
fn padded(body: &[u8], pad: u8) -> Vec<u8> {
    let mut out = vec![pad];
    out.extend_from_slice(body);
    out.extend(std::iter::repeat_n(0, usize::from(pad)));
    out
}

fn setting(id: u16, value: u32) -> Vec<u8> {
    let mut out = id.to_be_bytes().to_vec();
    out.extend_from_slice(&value.to_be_bytes());
    out
}

/// An owned event: DATA pieces of one frame joined.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Ev {
    Data {
        stream: u32,
        data: Vec<u8>,
        end_stream: bool,
        done: bool,
    },
    Gap(u32, u64),
    Other(String),
}

fn push(events: &mut Vec<Ev>, f: Frame<'_>) {
    match f {
        Frame::Data {
            stream,
            data,
            end_stream,
            last,
        } => match events.last_mut() {
            Some(Ev::Data {
                stream: s,
                data: d,
                done: false,
                end_stream: e,
            }) if *s == stream => {
                d.extend_from_slice(data);
                *e = end_stream;
                if last {
                    if let Some(Ev::Data { done, .. }) = events.last_mut() {
                        *done = true;
                    }
                }
            }
            _ => events.push(Ev::Data {
                stream,
                data: data.to_vec(),
                end_stream,
                done: last,
            }),
        },
        Frame::DataGap { stream, len } => events.push(Ev::Gap(stream, len)),
        other => events.push(Ev::Other(format!("{other:?}"))),
    }
}

/// Feeds `pieces` to `r`; the events and the first error.
fn feed_all(r: &mut FrameReader, pieces: &[&[u8]]) -> (Vec<Ev>, Option<FrameError>) {
    let mut events = Vec::new();
    let mut error = None;
    for piece in pieces {
        if let Err(e) = r.feed(piece, &mut |f| push(&mut events, f)) {
            error.get_or_insert(e);
        }
    }
    (events, error)
}

/// The frames of `bytes` fed at once to a fresh reader.
fn read(bytes: &[u8]) -> (Vec<Ev>, Option<FrameError>) {
    feed_all(&mut FrameReader::new(), &[bytes])
}

fn other(f: Frame<'_>) -> Ev {
    Ev::Other(format!("{f:?}"))
}

fn data(stream: u32, bytes: &[u8], end_stream: bool) -> Ev {
    Ev::Data {
        stream,
        data: bytes.to_vec(),
        end_stream,
        done: true,
    }
}

fn error_of(bytes: &[u8]) -> FrameError {
    read(bytes).1.expect("an error")
}

// ---- each frame type ----

#[test]
fn data_frames_give_their_payload_and_flags() {
    let mut bytes = frame(DATA, 0, 1, b"hello");
    bytes.extend(frame(DATA, END_STREAM, 1, b" world"));
    assert_eq!(
        read(&bytes),
        (
            vec![data(1, b"hello", false), data(1, b" world", true)],
            None
        )
    );
}

#[test]
fn data_padding_is_removed_and_an_empty_frame_gives_one_empty_last_piece() {
    let mut bytes = frame(DATA, PADDED | END_STREAM, 3, &padded(b"abc", 4));
    bytes.extend(frame(DATA, 0, 3, b""));
    bytes.extend(frame(DATA, PADDED, 3, &padded(b"", 2)));
    assert_eq!(
        read(&bytes),
        (
            vec![
                data(3, b"abc", true),
                data(3, b"", false),
                data(3, b"", false)
            ],
            None
        )
    );
}

#[test]
fn data_is_given_in_pieces_as_it_arrives_not_buffered() {
    let bytes = frame(DATA, END_STREAM, 5, b"0123456789");
    let mut r = FrameReader::new();
    let mut pieces = Vec::new();
    for chunk in bytes.chunks(4) {
        r.feed(chunk, &mut |f| {
            if let Frame::Data { data, last, .. } = f {
                pieces.push((data.to_vec(), last));
            }
        })
        .unwrap();
    }
    // The header takes the first 9 bytes: data starts in the third chunk.
    assert_eq!(
        pieces,
        [
            (b"012".to_vec(), false),
            (b"3456".to_vec(), false),
            (b"789".to_vec(), true)
        ]
    );
    assert_eq!(r.buffered(), 0);
}

#[test]
fn headers_with_padding_and_priority() {
    let mut body = vec![0x80, 0, 0, 3, 15]; // exclusive, depends on 3, weight 16
    body.extend_from_slice(b"block");
    let bytes = frame(
        HEADERS,
        PADDED | flags::PRIORITY | END_STREAM | END_HEADERS,
        5,
        &padded(&body, 3),
    );
    assert_eq!(
        read(&bytes),
        (
            vec![other(Frame::Headers {
                stream: 5,
                end_stream: true,
                end_headers: true,
                priority: Some(Priority {
                    exclusive: true,
                    depends_on: 3,
                    weight: 15
                }),
                block: b"block",
            })],
            None
        )
    );
}

#[test]
fn headers_then_continuations_on_the_same_stream() {
    let mut bytes = frame(HEADERS, 0, 7, b"ab");
    bytes.extend(frame(CONTINUATION, 0, 7, b"cd"));
    bytes.extend(frame(CONTINUATION, END_HEADERS, 7, b"ef"));
    bytes.extend(frame(PING, 0, 0, &[0; 8]));
    let (events, error) = read(&bytes);
    assert_eq!(error, None);
    assert_eq!(
        events,
        [
            other(Frame::Headers {
                stream: 7,
                end_stream: false,
                end_headers: false,
                priority: None,
                block: b"ab"
            }),
            other(Frame::Continuation {
                stream: 7,
                end_headers: false,
                block: b"cd"
            }),
            other(Frame::Continuation {
                stream: 7,
                end_headers: true,
                block: b"ef"
            }),
            other(Frame::Ping {
                ack: false,
                payload: [0; 8]
            }),
        ]
    );
}

#[test]
fn priority_rst_stream_window_update_ping_goaway() {
    let mut bytes = frame(PRIORITY, 0, 9, &[0, 0, 0, 1, 255]);
    bytes.extend(frame(RST_STREAM, 0, 9, &8u32.to_be_bytes()));
    bytes.extend(frame(WINDOW_UPDATE, 0, 0, &0x8000_1000u32.to_be_bytes()));
    bytes.extend(frame(PING, ACK, 0, b"pingpong"));
    let mut goaway = 7u32.to_be_bytes().to_vec();
    goaway.extend(11u32.to_be_bytes());
    goaway.extend(b"calm down");
    bytes.extend(frame(GOAWAY, 0, 0, &goaway));
    assert_eq!(
        read(&bytes).0,
        [
            other(Frame::Priority {
                stream: 9,
                priority: Priority {
                    exclusive: false,
                    depends_on: 1,
                    weight: 255
                }
            }),
            other(Frame::RstStream { stream: 9, code: 8 }),
            // The reserved bit is not part of the increment.
            other(Frame::WindowUpdate {
                stream: 0,
                increment: 0x1000
            }),
            other(Frame::Ping {
                ack: true,
                payload: *b"pingpong"
            }),
            other(Frame::Goaway {
                last_stream: 7,
                code: 11,
                debug: b"calm down"
            }),
        ]
    );
    assert_eq!(error_code_name(8), Some("CANCEL"));
    assert_eq!(error_code_name(11), Some("ENHANCE_YOUR_CALM"));
    assert_eq!(error_code_name(13), Some("HTTP_1_1_REQUIRED"));
    assert_eq!(error_code_name(14), None);
    assert_eq!(frame_type_name(GOAWAY), Some("GOAWAY"));
    assert_eq!(frame_type_name(10), None);
}

#[test]
fn settings_parameters_and_their_last_occurrence() {
    let mut payload = setting(setting::MAX_CONCURRENT_STREAMS, 100);
    payload.extend(setting(setting::INITIAL_WINDOW_SIZE, 65535));
    payload.extend(setting(setting::MAX_FRAME_SIZE, 32768));
    payload.extend(setting(setting::MAX_CONCURRENT_STREAMS, 250));
    payload.extend(setting(0x99, 1)); // unknown ids are kept in the list
    let mut bytes = frame(SETTINGS, 0, 0, &payload);
    bytes.extend(frame(SETTINGS, ACK, 0, b""));
    let mut r = FrameReader::new();
    let mut seen = Vec::new();
    r.feed(&bytes, &mut |f| {
        if let Frame::Settings { ack, params } = f {
            seen.push((
                ack,
                params.iter().collect::<Vec<_>>(),
                params.max_concurrent_streams(),
                params.initial_window_size(),
                params.max_frame_size(),
                params.header_table_size(),
            ));
        }
    })
    .unwrap();
    assert_eq!(
        seen,
        [
            (
                false,
                vec![(3, 100), (4, 65535), (5, 32768), (3, 250), (0x99, 1)],
                Some(250),
                Some(65535),
                Some(32768),
                None
            ),
            (true, vec![], None, None, None, None)
        ]
    );
}

#[test]
fn push_promise_padded() {
    let mut body = 0x8000_0002u32.to_be_bytes().to_vec();
    body.extend(b"promised block");
    let bytes = frame(PUSH_PROMISE, PADDED | END_HEADERS, 1, &padded(&body, 5));
    assert_eq!(
        read(&bytes),
        (
            vec![other(Frame::PushPromise {
                stream: 1,
                promised: 2,
                end_headers: true,
                block: b"promised block"
            })],
            None
        )
    );
}

#[test]
fn unknown_types_are_reported_and_skipped_without_buffering() {
    let mut bytes = frame(0x42, 0xff, 3, &[7; 300]);
    bytes.extend(frame(PING, 0, 0, &[1; 8]));
    let mut r = FrameReader::new();
    let (events, error) = feed_all(&mut r, &[&bytes[..100], &bytes[100..]]);
    assert_eq!(error, None);
    assert_eq!(
        events,
        [
            other(Frame::Unknown {
                kind: 0x42,
                stream: 3,
                length: 300
            }),
            other(Frame::Ping {
                ack: false,
                payload: [1; 8]
            })
        ]
    );
    assert_eq!(r.buffered(), 0);
    assert_eq!(r.frames(), 2);
}

#[test]
fn a_payload_split_across_feeds_is_buffered_then_freed_at_its_end() {
    let bytes = frame(HEADERS, END_HEADERS, 1, &[b'x'; 1000]);
    let mut r = FrameReader::new();
    let (events, _) = feed_all(&mut r, &[&bytes[..500]]);
    assert!(events.is_empty());
    assert!(r.buffered() >= 491 && r.in_frame());
    let (events, _) = feed_all(&mut r, &[&bytes[500..]]);
    assert_eq!(events.len(), 1);
    assert!(!r.in_frame());
}

// ---- the preface ----

#[test]
fn the_preface_is_checked_even_one_byte_at_a_time() {
    let mut bytes = PREFACE.to_vec();
    bytes.extend(frame(SETTINGS, 0, 0, b""));
    let mut r = FrameReader::new();
    r.expect_preface();
    let pieces: Vec<&[u8]> = bytes.chunks(1).collect();
    let (events, error) = feed_all(&mut r, &pieces);
    assert_eq!(error, None);
    assert_eq!(events.len(), 1);

    let mut bad = PREFACE.to_vec();
    bad[10] = b'3'; // "HTTP/3.0"
    let mut r = FrameReader::new();
    r.expect_preface();
    let pieces: Vec<&[u8]> = bad.chunks(1).collect();
    assert_eq!(
        feed_all(&mut r, &pieces),
        (vec![], Some(FrameError::BadPreface))
    );
}

// ---- errors ----

#[test]
fn a_frame_over_the_max_frame_size_is_a_frame_size_error() {
    let big = frame(DATA, 0, 1, &vec![0; 16_385]);
    assert_eq!(
        error_of(&big),
        FrameError::TooLarge {
            kind: DATA,
            length: 16_385,
            max: 16_384
        }
    );
    let mut r = FrameReader::new();
    r.set_max_frame_size(20_000);
    assert_eq!(feed_all(&mut r, &[&big]).1, None);
    // Clamped to the RFC's range.
    r.set_max_frame_size(1);
    assert_eq!(r.max_frame_size(), DEFAULT_MAX_FRAME_SIZE);
    r.set_max_frame_size(u32::MAX);
    assert_eq!(r.max_frame_size(), MAX_MAX_FRAME_SIZE);
}

#[test]
fn fixed_length_frames_of_the_wrong_length() {
    for (kind, stream, len) in [
        (PING, 0, 7),
        (PING, 0, 9),
        (PRIORITY, 1, 4),
        (RST_STREAM, 1, 5),
        (WINDOW_UPDATE, 0, 3),
        (SETTINGS, 0, 7),
        (GOAWAY, 0, 7),
    ] {
        let e = error_of(&frame(kind, 0, stream, &vec![0; len]));
        assert_eq!(
            e,
            FrameError::BadLength {
                kind,
                length: len as u32
            }
        );
        assert_eq!(e.code(), Some(error_code::FRAME_SIZE_ERROR));
    }
    assert_eq!(
        error_of(&frame(SETTINGS, ACK, 0, &setting(1, 0))),
        FrameError::SettingsAckWithPayload { length: 6 }
    );
    // Too short for the fields the flags announce.
    assert_eq!(
        error_of(&frame(HEADERS, flags::PRIORITY, 1, &[0; 4])),
        FrameError::BadLength {
            kind: HEADERS,
            length: 4
        }
    );
    assert_eq!(
        error_of(&frame(DATA, PADDED, 1, b"")),
        FrameError::BadLength {
            kind: DATA,
            length: 0
        }
    );
}

#[test]
fn padding_longer_than_the_payload_is_a_protocol_error() {
    for (kind, payload) in [
        (DATA, vec![3, 0, 0]),
        (HEADERS, vec![1]),
        (PUSH_PROMISE, vec![1, 0, 0, 0, 2]),
    ] {
        let e = error_of(&frame(kind, PADDED | END_HEADERS, 1, &payload));
        assert!(matches!(e, FrameError::PaddingTooLong { .. }), "{e:?}");
        assert_eq!(e.code(), Some(error_code::PROTOCOL_ERROR));
    }
    // Padding of exactly the rest of the payload is allowed.
    assert_eq!(read(&frame(DATA, PADDED, 1, &[2, 0, 0])).1, None);
}

#[test]
fn stream_ids_where_forbidden_or_missing() {
    for kind in [DATA, HEADERS, PRIORITY, RST_STREAM, PUSH_PROMISE] {
        let len = match kind {
            PRIORITY => 5,
            PUSH_PROMISE | RST_STREAM => 4,
            _ => 0,
        };
        assert_eq!(
            error_of(&frame(kind, END_HEADERS, 0, &vec![0; len])),
            FrameError::StreamRequired { kind }
        );
    }
    for (kind, len) in [(SETTINGS, 0), (PING, 8), (GOAWAY, 8)] {
        assert_eq!(
            error_of(&frame(kind, 0, 3, &vec![0; len])),
            FrameError::StreamForbidden { kind, stream: 3 }
        );
    }
    // A CONTINUATION with no header block open.
    assert_eq!(
        error_of(&frame(CONTINUATION, 0, 1, b"")),
        FrameError::UnexpectedContinuation { stream: 1 }
    );
}

#[test]
fn an_open_header_block_needs_its_continuation() {
    let mut bytes = frame(HEADERS, 0, 1, b"ab");
    bytes.extend(frame(PING, 0, 0, &[0; 8]));
    assert_eq!(
        error_of(&bytes),
        FrameError::ContinuationExpected {
            stream: 1,
            kind: PING,
            got: 0
        }
    );
    let mut bytes = frame(PUSH_PROMISE, 0, 1, &[0, 0, 0, 2]);
    bytes.extend(frame(CONTINUATION, END_HEADERS, 3, b""));
    assert_eq!(
        error_of(&bytes),
        FrameError::ContinuationExpected {
            stream: 1,
            kind: CONTINUATION,
            got: 3
        }
    );
}

#[test]
fn an_error_is_sticky_and_stops_the_events() {
    let mut bytes = frame(PING, 0, 0, &[0; 7]);
    bytes.extend(frame(PING, 0, 0, &[0; 8]));
    let mut r = FrameReader::new();
    let (events, error) = feed_all(&mut r, &[&bytes, &frame(PING, 0, 0, &[0; 8])]);
    assert!(events.is_empty());
    let e = FrameError::BadLength {
        kind: PING,
        length: 7,
    };
    assert_eq!(error, Some(e));
    assert!(r.is_broken());
    assert_eq!(r.gap(1, &mut |_| panic!()), Err(e));
    assert_eq!(r.error(), Some(e));
}

#[test]
fn error_messages_name_the_frame_and_the_error_code() {
    assert_eq!(
        FrameError::BadLength {
            kind: PING,
            length: 7
        }
        .to_string(),
        "PING frame of bad length 7 (FRAME_SIZE_ERROR)"
    );
    assert_eq!(
        FrameError::StreamRequired { kind: 0x0b }.to_string(),
        "type 0x0b frame on stream 0 (PROTOCOL_ERROR)"
    );
    assert_eq!(
        FrameError::Gap.to_string(),
        "bytes missed outside a DATA payload (lost sync)"
    );
    assert_eq!(FrameError::Gap.code(), None);
}

// ---- gaps ----

#[test]
fn a_gap_inside_data_keeps_the_reader_in_sync() {
    let bytes = frame(DATA, END_STREAM, 1, b"0123456789");
    let mut r = FrameReader::new();
    let mut events = Vec::new();
    r.feed(&bytes[..12], &mut |f| push(&mut events, f)).unwrap();
    r.gap(4, &mut |f| push(&mut events, f)).unwrap();
    r.feed(&bytes[16..], &mut |f| push(&mut events, f)).unwrap();
    r.feed(&frame(PING, 0, 0, &[0; 8]), &mut |f| push(&mut events, f))
        .unwrap();
    assert_eq!(
        events,
        [
            Ev::Data {
                stream: 1,
                data: b"012".to_vec(),
                end_stream: true,
                done: false
            },
            Ev::Gap(1, 4),
            data(1, b"789", true),
            other(Frame::Ping {
                ack: false,
                payload: [0; 8]
            })
        ]
    );
}

#[test]
fn a_gap_to_the_end_of_data_closes_the_frame() {
    let bytes = frame(DATA, PADDED, 1, &padded(b"0123", 2));
    let mut r = FrameReader::new();
    let mut events = Vec::new();
    r.feed(&bytes[..11], &mut |f| push(&mut events, f)).unwrap(); // header, pad, "0"
    r.gap(5, &mut |f| push(&mut events, f)).unwrap(); // "123" and the padding
    assert_eq!(
        events,
        [
            Ev::Data {
                stream: 1,
                data: b"0".to_vec(),
                end_stream: false,
                done: false
            },
            Ev::Gap(1, 3),
            data(1, b"", false),
        ]
    );
    assert!(!r.in_frame());
}

#[test]
fn a_gap_over_the_pad_length_counts_the_rest_as_data() {
    let bytes = frame(DATA, PADDED | END_STREAM, 1, &padded(b"abcd", 2));
    let mut r = FrameReader::new();
    let mut events = Vec::new();
    r.feed(&bytes[..9], &mut |f| push(&mut events, f)).unwrap();
    r.gap(2, &mut |f| push(&mut events, f)).unwrap(); // pad length and "a"
    r.feed(&bytes[11..], &mut |f| push(&mut events, f)).unwrap();
    assert_eq!(
        events,
        [
            Ev::Gap(1, 1),
            Ev::Data {
                stream: 1,
                data: b"bcd\0\0".to_vec(),
                end_stream: true,
                done: true
            }
        ]
    );
}

#[test]
fn a_gap_outside_data_loses_sync() {
    // Between frames.
    let mut r = FrameReader::new();
    assert_eq!(r.gap(3, &mut |_| {}), Err(FrameError::Gap));
    // Inside a buffered payload.
    let mut r = FrameReader::new();
    r.feed(&frame(PING, 0, 0, &[0; 8])[..12], &mut |_| {})
        .unwrap();
    assert_eq!(r.gap(2, &mut |_| {}), Err(FrameError::Gap));
    // Past the end of the DATA payload.
    let mut r = FrameReader::new();
    r.feed(&frame(DATA, 0, 1, b"abc")[..10], &mut |_| {})
        .unwrap();
    assert_eq!(r.gap(3, &mut |_| {}), Err(FrameError::Gap));
    assert!(r.is_broken());
    // Inside an unknown frame's payload: still in sync.
    let mut r = FrameReader::new();
    r.feed(&frame(0x77, 0, 1, b"abcdef")[..10], &mut |_| {})
        .unwrap();
    assert_eq!(r.gap(5, &mut |_| {}), Ok(()));
    assert!(!r.in_frame());
    // A zero-length gap is nothing.
    assert_eq!(FrameReader::new().gap(0, &mut |_| {}), Ok(()));
}

// ---- header blocks ----

#[test]
fn header_block_joins_fragments_up_to_its_bound() {
    let mut block = HeaderBlock::new();
    assert!(block.push(b"ab") && block.push(b"cd"));
    assert_eq!(block.bytes(), b"abcd");
    block.clear();
    assert!(block.is_empty());
    assert!(block.push(&vec![0; MAX_HEADER_BLOCK]));
    assert!(!block.push(b"x"));
    assert!(block.is_overflow() && block.is_empty());
    assert!(!block.push(b"y"), "an overflowed block stays dropped");
    block.clear();
    assert!(!block.is_overflow() && block.push(b"z"));
}

// ---- cuts never change the events ----

/// Frames of every type, valid or not, with small payloads.
fn any_frame() -> impl Strategy<Value = Vec<u8>> {
    (
        0u8..12,
        any::<u8>(),
        prop_oneof![Just(0u32), Just(1u32), Just(3u32), any::<u32>()],
        proptest::collection::vec(any::<u8>(), 0..40),
    )
        .prop_map(|(kind, flags, stream, payload)| {
            // Keep the valid shapes frequent: fixed lengths, small pads.
            let mut payload = match kind {
                PING => payload.iter().copied().chain([0; 8]).take(8).collect(),
                PRIORITY => payload.iter().copied().chain([0; 5]).take(5).collect(),
                RST_STREAM | WINDOW_UPDATE => {
                    payload.iter().copied().chain([0; 4]).take(4).collect()
                }
                SETTINGS => payload[..payload.len() / 6 * 6].to_vec(),
                _ => payload,
            };
            if let Some(pad) = payload.first_mut() {
                *pad %= 8;
            }
            frame(kind, flags, stream, &payload)
        })
}

proptest! {
    #[test]
    fn the_events_do_not_depend_on_the_cuts(
        frames in proptest::collection::vec(any_frame(), 0..12),
        cuts in proptest::collection::vec(0usize..64, 0..24),
        preface in any::<bool>(),
    ) {
        let mut bytes = if preface { PREFACE.to_vec() } else { Vec::new() };
        bytes.extend(frames.concat());
        let mut whole = FrameReader::new();
        let mut cut = FrameReader::new();
        if preface {
            whole.expect_preface();
            cut.expect_preface();
        }
        let expected = feed_all(&mut whole, &[&bytes]);
        let mut pieces = Vec::new();
        let mut rest = &bytes[..];
        for n in cuts {
            let (piece, tail) = rest.split_at(n.min(rest.len()));
            pieces.push(piece);
            rest = tail;
        }
        pieces.push(rest);
        prop_assert_eq!(feed_all(&mut cut, &pieces), expected);
        prop_assert_eq!(cut.frames(), whole.frames());
    }
}

#[test]
fn a_gap_right_after_a_data_header_opens_the_frame() {
    // Found by the h2_frames fuzz target (its check assumed a piece came first).
    let bytes = frame(DATA, END_STREAM, 9, b"abcdef");
    let mut r = FrameReader::new();
    let mut events = Vec::new();
    r.feed(&bytes[..9], &mut |f| push(&mut events, f)).unwrap();
    r.gap(2, &mut |f| push(&mut events, f)).unwrap();
    r.feed(&bytes[11..], &mut |f| push(&mut events, f)).unwrap();
    assert_eq!(events, [Ev::Gap(9, 2), data(9, b"cdef", true)]);
}
