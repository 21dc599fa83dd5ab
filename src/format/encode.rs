//! Output encodings for `-u` and `-x` (SPEC §1, §6), applied in place to the bytes
//! of a rendered record, literal text included.

/// How bytes that are not printable ASCII are written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Encoding {
    /// As they are.
    #[default]
    Plain,
    /// `-u`: as `.`.
    Unprintable,
    /// `-x`: as `[0x` + lowercase hex without padding + `]`.
    Hex,
}

/// Bytes every encoding keeps: printable ASCII, `\n` and `\t`.
fn is_kept(b: u8) -> bool {
    (0x20..=0x7e).contains(&b) || b == b'\n' || b == b'\t'
}

/// Length of `[0x..]` for a byte.
fn hex_len(b: u8) -> usize {
    if b < 0x10 {
        5
    } else {
        6
    }
}

/// Encodes `buf[start..]` in place. `Hex` grows the buffer once and fills it from
/// the back, so no scratch allocation is needed.
pub fn encode_tail(buf: &mut Vec<u8>, start: usize, encoding: Encoding) {
    match encoding {
        Encoding::Plain => {}
        Encoding::Unprintable => {
            for b in &mut buf[start..] {
                if !is_kept(*b) {
                    *b = b'.';
                }
            }
        }
        Encoding::Hex => {
            let old_len = buf.len();
            let extra: usize = buf[start..]
                .iter()
                .filter(|&&b| !is_kept(b))
                .map(|&b| hex_len(b) - 1)
                .sum();
            if extra == 0 {
                return;
            }
            buf.resize(old_len + extra, 0);
            // Walk backwards: the write position never overtakes the read position.
            let mut write = buf.len();
            for read in (start..old_len).rev() {
                let b = buf[read];
                if is_kept(b) {
                    write -= 1;
                    buf[write] = b;
                } else {
                    const HEX: &[u8; 16] = b"0123456789abcdef";
                    let len = hex_len(b);
                    write -= len;
                    let dst = &mut buf[write..write + len];
                    dst[..3].copy_from_slice(b"[0x");
                    if b < 0x10 {
                        dst[3] = HEX[usize::from(b)];
                    } else {
                        dst[3] = HEX[usize::from(b >> 4)];
                        dst[4] = HEX[usize::from(b & 0xf)];
                    }
                    dst[len - 1] = b']';
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(data: &[u8], e: Encoding) -> Vec<u8> {
        let mut buf = b"keep\r".to_vec();
        let start = buf.len();
        buf.extend_from_slice(data);
        encode_tail(&mut buf, start, e);
        assert_eq!(&buf[..start], b"keep\r", "bytes before start are untouched");
        buf[start..].to_vec()
    }

    #[test]
    fn unprintable_bytes_become_dots() {
        assert_eq!(
            enc(b"a\r\n\tb\x00\x7f\xff~ ", Encoding::Unprintable),
            b"a.\n\tb...~ "
        );
    }

    #[test]
    fn hex_encoding_is_lowercase_without_padding() {
        assert_eq!(
            enc(b"a\r\n\x00\x7f\xff\x10b", Encoding::Hex),
            b"a[0xd]\n[0x0][0x7f][0xff][0x10]b"
        );
    }

    #[test]
    fn plain_and_printable_text_are_unchanged() {
        assert_eq!(enc(b"\x01\x02", Encoding::Plain), b"\x01\x02");
        assert_eq!(enc(b"GET / HTTP/1.1", Encoding::Hex), b"GET / HTTP/1.1");
        assert_eq!(enc(b"", Encoding::Hex), b"");
    }

    #[test]
    fn every_byte_value_round_trips_through_hex() {
        let all: Vec<u8> = (0..=255).collect();
        let out = enc(&all, Encoding::Hex);
        let mut expected = Vec::new();
        for b in all {
            if is_kept(b) {
                expected.push(b);
            } else {
                expected.extend_from_slice(format!("[0x{b:x}]").as_bytes());
            }
        }
        assert_eq!(out, expected);
    }
}
