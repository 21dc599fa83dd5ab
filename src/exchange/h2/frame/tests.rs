use super::*;

/// A frame: the 9-byte header (RFC 9113 §4.1) and its payload.
fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let mut out = (payload.len() as u32).to_be_bytes()[1..].to_vec();
    out.push(kind);
    out.push(flags);
    out.extend_from_slice(&stream.to_be_bytes());
    out.extend_from_slice(payload);
    out
}

#[test]
fn ping_frame_is_read() {
    let mut r = FrameReader::new();
    let mut got = Vec::new();
    r.feed(&frame(PING, ACK, 0, b"12345678"), &mut |f| {
        got.push(format!("{f:?}"))
    })
    .unwrap();
    assert_eq!(
        got,
        [format!(
            "{:?}",
            Frame::Ping {
                ack: true,
                payload: *b"12345678"
            }
        )]
    );
}
