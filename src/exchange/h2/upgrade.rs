//! The `HTTP2-Settings` header of an HTTP/1.1 `Upgrade: h2c` request (RFC 7540 §3.2.1,
//! kept by RFC 9113 §3.2's reference to it): the client's SETTINGS payload, base64url
//! encoded (RFC 4648 §5) without padding. On the upgrade path these are the client's
//! settings for the connection; no client SETTINGS frame carries them.
//!
//! Pure and panic-free: the decoded payload goes into a buffer the caller owns, bounded
//! by [`MAX_SETTINGS_HEADER`].

use super::frame::Settings;

/// Longest `HTTP2-Settings` value decoded: 1,024 base64 characters are 768 bytes, 128
/// settings, far more than the 8 RFC 9113 defines (a longer value is reported, not
/// decoded).
pub const MAX_SETTINGS_HEADER: usize = 1024;

/// Why an `HTTP2-Settings` value is not a SETTINGS payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SettingsHeaderError {
    /// A byte outside the base64url alphabet at `at`, a length no base64 text has
    /// (one character past a multiple of four), or leftover bits that are not zero.
    BadBase64 { at: usize },
    /// The decoded payload is not a whole number of 6-byte settings (RFC 9113 §6.5).
    PartialSetting { len: usize },
    /// Longer than [`MAX_SETTINGS_HEADER`].
    TooLong { len: usize },
}

impl SettingsHeaderError {
    /// The reason as the connection's facts keep it.
    pub fn reason(self) -> &'static str {
        match self {
            SettingsHeaderError::BadBase64 { .. } => "HTTP2-Settings is not base64url",
            SettingsHeaderError::PartialSetting { .. } => {
                "HTTP2-Settings is not a whole number of settings"
            }
            SettingsHeaderError::TooLong { .. } => "HTTP2-Settings too long",
        }
    }
}

/// The value of a base64url character (RFC 4648 Table 2).
fn sextet(c: u8) -> Option<u8> {
    match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'-' => Some(62),
        b'_' => Some(63),
        _ => None,
    }
}

/// Decodes an `HTTP2-Settings` value (surrounding blanks ignored; `=` padding, which
/// the RFC omits, accepted when it is whole) into `out` and returns its settings.
pub fn decode_settings_header<'o>(
    value: &[u8],
    out: &'o mut Vec<u8>,
) -> Result<Settings<'o>, SettingsHeaderError> {
    out.clear();
    let value = value.trim_ascii();
    if value.len() > MAX_SETTINGS_HEADER {
        return Err(SettingsHeaderError::TooLong { len: value.len() });
    }
    let mut text = value;
    if text.len() % 4 == 0 {
        // Padding: at most two `=`, at the end of a whole quantum.
        for _ in 0..2 {
            if let Some(rest) = text.strip_suffix(b"=") {
                text = rest;
            }
        }
    }
    if text.len() % 4 == 1 {
        return Err(SettingsHeaderError::BadBase64 { at: text.len() - 1 });
    }
    let (mut acc, mut bits) = (0u32, 0u32);
    for (at, &c) in text.iter().enumerate() {
        let v = sextet(c).ok_or(SettingsHeaderError::BadBase64 { at })?;
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    if acc != 0 {
        // Bits past the last whole byte must be zero (RFC 4648 §3.5): this is not the
        // encoding of any payload.
        return Err(SettingsHeaderError::BadBase64 {
            at: text.len().saturating_sub(1),
        });
    }
    Settings::from_payload(out).ok_or(SettingsHeaderError::PartialSetting { len: out.len() })
}

#[cfg(test)]
mod tests {
    use super::super::frame::setting;
    use super::*;

    #[test]
    fn curls_header_decodes_into_its_three_settings() {
        // From tests/protocols/pcaps/h2_curl_upgrade.pcap (curl 7.88 --http2).
        let mut out = Vec::new();
        let s = decode_settings_header(b"AAMAAABkAAQCAAAAAAIAAAAA", &mut out).unwrap();
        assert_eq!(
            s.iter().collect::<Vec<_>>(),
            [
                (setting::MAX_CONCURRENT_STREAMS, 100),
                (setting::INITIAL_WINDOW_SIZE, 0x0200_0000),
                (setting::ENABLE_PUSH, 0),
            ]
        );
        assert_eq!(s.max_concurrent_streams(), Some(100));
        assert_eq!(s.initial_window_size(), Some(33_554_432));
        assert_eq!(s.max_frame_size(), None);
    }

    #[test]
    fn both_base64url_characters_padding_and_blanks_are_read() {
        let mut out = Vec::new();
        // SETTINGS_MAX_FRAME_SIZE = 0x00fbff7e: its bytes use `-` and `_`.
        let s = decode_settings_header(b"AAUA-_9-", &mut out).unwrap();
        assert_eq!(s.max_frame_size(), Some(0x00fb_ff7e));
        // Padding and blanks are read (five bytes: no whole setting, reported so).
        let s = decode_settings_header(b" AAUA-_8= ", &mut out);
        assert_eq!(s, Err(SettingsHeaderError::PartialSetting { len: 5 }));
        let s = decode_settings_header(b"AAEAABAA\t", &mut out).unwrap();
        assert_eq!(s.header_table_size(), Some(4096));
        // An empty value: no settings, which is a valid SETTINGS payload.
        let s = decode_settings_header(b"", &mut out).unwrap();
        assert!(s.is_empty());
    }

    #[test]
    fn malformed_values_are_errors_that_say_why() {
        let mut out = Vec::new();
        let cases: [(&[u8], SettingsHeaderError); 7] = [
            // Standard base64's `+` and `/` are not base64url.
            (b"AAMAAABk+AQC", SettingsHeaderError::BadBase64 { at: 8 }),
            (b"AAMA/ABk", SettingsHeaderError::BadBase64 { at: 4 }),
            (b"AAM AAAB", SettingsHeaderError::BadBase64 { at: 3 }),
            // Five characters: no base64 text is one past a multiple of four.
            (b"AAMAA", SettingsHeaderError::BadBase64 { at: 4 }),
            // Leftover bits not zero: the last `B` ends in a set bit past the fifth byte.
            (b"AAMAAAB", SettingsHeaderError::BadBase64 { at: 6 }),
            // Four bytes: not a multiple of six.
            (b"AAMAAA", SettingsHeaderError::PartialSetting { len: 4 }),
            // Padding in the middle.
            (b"AA==AAAA", SettingsHeaderError::BadBase64 { at: 2 }),
        ];
        for (value, error) in cases {
            assert_eq!(
                decode_settings_header(value, &mut out),
                Err(error),
                "{}",
                String::from_utf8_lossy(value)
            );
            assert!(!error.reason().is_empty());
        }
        let long = vec![b'A'; MAX_SETTINGS_HEADER + 4];
        assert_eq!(
            decode_settings_header(&long, &mut out),
            Err(SettingsHeaderError::TooLong {
                len: MAX_SETTINGS_HEADER + 4
            })
        );
    }

    #[test]
    fn any_bytes_decode_or_fail_without_panicking() {
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut out = Vec::new();
        let alphabet = b"AZaz09-_=+/ \x00\xff";
        for _ in 0..20_000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let len = (state % 40) as usize;
            let value: Vec<u8> = (0..len)
                .map(|k| alphabet[((state >> (k % 60)) as usize + k) % alphabet.len()])
                .collect();
            if let Ok(s) = decode_settings_header(&value, &mut out) {
                assert_eq!(s.as_bytes().len() % 6, 0);
            }
        }
    }
}
