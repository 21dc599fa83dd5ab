//! Splits a filter expression into tokens the way libpcap's scanner does: at each point
//! the longest match wins among numbers, dotted IPv4 addresses, IPv6 addresses, MAC
//! addresses and names, ties going to the first of those (so `80` is a number, `10.1.2.3`
//! an address, but `1.2.3.4and` and `80-90` are names). Keywords are case-sensitive.

use std::net::Ipv6Addr;

use super::names::{self, Keyword};
use super::FilterError;

/// What a token is.
#[derive(Clone, Debug, PartialEq)]
pub(super) enum TokenKind {
    /// A number: decimal, `0x` hexadecimal, `0` octal, or a named constant (`tcp-syn`).
    Num(u32),
    /// A dotted IPv4 address or prefix of one (2 to 4 parts: `10.1`, `192.168.0.1`).
    DottedV4(String),
    Ipv6(Ipv6Addr),
    Mac([u8; 6]),
    /// Any other word: a host, port, protocol or network name (a leading `\` removed).
    Name(String),
    Keyword(Keyword),
    LParen,
    RParen,
    LBracket,
    RBracket,
    Colon,
    Slash,
    /// `!` (negation).
    Bang,
    /// `&&`.
    AndAnd,
    /// `||`.
    OrOr,
    Plus,
    Minus,
    Star,
    Percent,
    Amp,
    Pipe,
    Caret,
    ShiftLeft,
    ShiftRight,
    /// `=` or `==`.
    Eq,
    NotEq,
    Less,
    LessEq,
    Greater,
    GreaterEq,
    End,
}

/// A token and where it is in the expression.
#[derive(Clone, Debug)]
pub(super) struct Token {
    pub kind: TokenKind,
    /// Byte offset of the token in the expression.
    pub start: usize,
    pub text: String,
}

/// Characters a name may contain (libpcap: `[A-Za-z0-9]([-_.A-Za-z0-9]*[.A-Za-z0-9])?`).
fn is_name_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.')
}

/// Splits `expr` into tokens, ending with [`TokenKind::End`].
pub(super) fn tokenize(expr: &str) -> Result<Vec<Token>, FilterError> {
    let bytes = expr.as_bytes();
    let mut tokens = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        let c = bytes[at];
        if c.is_ascii_whitespace() {
            at += 1;
            continue;
        }
        let (kind, len) = if c.is_ascii_alphanumeric() || c == b':' {
            match word_token(expr, at)? {
                Some(found) => found,
                None => punctuation(bytes, at).ok_or_else(|| unexpected(expr, at))?,
            }
        } else if c == b'\\' {
            // An escaped word is always a name: `\tcp` lets `proto \tcp` name a protocol.
            let len = 1 + bytes[at + 1..]
                .iter()
                .take_while(|&&b| !matches!(b, b' ' | b'!' | b'(' | b')' | b'\n' | b'\t'))
                .count();
            if len == 1 {
                return Err(unexpected(expr, at));
            }
            (TokenKind::Name(expr[at + 1..at + len].to_string()), len)
        } else {
            punctuation(bytes, at).ok_or_else(|| unexpected(expr, at))?
        };
        tokens.push(Token {
            kind,
            start: at,
            text: expr[at..at + len].to_string(),
        });
        at += len;
    }
    tokens.push(Token {
        kind: TokenKind::End,
        start: expr.len(),
        text: String::new(),
    });
    Ok(tokens)
}

fn unexpected(expr: &str, at: usize) -> FilterError {
    let ch = expr[at..].chars().next().unwrap_or(' ');
    FilterError::at_offset(format!("unexpected character '{ch}'"), expr, at)
}

/// Operators and brackets, longest first.
fn punctuation(bytes: &[u8], at: usize) -> Option<(TokenKind, usize)> {
    let two = bytes.get(at..at + 2);
    let double = match two {
        Some(b"&&") => Some(TokenKind::AndAnd),
        Some(b"||") => Some(TokenKind::OrOr),
        Some(b"==") => Some(TokenKind::Eq),
        Some(b"!=") => Some(TokenKind::NotEq),
        Some(b"<=") => Some(TokenKind::LessEq),
        Some(b">=") => Some(TokenKind::GreaterEq),
        Some(b"<<") => Some(TokenKind::ShiftLeft),
        Some(b">>") => Some(TokenKind::ShiftRight),
        _ => None,
    };
    if let Some(kind) = double {
        return Some((kind, 2));
    }
    let single = match bytes.get(at)? {
        b'(' => TokenKind::LParen,
        b')' => TokenKind::RParen,
        b'[' => TokenKind::LBracket,
        b']' => TokenKind::RBracket,
        b':' => TokenKind::Colon,
        b'/' => TokenKind::Slash,
        b'!' => TokenKind::Bang,
        b'+' => TokenKind::Plus,
        b'-' => TokenKind::Minus,
        b'*' => TokenKind::Star,
        b'%' => TokenKind::Percent,
        b'&' => TokenKind::Amp,
        b'|' => TokenKind::Pipe,
        b'^' => TokenKind::Caret,
        b'=' => TokenKind::Eq,
        b'<' => TokenKind::Less,
        b'>' => TokenKind::Greater,
        _ => return None,
    };
    Some((single, 1))
}

/// The longest word-like token at `at`: number, dotted address, IPv6 or MAC address,
/// keyword, named constant or name. `None` if nothing word-like starts here (a lone `:`).
fn word_token(expr: &str, at: usize) -> Result<Option<(TokenKind, usize)>, FilterError> {
    let bytes = &expr.as_bytes()[at..];
    // A name ends with a letter, digit or dot, never with `-` or `_`.
    let mut name_len = bytes.iter().take_while(|&&b| is_name_char(b)).count();
    while name_len > 0 && matches!(bytes[name_len - 1], b'-' | b'_') {
        name_len -= 1;
    }
    if bytes.first().is_some_and(|b| !b.is_ascii_alphanumeric()) {
        name_len = 0;
    }
    let number_len = number_prefix_len(bytes);
    let dotted_len = dotted_v4_len(bytes);
    let (ipv6, ipv6_len) = ipv6_prefix(bytes);
    let (mac, mac_len) = mac_prefix(bytes);

    // Longest wins; on a tie the earlier kind in this order wins (libpcap's rule order:
    // `0200.0000.0001` is a MAC address, not a dotted IPv4 prefix).
    let best = [number_len, mac_len, dotted_len, ipv6_len, name_len]
        .into_iter()
        .max()
        .unwrap_or(0);
    if best == 0 {
        return Ok(None);
    }
    let text = &expr[at..at + best];
    let kind = if number_len == best {
        TokenKind::Num(parse_number(text).map_err(|m| FilterError::at_offset(m, expr, at))?)
    } else if let (Some(mac), true) = (mac, mac_len == best) {
        TokenKind::Mac(mac)
    } else if dotted_len == best {
        TokenKind::DottedV4(text.to_string())
    } else if let (Some(addr), true) = (ipv6, ipv6_len == best) {
        TokenKind::Ipv6(addr)
    } else if let Some(keyword) = names::keyword(text) {
        TokenKind::Keyword(keyword)
    } else if let Some(value) = names::named_constant(text) {
        TokenKind::Num(value)
    } else {
        TokenKind::Name(text.to_string())
    };
    Ok(Some((kind, best)))
}

/// Length of a number at the start: `0x` + hex digits, or decimal/octal digits.
fn number_prefix_len(bytes: &[u8]) -> usize {
    if bytes.len() > 2 && bytes[0] == b'0' && matches!(bytes[1], b'x' | b'X') {
        let hex = bytes[2..]
            .iter()
            .take_while(|b| b.is_ascii_hexdigit())
            .count();
        if hex > 0 {
            return 2 + hex;
        }
    }
    bytes.iter().take_while(|b| b.is_ascii_digit()).count()
}

/// A number token's value (libpcap: a leading 0 means octal).
fn parse_number(text: &str) -> Result<u32, String> {
    let (digits, radix) = if let Some(hex) = text.strip_prefix("0x").or(text.strip_prefix("0X")) {
        (hex, 16)
    } else if text.len() > 1 && text.starts_with('0') {
        if text.bytes().any(|b| b > b'7') {
            return Err(format!("number {text} contains a non-octal digit"));
        }
        (&text[1..], 8)
    } else {
        (text, 10)
    };
    u32::from_str_radix(digits, radix).map_err(|_| format!("number {text} does not fit in 32 bits"))
}

/// Length of `N.N`, `N.N.N` or `N.N.N.N` (decimal parts) at the start, else 0.
fn dotted_v4_len(bytes: &[u8]) -> usize {
    let mut len = 0;
    let mut parts = 0;
    loop {
        let digits = bytes[len..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count();
        if digits == 0 {
            break;
        }
        len += digits;
        parts += 1;
        if parts == 4
            || bytes.get(len) != Some(&b'.')
            || !bytes.get(len + 1).is_some_and(u8::is_ascii_digit)
        {
            break;
        }
        len += 1;
    }
    if parts >= 2 {
        len
    } else {
        0
    }
}

/// The longest prefix made of hex digits, `:` and `.` that contains a `:`, with the
/// address it spells if it is a valid IPv6 address.
fn ipv6_prefix(bytes: &[u8]) -> (Option<Ipv6Addr>, usize) {
    let len = bytes
        .iter()
        .take_while(|&&b| b.is_ascii_hexdigit() || b == b':' || b == b'.')
        .count();
    let run = &bytes[..len];
    if !run.contains(&b':') || len < 2 {
        return (None, 0);
    }
    // A trailing dot belongs to what follows (like a sentence end), not to the address.
    for end in (2..=len).rev() {
        if let Some(addr) = std::str::from_utf8(&run[..end])
            .ok()
            .and_then(|s| s.parse::<Ipv6Addr>().ok())
        {
            return (Some(addr), end);
        }
    }
    (None, 0)
}

/// A MAC address at the start: six groups of 1-2 hex digits separated by `:`, `-` or
/// `.`, or three groups of 4 hex digits separated by `.` (`aabb.ccdd.eeff`).
fn mac_prefix(bytes: &[u8]) -> (Option<[u8; 6]>, usize) {
    let hex_run = |from: usize, max: usize| {
        bytes[from.min(bytes.len())..]
            .iter()
            .take(max)
            .take_while(|b| b.is_ascii_hexdigit())
            .count()
    };
    let hex_value = |from: usize, len: usize| {
        std::str::from_utf8(&bytes[from..from + len])
            .ok()
            .and_then(|s| u16::from_str_radix(s, 16).ok())
    };
    // Three dotted groups of four.
    let mut at = 0;
    let mut words = [0u16; 3];
    let mut ok = true;
    for (i, word) in words.iter_mut().enumerate() {
        if i > 0 {
            if bytes.get(at) != Some(&b'.') {
                ok = false;
                break;
            }
            at += 1;
        }
        if hex_run(at, 4) != 4 || hex_run(at, 5) != 4 {
            ok = false;
            break;
        }
        *word = hex_value(at, 4).unwrap_or(0);
        at += 4;
    }
    if ok {
        let mut mac = [0u8; 6];
        for (i, word) in words.iter().enumerate() {
            mac[2 * i..2 * i + 2].copy_from_slice(&word.to_be_bytes());
        }
        return (Some(mac), at);
    }
    // Six groups of one or two.
    for separator in [b':', b'-', b'.'] {
        let mut at = 0;
        let mut mac = [0u8; 6];
        let mut ok = true;
        for (i, byte) in mac.iter_mut().enumerate() {
            if i > 0 {
                if bytes.get(at) != Some(&separator) {
                    ok = false;
                    break;
                }
                at += 1;
            }
            let digits = hex_run(at, 2);
            if digits == 0 {
                ok = false;
                break;
            }
            *byte = hex_value(at, digits).unwrap_or(0) as u8;
            at += digits;
        }
        if ok && !bytes.get(at).is_some_and(u8::is_ascii_hexdigit) {
            return (Some(mac), at);
        }
    }
    (None, 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(expr: &str) -> Vec<TokenKind> {
        tokenize(expr)
            .expect("tokenizes")
            .into_iter()
            .map(|t| t.kind)
            .collect()
    }

    #[test]
    fn longest_match_decides_between_numbers_addresses_and_names() {
        use TokenKind::*;
        assert_eq!(kinds("80"), vec![Num(80), End]);
        assert_eq!(kinds("10.1.2.3"), vec![DottedV4("10.1.2.3".into()), End]);
        assert_eq!(kinds("1.2.3.4and"), vec![Name("1.2.3.4and".into()), End]);
        assert_eq!(kinds("80-90"), vec![Name("80-90".into()), End]);
        assert_eq!(
            kinds("fd00::1"),
            vec![Ipv6("fd00::1".parse().unwrap()), End]
        );
        assert_eq!(kinds("::1"), vec![Ipv6("::1".parse().unwrap()), End]);
        assert_eq!(
            kinds("aa:bb:cc:dd:ee:ff"),
            vec![Mac([0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff]), End]
        );
        assert_eq!(
            kinds("aabb.ccdd.eeff"),
            vec![Mac([0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff]), End]
        );
    }

    #[test]
    fn numbers_follow_c_conventions() {
        assert_eq!(
            kinds("0x10 010 10"),
            vec![
                TokenKind::Num(16),
                TokenKind::Num(8),
                TokenKind::Num(10),
                TokenKind::End
            ]
        );
        assert!(tokenize("080").is_err());
        assert!(tokenize("4294967296").is_err());
    }

    #[test]
    fn named_constants_and_keywords_are_recognised_whole() {
        use TokenKind::*;
        assert_eq!(kinds("tcp-syn|tcp-ack"), vec![Num(2), Pipe, Num(16), End]);
        assert_eq!(
            kinds("tcp[13]"),
            vec![
                Keyword(super::Keyword::Tcp),
                LBracket,
                Num(13),
                RBracket,
                End
            ]
        );
        assert_eq!(kinds("TCP"), vec![Name("TCP".into()), End]);
        assert_eq!(kinds("\\tcp"), vec![Name("tcp".into()), End]);
    }

    #[test]
    fn operators_take_two_characters_when_they_can() {
        use TokenKind::*;
        assert_eq!(
            kinds("a&&b||!c"),
            vec![
                Name("a".into()),
                AndAnd,
                Name("b".into()),
                OrOr,
                Bang,
                Name("c".into()),
                End
            ]
        );
        assert_eq!(
            kinds("<<>>==!=<=>=<>"),
            vec![ShiftLeft, ShiftRight, Eq, NotEq, LessEq, GreaterEq, Less, Greater, End]
        );
    }

    #[test]
    fn stray_characters_are_errors_naming_the_place() {
        let err = tokenize("tcp $ udp").unwrap_err().to_string();
        assert!(err.contains("'$'") && err.contains("character 5"), "{err}");
    }
}
