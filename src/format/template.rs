//! Parsing a format string into a [`Template`]: a vector of ops, built once at
//! start-up. Every error of the format language is found here, before any packet.

use std::fmt;
use std::sync::Mutex;

use regex::bytes::{CaptureLocations, Regex, RegexBuilder};

use super::keywords::{is_name_char, Dir, Key, Param, When, Word, BREAK, KEYWORDS};
use super::strftime::TimeFormat;
use crate::exchange::{Needs, Retention};

/// Compiled-program size limit for user regexes (bytes): big enough for any sane
/// pattern, small enough that a pathological one fails at start-up.
const REGEX_SIZE_LIMIT: usize = 1 << 20;
/// Lazy DFA cache per regex (bytes); matching stays linear in the input.
const REGEX_DFA_LIMIT: usize = 1 << 21;
/// Deepest nesting of groups/repetitions accepted in a user regex.
const REGEX_NEST_LIMIT: u32 = 64;

/// How much of the request `%tls.*` needs (SPEC §5: the first ≥1024 bytes).
pub const TLS_PREFIX: usize = 1024;

/// An error in the format string.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FormatError {
    /// An unknown keyword, or one missing its required parameter. `text` runs from
    /// `%` up to the first space or `(` (or the rest of the format); `hint` says what
    /// was probably meant.
    UnknownKeyword { text: String, hint: Option<String> },
    /// A regex parameter that does not compile; `message` is one line.
    InvalidRegex { keyword: String, message: String },
}

impl fmt::Display for FormatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FormatError::UnknownKeyword { text, hint } => {
                write!(f, "unknown keyword '{text}'")?;
                match hint {
                    Some(hint) => write!(f, "; {hint}"),
                    None => Ok(()),
                }
            }
            FormatError::InvalidRegex { keyword, message } => {
                write!(f, "invalid regular expression in '{keyword}': {message}")
            }
        }
    }
}

impl std::error::Error for FormatError {}

/// A compiled user regex and the reusable capture slots for it.
#[derive(Debug)]
pub(crate) struct Matcher {
    pub(crate) regex: Regex,
    /// Index of the highest-numbered group (0 when the pattern has none).
    pub(crate) group: usize,
    /// Reused between records so that matching does not allocate; a `Mutex` keeps
    /// the template `Sync` (uncontended in practice).
    pub(crate) slots: Mutex<CaptureLocations>,
}

impl Matcher {
    fn new(pattern: &str) -> Result<Matcher, regex::Error> {
        let regex = RegexBuilder::new(pattern)
            // SPEC §5: case-insensitive, `.` matches newline, `^`/`$` at lines.
            .case_insensitive(true)
            .dot_matches_new_line(true)
            .multi_line(true)
            // Lines end at `\r\n` too, as in the Perl-style engines justniffer used.
            .crlf(true)
            // Bytes, not text: `\w`, `\s`, `[[:alpha:]]` are ASCII, as in the C locale.
            .unicode(false)
            .size_limit(REGEX_SIZE_LIMIT)
            .dfa_size_limit(REGEX_DFA_LIMIT)
            .nest_limit(REGEX_NEST_LIMIT)
            .build()?;
        let group = regex.captures_len().saturating_sub(1);
        let slots = Mutex::new(regex.capture_locations());
        Ok(Matcher {
            regex,
            group,
            slots,
        })
    }

    /// The highest-numbered group of the first match (the whole match if the
    /// pattern has no group); `None` if there is no match, the group did not take
    /// part, or it is empty.
    pub(crate) fn find<'h>(&self, haystack: &'h [u8]) -> Option<&'h [u8]> {
        let span = if self.group == 0 {
            let m = self.regex.find(haystack)?;
            (m.start(), m.end())
        } else {
            match self.slots.try_lock() {
                Ok(mut slots) => self.group_span(&mut slots, haystack)?,
                // Poisoned or (never in practice) busy: fresh slots.
                Err(_) => self.group_span(&mut self.regex.capture_locations(), haystack)?,
            }
        };
        let found = haystack.get(span.0..span.1)?;
        (!found.is_empty()).then_some(found)
    }

    fn group_span(&self, slots: &mut CaptureLocations, haystack: &[u8]) -> Option<(usize, usize)> {
        self.regex.captures_read(slots, haystack)?;
        slots.get(self.group)
    }
}

/// Longest literal stored as [`Op::ShortLiteral`].
pub(crate) const SHORT_LITERAL: usize = 16;

/// The op printing `text`.
fn literal_op(text: Vec<u8>) -> Op {
    if text.len() <= SHORT_LITERAL {
        let mut padded = [0; SHORT_LITERAL];
        padded[..text.len()].copy_from_slice(&text);
        Op::ShortLiteral(padded, text.len() as u8)
    } else {
        Op::Literal(text.into())
    }
}

/// One step of rendering.
#[derive(Debug)]
pub(crate) enum Op {
    /// Literal text (adjacent literals, `%tab`, `%newline` and `%%` merged).
    Literal(Box<[u8]>),
    /// Literal text of at most [`SHORT_LITERAL`] bytes (most separators), padded so
    /// that rendering copies a fixed-size array.
    ShortLiteral([u8; SHORT_LITERAL], u8),
    /// A value with no parameter or an optional not-found override.
    Value {
        key: Key,
        not_found: Option<Box<[u8]>>,
    },
    Timestamp {
        when: When,
        format: TimeFormat,
    },
    /// A word of a first line, by the default rule or a user regex.
    Word {
        dir: Dir,
        word: Word,
        regex: Option<Matcher>,
    },
    HeaderValue {
        dir: Dir,
        name: Box<[u8]>,
    },
    /// `*.grep` (whole phase) and `*.header.grep` (header block).
    Grep {
        dir: Dir,
        header: bool,
        matcher: Matcher,
    },
    /// `%python(MODULE[:CLASS])`: the text a handler returned for this record, passed to
    /// [`Template::render_with`] as its `python[slot]` (`slot` counts the `%python` ops).
    Python {
        handler: Box<str>,
        slot: usize,
    },
}

/// A parsed format: what to print for each exchange.
#[derive(Debug)]
pub struct Template {
    pub(crate) ops: Vec<Op>,
    needs: Needs,
    python: bool,
    /// Per direction (request, response), how many first-line words the word keywords
    /// read without a regex (0 to 3): what a structured output splits the line into.
    pub(crate) words: [usize; 2],
}

impl Template {
    /// Parses a format string (SPEC §5).
    pub fn parse(format: &str) -> Result<Template, FormatError> {
        let bytes = format.as_bytes();
        let closes = matching_parens(bytes);
        let mut ops = Vec::new();
        let mut literal = Vec::new();
        let mut python_slots = 0;
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] != b'%' {
                literal.push(bytes[i]);
                i += 1;
                continue;
            }
            if bytes.get(i + 1) == Some(&BREAK) {
                i += 2;
                continue;
            }
            let (key, name_end, param) =
                match_keyword(bytes, &closes, i + 1).ok_or_else(|| unknown_keyword(format, i))?;
            let next = param.map_or(name_end, |(_, close)| close + 1);
            let param_text = param.map(|(open, close)| &format[open + 1..close]);
            if let Key::Constant(text) = key {
                literal.extend_from_slice(text.as_bytes());
            } else {
                if !literal.is_empty() {
                    ops.push(literal_op(std::mem::take(&mut literal)));
                }
                let mut op = build_op(key, param_text, &format[i..next])?;
                if let Op::Python { slot, .. } = &mut op {
                    *slot = python_slots;
                    python_slots += 1;
                }
                ops.push(op);
            }
            i = next;
        }
        if !literal.is_empty() {
            ops.push(literal_op(literal));
        }
        let needs = needs_of(&ops);
        let python = ops.iter().any(|op| matches!(op, Op::Python { .. }));
        let words = words_of(&ops);
        Ok(Template {
            ops,
            needs,
            python,
            words,
        })
    }

    /// What the exchange layer must keep for this template, per direction.
    pub fn needs(&self) -> Needs {
        self.needs
    }

    /// Whether the format contains `%python(...)`.
    pub fn uses_python(&self) -> bool {
        self.python
    }

    /// The names of the format's keywords, in order (fixed text left out), as the
    /// keyword table spells them: what a structured output renders for this format.
    pub fn keyword_names(&self) -> Vec<&'static str> {
        self.ops
            .iter()
            .filter_map(|op| {
                let key = match op {
                    Op::Literal(_) | Op::ShortLiteral(..) => return None,
                    Op::Value { key, .. } => *key,
                    Op::Timestamp { when, .. } => Key::Timestamp(*when),
                    Op::Word { dir, word, .. } => Key::Word(*dir, *word),
                    Op::HeaderValue { dir, .. } => Key::HeaderValue(*dir),
                    Op::Grep { dir, header, .. } => match header {
                        true => Key::HeaderGrep(*dir),
                        false => Key::Grep(*dir),
                    },
                    Op::Python { .. } => Key::Python,
                };
                KEYWORDS.iter().find(|kw| kw.key == key).map(|kw| kw.name)
            })
            .collect()
    }

    /// The `MODULE[:CLASS]` parameters of the `%python(...)` keywords, in order.
    pub fn python_handlers(&self) -> impl Iterator<Item = &str> {
        self.ops.iter().filter_map(|op| match op {
            Op::Python { handler, .. } => Some(&**handler),
            _ => None,
        })
    }
}

/// The longest keyword at `start` (just after a `%`) not followed by a name
/// character, skipping any that requires a parameter it does not have. Returns the
/// key, where its name ends, and the span of its parameter (`(` and `)` indices).
#[allow(clippy::type_complexity)]
fn match_keyword(
    bytes: &[u8],
    closes: &[usize],
    start: usize,
) -> Option<(Key, usize, Option<(usize, usize)>)> {
    let rest = &bytes[start..];
    let mut best: Option<(Key, usize, Option<(usize, usize)>)> = None;
    for kw in KEYWORDS {
        let name = kw.name.as_bytes();
        if !rest.starts_with(name) || rest.get(name.len()).is_some_and(|&b| is_name_char(b)) {
            continue;
        }
        let end = start + name.len();
        if best.is_some_and(|(_, best_end, _)| best_end >= end) {
            continue;
        }
        let param = match kw.key.param() {
            Param::None => None,
            _ => param_span(bytes, closes, end),
        };
        if kw.key.param() == Param::Required && param.is_none() {
            continue;
        }
        best = Some((kw.key, end, param));
    }
    best
}

/// For every `(` of the format, the index of its matching `)` (nesting counted, no
/// escapes), or `NO_MATCH` when it is never closed; computed once per format so
/// that parsing stays linear however many `%` and `(` it holds.
fn matching_parens(bytes: &[u8]) -> Vec<usize> {
    let mut closes = vec![NO_MATCH; bytes.len()];
    let mut open = Vec::new();
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            b'(' => open.push(i),
            b')' => {
                if let Some(o) = open.pop() {
                    closes[o] = i;
                }
            }
            _ => {}
        }
    }
    closes
}

const NO_MATCH: usize = usize::MAX;

/// If a parenthesised parameter starts at `open`, the indices of its `(` and its
/// matching `)`. An unclosed `(` is no parameter.
fn param_span(bytes: &[u8], closes: &[usize], open: usize) -> Option<(usize, usize)> {
    if bytes.get(open) != Some(&b'(') {
        return None;
    }
    closes
        .get(open)
        .filter(|&&close| close != NO_MATCH)
        .map(|&close| (open, close))
}

/// The text an unknown-keyword error quotes: from `%` to the first space or `(`,
/// or to the end of the format.
fn error_text(format: &str, percent: usize) -> String {
    let rest = &format[percent..];
    let end = rest.find([' ', '(']).unwrap_or(rest.len());
    rest[..end].to_string()
}

/// The error for the `%` at `percent`, with a hint at what was meant.
fn unknown_keyword(format: &str, percent: usize) -> FormatError {
    let text = error_text(format, percent);
    let hint = keyword_hint(&format[percent + 1..], &text[1..]);
    FormatError::UnknownKeyword { text, hint }
}

/// What an unknown keyword probably meant: `after` is the format after the `%`,
/// `written` the name as the error quotes it.
fn keyword_hint(after: &str, written: &str) -> Option<String> {
    if written.is_empty() {
        return Some("write %% for a percent sign".to_string());
    }
    // A keyword that needs a parameter and has none.
    if let Some(kw) = KEYWORDS
        .iter()
        .find(|kw| kw.name == written && kw.key.param() == Param::Required)
    {
        let unclosed = after[written.len()..].starts_with('(');
        return Some(if unclosed {
            format!(
                "it takes a parameter, {}, and the '(' after it is never closed",
                kw.usage
            )
        } else {
            format!("it takes a parameter: {}", kw.usage)
        });
    }
    let lower = written.to_ascii_lowercase();
    // A misspelt name; a header the table does not name is looked up by value.
    let budget = if lower.len() >= 8 { 2 } else { 1 };
    let nearest = KEYWORDS
        .iter()
        .map(|kw| (edit_distance(&lower, kw.name, budget), kw))
        .filter(|(d, _)| *d <= budget)
        .min_by_key(|(d, _)| *d)
        .map(|(_, kw)| kw.name);
    for dir in ["request", "response"] {
        let prefix = format!("{dir}.header.");
        if let Some(header) = lower.strip_prefix(&prefix) {
            if !header.is_empty()
                && !header.contains('.')
                && !nearest.is_some_and(|name| name.starts_with(&prefix))
            {
                return Some(format!("did you mean %{dir}.header.value({header})?"));
            }
        }
    }
    if let Some(name) = nearest {
        return Some(format!("did you mean %{name}?"));
    }
    // A keyword followed by name characters: `%-` separates them.
    KEYWORDS
        .iter()
        .filter(|kw| written.starts_with(kw.name) && written.len() > kw.name.len())
        .max_by_key(|kw| kw.name.len())
        .map(|kw| {
            let (name, rest) = written.split_at(kw.name.len());
            format!("did you mean %{name}%-{rest}?")
        })
}

/// The Damerau–Levenshtein distance (optimal string alignment: insertions, deletions,
/// substitutions, transpositions of neighbours) between two ASCII names; any value
/// above `limit` is reported as `limit + 1`.
pub fn edit_distance(a: &str, b: &str, limit: usize) -> usize {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len().abs_diff(b.len()) > limit {
        return limit + 1;
    }
    // Three rows: two back (for transpositions), previous, current.
    let mut before: Vec<usize> = vec![0; b.len() + 1];
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    let mut current = vec![0; b.len() + 1];
    for i in 1..=a.len() {
        current[0] = i;
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut d = (previous[j] + 1)
                .min(current[j - 1] + 1)
                .min(previous[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d = d.min(before[j - 2] + 1);
            }
            current[j] = d;
        }
        std::mem::swap(&mut before, &mut previous);
        std::mem::swap(&mut previous, &mut current);
    }
    previous[b.len()].min(limit + 1)
}

/// A regex error on one line: the `regex` crate's syntax errors span several lines
/// (the pattern, a caret under the problem, the message).
fn regex_error_line(e: &regex::Error) -> String {
    let text = e.to_string();
    let lines: Vec<&str> = text.lines().collect();
    let Some(message) = lines.iter().rev().find_map(|l| l.strip_prefix("error: ")) else {
        // E.g. "Compiled regex exceeds size limit of 1048576 bytes."
        let line = text.split_whitespace().collect::<Vec<_>>().join(" ");
        let line = line.trim_end_matches('.');
        let mut chars = line.chars();
        return chars.next().map_or_else(String::new, |first| {
            first.to_lowercase().chain(chars).collect()
        });
    };
    // One pattern line: `    PATTERN`, then `    ` and spaces up to a caret.
    match lines.as_slice() {
        [_, _, caret, _] if caret.trim().starts_with('^') => {
            let column = caret.find('^').unwrap_or(4).saturating_sub(4) + 1;
            format!("{message} (character {column})")
        }
        _ => message.to_string(),
    }
}

fn build_op(key: Key, param: Option<&str>, written: &str) -> Result<Op, FormatError> {
    let regex = |pattern: &str| {
        Matcher::new(pattern).map_err(|e| FormatError::InvalidRegex {
            keyword: written.to_string(),
            message: regex_error_line(&e),
        })
    };
    Ok(match key {
        Key::Timestamp(when) => {
            let format = param.map_or_else(TimeFormat::default_format, TimeFormat::parse);
            Op::Timestamp { when, format }
        }
        Key::Word(dir, word) => Op::Word {
            dir,
            word,
            regex: param.map(regex).transpose()?,
        },
        Key::HeaderValue(dir) => Op::HeaderValue {
            dir,
            name: param.unwrap_or_default().as_bytes().into(),
        },
        Key::Grep(dir) => Op::Grep {
            dir,
            header: false,
            matcher: regex(param.unwrap_or_default())?,
        },
        Key::HeaderGrep(dir) => Op::Grep {
            dir,
            header: true,
            matcher: regex(param.unwrap_or_default())?,
        },
        Key::Python => Op::Python {
            handler: param.unwrap_or_default().into(),
            slot: 0,
        },
        _ => Op::Value {
            key,
            not_found: param.map(|p| p.as_bytes().into()),
        },
    })
}

/// Per direction, one past the highest first-line word a word op reads by the default
/// rule.
fn words_of(ops: &[Op]) -> [usize; 2] {
    let mut words = [0; 2];
    for op in ops {
        if let Op::Word {
            dir,
            word,
            regex: None,
        } = op
        {
            let count = match word {
                Word::First => 1,
                Word::Second => 2,
                Word::Third => 3,
                Word::Rest => continue,
            };
            let i = usize::from(*dir == Dir::Response);
            words[i] = words[i].max(count);
        }
    }
    words
}

/// What the ops read of each direction.
fn needs_of(ops: &[Op]) -> Needs {
    let mut needs = Needs::default();
    for op in ops {
        let (dir, all, header, prefix) = match op {
            Op::Value { key, .. } => match *key {
                Key::Payload(dir) | Key::Body(dir) => (dir, true, false, 0),
                Key::Line(dir) | Key::HeaderBlock(dir) | Key::Header(dir, _) => {
                    (dir, false, true, 0)
                }
                Key::TlsSni | Key::TlsVersion => (Dir::Request, false, false, TLS_PREFIX),
                _ => continue,
            },
            Op::Word { dir, .. } | Op::HeaderValue { dir, .. } => (*dir, false, true, 0),
            Op::Grep { dir, header, .. } => (*dir, !header, *header, 0),
            Op::Literal(_) | Op::ShortLiteral(..) | Op::Timestamp { .. } | Op::Python { .. } => {
                continue
            }
        };
        let r: &mut Retention = match dir {
            Dir::Request => &mut needs.request,
            Dir::Response => &mut needs.response,
        };
        r.all |= all;
        r.header |= header;
        r.prefix = r.prefix.max(prefix);
    }
    needs
}
