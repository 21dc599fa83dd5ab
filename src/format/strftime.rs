//! Timestamp formatting for `%*.timestamp(FORMAT)`: a strftime of our own, as glibc
//! prints it in the C locale, over a local time computed with chrono (`TZ`).
//!
//! The format is parsed once into items, so rendering cannot fail and never panics
//! (chrono's own `Display` panics on invalid items). Conversions glibc does not know
//! are copied as they are written, as glibc does. `%Z` prints `UTC` for a zero
//! offset and the numeric form (`+01`, `-0330`) otherwise, because chrono does not
//! expose zone abbreviations.

use std::cell::Cell;
use std::sync::Mutex;

use chrono::{DateTime, Datelike, Local, Timelike};

use crate::time::Timestamp;

/// The largest field width honoured (`%5000Y` pads to this), so that a format
/// cannot make one record arbitrarily large.
const MAX_WIDTH: usize = 1024;

/// The format used when none is given; written exactly so, it also gets the
/// microseconds appended (SPEC §5).
pub const DEFAULT_TIME_FORMAT: &str = "%Y-%m-%d %T";

const DAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];
const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// How a conversion pads (glibc flags `_`, `-`, `0`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Pad {
    /// The conversion's own default (zeros for most numbers, spaces for `%e`...).
    Default,
    Space,
    Zero,
    None,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Spec {
    conv: u8,
    pad: Pad,
    width: Option<usize>,
    /// `^`: upper-case the result.
    upper: bool,
    /// `#`: swap case (upper-case names, lower-case `%p`/`%Z`).
    swap: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Item {
    Literal(Box<[u8]>),
    Spec(Spec),
}

/// A parsed strftime format.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TimeFormat {
    items: Vec<Item>,
    /// Append `.uuuuuu` (the default format only).
    micros: bool,
    /// The text of the last second rendered: consecutive records mostly share it.
    last: LastSecond,
}

/// The rendered text of one second (everything but the microseconds), behind a lock
/// so that a template stays `Sync`; uncontended, it costs one atomic operation.
#[derive(Debug, Default)]
struct LastSecond(Mutex<Option<(i64, Vec<u8>)>>);

/// A copy starts with an empty cache.
impl Clone for LastSecond {
    fn clone(&self) -> Self {
        LastSecond::default()
    }
}

/// A cache does not change what a format is.
impl PartialEq for LastSecond {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for LastSecond {}

/// Broken-down local time.
#[derive(Clone, Copy)]
struct Tm {
    epoch: i64,
    year: i32,
    month: u32,  // 1..=12
    day: u32,    // 1..=31
    hour: u32,   // 0..=23
    minute: u32, // 0..=59
    second: u32, // 0..=60
    wday: u32,   // 0 = Sunday
    yday: u32,   // 0-based
    iso_year: i32,
    iso_week: u32,
    offset: i32, // seconds east of UTC
}

thread_local! {
    /// The last second converted: a record prints several timestamps of the same
    /// second, and consecutive records mostly share it too.
    static LAST: Cell<Option<Tm>> = const { Cell::new(None) };
}

impl Tm {
    /// The local time of `epoch`, from the one-entry cache when it is the same
    /// second as the last one converted on this thread.
    fn local(epoch: i64) -> Option<Tm> {
        if let Some(tm) = LAST.get().filter(|tm| tm.epoch == epoch) {
            return Some(tm);
        }
        let tm = Self::convert(epoch)?;
        LAST.set(Some(tm));
        Some(tm)
    }

    fn convert(epoch: i64) -> Option<Tm> {
        let local = DateTime::from_timestamp(epoch, 0)?.with_timezone(&Local);
        let iso = local.iso_week();
        Some(Tm {
            epoch,
            year: local.year(),
            month: local.month(),
            day: local.day(),
            hour: local.hour(),
            minute: local.minute(),
            second: local.second(),
            wday: local.weekday().num_days_from_sunday(),
            yday: local.ordinal0(),
            iso_year: iso.year(),
            iso_week: iso.week(),
            offset: local.offset().local_minus_utc(),
        })
    }
}

impl TimeFormat {
    /// Parses a strftime format. Never fails: what is not a conversion is text.
    pub fn parse(format: &str) -> TimeFormat {
        let bytes = format.as_bytes();
        let mut items = Vec::new();
        let mut literal = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] != b'%' {
                literal.push(bytes[i]);
                i += 1;
                continue;
            }
            let percent = i;
            i += 1;
            let mut spec = Spec {
                conv: 0,
                pad: Pad::Default,
                width: None,
                upper: false,
                swap: false,
            };
            while let Some(&f) = bytes.get(i) {
                match f {
                    b'_' => spec.pad = Pad::Space,
                    b'-' => spec.pad = Pad::None,
                    b'0' => spec.pad = Pad::Zero,
                    b'^' => spec.upper = true,
                    b'#' => spec.swap = true,
                    _ => break,
                }
                i += 1;
            }
            while let Some(&d) = bytes.get(i).filter(|d| d.is_ascii_digit()) {
                let w = spec
                    .width
                    .unwrap_or(0)
                    .saturating_mul(10)
                    .saturating_add(usize::from(d - b'0'));
                spec.width = Some(w.min(MAX_WIDTH));
                i += 1;
            }
            // C-locale alternatives (`%Ey`, `%Od`) print like the plain conversion.
            if matches!(bytes.get(i), Some(b'E' | b'O')) {
                i += 1;
            }
            match bytes.get(i) {
                Some(&c) if is_conversion(c) => {
                    spec.conv = c;
                    i += 1;
                    let plain = spec.pad == Pad::Default
                        && spec.width.is_none()
                        && !spec.upper
                        && !spec.swap;
                    match composite(c) {
                        // Expanded now, so rendering `%T` needs no scratch space.
                        Some(parts) if plain => {
                            for item in TimeFormat::parse(parts).items {
                                match item {
                                    Item::Literal(text) => literal.extend_from_slice(&text),
                                    Item::Spec(part) => {
                                        flush(&mut items, &mut literal);
                                        items.push(Item::Spec(part));
                                    }
                                }
                            }
                        }
                        _ => {
                            flush(&mut items, &mut literal);
                            items.push(Item::Spec(spec));
                        }
                    }
                }
                // Unknown conversion, or `%` at the end: copied as written, padded to
                // the width like text (glibc).
                Some(_) => {
                    let end = i + utf8_len(bytes[i]).min(bytes.len() - i);
                    copy_unknown(&mut literal, &spec, &bytes[percent..end]);
                    i = end;
                }
                None => {
                    copy_unknown(&mut literal, &spec, &bytes[percent..]);
                    i = bytes.len();
                }
            }
        }
        flush(&mut items, &mut literal);
        TimeFormat {
            items,
            micros: format == DEFAULT_TIME_FORMAT,
            last: LastSecond::default(),
        }
    }

    /// The default format, `%Y-%m-%d %T` with microseconds.
    pub fn default_format() -> TimeFormat {
        Self::parse(DEFAULT_TIME_FORMAT)
    }

    /// Appends `ts` in the local time zone. Returns `false` (and writes nothing) if
    /// the time cannot be represented.
    pub fn write(&self, ts: Timestamp, out: &mut Vec<u8>) -> bool {
        let secs = ts.secs();
        let written = match self.last.0.try_lock() {
            Ok(mut last) => match &mut *last {
                Some((cached, text)) if *cached == secs => {
                    out.extend_from_slice(text);
                    true
                }
                slot => {
                    let start = out.len();
                    let ok = self.write_second(secs, out);
                    if ok {
                        let mut text = slot.take().map(|(_, t)| t).unwrap_or_default();
                        text.clear();
                        text.extend_from_slice(&out[start..]);
                        *slot = Some((secs, text));
                    }
                    ok
                }
            },
            // Poisoned or (never in practice) busy: render without the cache.
            Err(_) => self.write_second(secs, out),
        };
        if !written {
            return false;
        }
        if self.micros {
            // `.` and six digits, built in place (every record of the default format).
            let mut text = *b".000000";
            let mut v = ts.subsec_micros();
            for d in text[1..].iter_mut().rev() {
                *d = b'0' + (v % 10) as u8;
                v /= 10;
            }
            out.extend_from_slice(&text);
        }
        true
    }
}

impl TimeFormat {
    /// Appends the conversions of second `secs` (local time); `false` if it cannot be
    /// represented.
    fn write_second(&self, secs: i64, out: &mut Vec<u8>) -> bool {
        let Some(tm) = Tm::local(secs) else {
            return false;
        };
        for item in &self.items {
            match item {
                Item::Literal(text) => out.extend_from_slice(text),
                Item::Spec(spec) => write_spec(spec, &tm, out),
            }
        }
        true
    }
}

/// Appends an unknown conversion as text, padded to its width.
fn copy_unknown(literal: &mut Vec<u8>, spec: &Spec, text: &[u8]) {
    let start = literal.len();
    literal.extend_from_slice(text);
    finish_text(
        &Spec {
            upper: false,
            swap: false,
            ..*spec
        },
        literal,
        start,
        false,
    );
}

/// Moves pending literal text into an item.
fn flush(items: &mut Vec<Item>, literal: &mut Vec<u8>) {
    if !literal.is_empty() {
        items.push(Item::Literal(std::mem::take(literal).into()));
    }
}

/// Length of the UTF-8 sequence a lead byte starts (1 for anything else), so that an
/// unknown conversion is copied as a whole character.
fn utf8_len(lead: u8) -> usize {
    match lead {
        0xc0..=0xdf => 2,
        0xe0..=0xef => 3,
        0xf0..=0xf7 => 4,
        _ => 1,
    }
}

fn is_conversion(c: u8) -> bool {
    b"aAbBcCdDeFgGhHIjklmMnpPrRsStTuUVwWxXyYzZ%".contains(&c)
}

/// Appends `n` right-aligned in `width` characters filled with `fill`.
fn push_padded(out: &mut Vec<u8>, n: u64, width: usize, fill: u8) {
    let mut digits = [0u8; 20];
    let mut len = 0;
    let mut v = n;
    loop {
        digits[19 - len] = b'0' + (v % 10) as u8;
        len += 1;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    out.resize(out.len() + width.saturating_sub(len), fill);
    out.extend_from_slice(&digits[20 - len..]);
}

/// A number conversion: `natural` digits filled with `fill` unless a flag or a
/// width says otherwise (glibc: a larger width replaces the natural count; `_`
/// fills with spaces; `-` drops the natural padding but still pads to an explicit
/// width, with spaces). A sign goes before zeros and after spaces.
fn write_number(spec: &Spec, out: &mut Vec<u8>, n: i64, natural: usize, fill: u8) {
    let wide = spec.width.unwrap_or(0).max(natural);
    let (width, fill) = match spec.pad {
        Pad::Default => (wide, fill),
        Pad::Zero => (wide, b'0'),
        Pad::Space => (wide, b' '),
        Pad::None => (spec.width.unwrap_or(0), b' '),
    };
    if n >= 0 {
        push_padded(out, n.unsigned_abs(), width, fill);
        return;
    }
    let digits = {
        let mut len = 1;
        let mut v = n.unsigned_abs();
        while v >= 10 {
            v /= 10;
            len += 1;
        }
        len
    };
    if fill == b' ' {
        out.resize(out.len() + width.saturating_sub(digits + 1), b' ');
        out.push(b'-');
        push_padded(out, n.unsigned_abs(), 0, fill);
    } else {
        out.push(b'-');
        push_padded(out, n.unsigned_abs(), width.saturating_sub(1), fill);
    }
}

/// Pads and cases the text written since `start`: left-padded to the width
/// (spaces, or zeros with `0`, whatever other flag is given); `^` upper-cases; `#`
/// upper-cases names but lower-cases `%p` and `%Z` (`lower_on_swap`).
fn finish_text(spec: &Spec, out: &mut Vec<u8>, start: usize, lower_on_swap: bool) {
    let tail = &mut out[start..];
    if spec.swap && lower_on_swap {
        tail.make_ascii_lowercase();
    } else if spec.upper || spec.swap {
        tail.make_ascii_uppercase();
    }
    let len = out.len() - start;
    if let Some(width) = spec.width.filter(|&w| w > len) {
        let fill = if spec.pad == Pad::Zero { b'0' } else { b' ' };
        out.resize(start + width, fill);
        out[start..].rotate_right(width - len);
    }
}

fn write_text(spec: &Spec, out: &mut Vec<u8>, text: &[u8], lower_on_swap: bool) {
    let start = out.len();
    out.extend_from_slice(text);
    finish_text(spec, out, start, lower_on_swap);
}

/// What a composite conversion (`%T`, `%c`...) stands for, as a plain format.
fn composite(conv: u8) -> Option<&'static str> {
    Some(match conv {
        b'c' => "%a %b %e %H:%M:%S %Y",
        b'D' | b'x' => "%m/%d/%y",
        b'F' => "%Y-%m-%d",
        b'r' => "%I:%M:%S %p",
        b'R' => "%H:%M",
        b'T' | b'X' => "%H:%M:%S",
        _ => return None,
    })
}

fn write_spec(spec: &Spec, tm: &Tm, out: &mut Vec<u8>) {
    let num = |out: &mut Vec<u8>, n: i64, digits: usize| write_number(spec, out, n, digits, b'0');
    let spaced = |out: &mut Vec<u8>, n: i64| write_number(spec, out, n, 2, b' ');
    let hour12 = if tm.hour % 12 == 0 { 12 } else { tm.hour % 12 };
    let day = DAYS[tm.wday as usize % 7].as_bytes();
    let month = MONTHS[(tm.month as usize + 11) % 12].as_bytes();
    if let Some(parts) = composite(spec.conv) {
        // Only reached with flags or a width (otherwise expanded at parse time):
        // the expansion is padded and cased as a whole.
        let start = out.len();
        for item in TimeFormat::parse(parts).items {
            match item {
                Item::Literal(text) => out.extend_from_slice(&text),
                Item::Spec(part) => write_spec(&part, tm, out),
            }
        }
        finish_text(spec, out, start, false);
        return;
    }
    match spec.conv {
        b'a' => write_text(spec, out, &day[..3], false),
        b'A' => write_text(spec, out, day, false),
        b'b' | b'h' => write_text(spec, out, &month[..3], false),
        b'B' => write_text(spec, out, month, false),
        b'C' => num(out, i64::from(tm.year).div_euclid(100), 2),
        b'd' => num(out, i64::from(tm.day), 2),
        b'e' => spaced(out, i64::from(tm.day)),
        b'g' => num(out, i64::from(tm.iso_year).rem_euclid(100), 2),
        b'G' => num(out, i64::from(tm.iso_year), 1),
        b'H' => num(out, i64::from(tm.hour), 2),
        b'I' => num(out, i64::from(hour12), 2),
        b'j' => num(out, i64::from(tm.yday) + 1, 3),
        b'k' => spaced(out, i64::from(tm.hour)),
        b'l' => spaced(out, i64::from(hour12)),
        b'm' => num(out, i64::from(tm.month), 2),
        b'M' => num(out, i64::from(tm.minute), 2),
        b'n' => write_text(spec, out, b"\n", false),
        b'p' => write_text(spec, out, if tm.hour < 12 { b"AM" } else { b"PM" }, true),
        // glibc: `%P` stays lower-case whatever the flags.
        b'P' => write_text(
            &Spec {
                upper: false,
                swap: false,
                ..*spec
            },
            out,
            if tm.hour < 12 { b"am" } else { b"pm" },
            false,
        ),
        // glibc pads `%s` to a width with spaces, not zeros.
        b's' => write_number(spec, out, tm.epoch, 1, b' '),
        b'S' => num(out, i64::from(tm.second), 2),
        b't' => write_text(spec, out, b"\t", false),
        b'u' => num(out, i64::from((tm.wday + 6) % 7 + 1), 1),
        b'U' => num(out, i64::from((tm.yday + 7 - tm.wday) / 7), 2),
        b'V' => num(out, i64::from(tm.iso_week), 2),
        b'w' => num(out, i64::from(tm.wday), 1),
        b'W' => num(out, i64::from((tm.yday + 7 - (tm.wday + 6) % 7) / 7), 2),
        b'y' => num(out, i64::from(tm.year).rem_euclid(100), 2),
        b'Y' => num(out, i64::from(tm.year), 1),
        b'z' => {
            // `+hhmm`, as glibc prints it.
            let start = out.len();
            out.push(if tm.offset < 0 { b'-' } else { b'+' });
            let minutes = tm.offset.unsigned_abs() / 60;
            push_padded(out, u64::from(minutes / 60 * 100 + minutes % 60), 4, b'0');
            finish_text(spec, out, start, false);
        }
        b'Z' => {
            let start = out.len();
            if tm.offset == 0 {
                out.extend_from_slice(b"UTC");
            } else {
                // The numeric abbreviation tzdata uses for zones without a name.
                out.push(if tm.offset < 0 { b'-' } else { b'+' });
                let minutes = tm.offset.unsigned_abs() / 60;
                push_padded(out, u64::from(minutes / 60), 2, b'0');
                if minutes % 60 != 0 {
                    push_padded(out, u64::from(minutes % 60), 2, b'0');
                }
            }
            finish_text(spec, out, start, true);
        }
        b'%' => write_text(spec, out, b"%", false),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Tuesday 24 November 2026 00:19:46.956941 UTC (c_ka_reuse_A), rendered with
    /// the process time zone; the corpus runs with TZ=UTC, so the tests set it too.
    fn ts() -> Timestamp {
        Timestamp::from_secs_micros(1_795_479_586, 956_941)
    }

    fn render(format: &str, t: Timestamp) -> String {
        // SAFETY-free: tests of this module only ever set TZ to the same value.
        std::env::set_var("TZ", "UTC");
        let mut out = Vec::new();
        assert!(TimeFormat::parse(format).write(t, &mut out));
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn default_format_gets_microseconds() {
        assert_eq!(render("%Y-%m-%d %T", ts()), "2026-11-24 00:19:46.956941");
        assert_eq!(render("%Y-%m-%d %H:%M:%S", ts()), "2026-11-24 00:19:46");
    }

    #[test]
    fn c_locale_names_and_numbers_match_args_timestamps() {
        assert_eq!(render("%A %d %B %Y", ts()), "Tuesday 24 November 2026");
        assert_eq!(render("%s", ts()), "1795479586");
        assert_eq!(
            render("%j %U %a %b %y %e %p %I %M %S %%", ts()),
            "328 47 Tue Nov 26 24 AM 12 19 46 %"
        );
        assert_eq!(
            render("%c", Timestamp::from_secs_micros(1_795_479_589, 0)),
            "Tue Nov 24 00:19:49 2026"
        );
        assert_eq!(render("%d/%b/%Y:%T %z", ts()), "24/Nov/2026:00:19:46 +0000");
        assert_eq!(render("%F %T", ts()), "2026-11-24 00:19:46");
    }

    #[test]
    fn composite_and_rarely_used_conversions() {
        assert_eq!(
            render("%D|%x|%X|%r|%R", ts()),
            "11/24/26|11/24/26|00:19:46|12:19:46 AM|00:19"
        );
        assert_eq!(
            render("%C %g %G %V %u %w %U %W", ts()),
            "20 26 2026 48 2 2 47 47"
        );
        assert_eq!(render("%k %l %P %Z", ts()), " 0 12 am UTC");
        assert_eq!(render("%n%t", ts()), "\n\t");
    }

    #[test]
    fn flags_and_widths() {
        // Expectations from glibc 2.36 strftime.
        assert_eq!(
            render("%-d %_m %e %-e %10Y %^a %#b %#p %05d", ts()),
            "24 11 24 24 0000002026 TUE NOV am 00024"
        );
        assert_eq!(
            render("%10T|%_10T|%010T|%^10c", ts()),
            "  00:19:46|  00:19:46|0000:19:46|TUE NOV 24 00:19:46 2026"
        );
        assert_eq!(render("%#Z %Z %#A %^B", ts()), "utc UTC TUESDAY NOVEMBER");
        assert_eq!(
            render("%10p|%-10p|%_5a|%05a", ts()),
            "        AM|        AM|  Tue|00Tue"
        );
        assert_eq!(
            render("%-5d|%_5d|%3e|%-e|%s %10s", ts()),
            "   24|   24| 24|24|1795479586 1795479586"
        );
        assert_eq!(render("%Ey %Oz %Ez %E", ts()), "26 +0000 +0000 %E");
        let early = Timestamp::from_secs_micros(86_400 * 3 + 3600 * 5, 57);
        assert_eq!(
            render("%-d|%_d|%e|%-H|%k|%l|%I|%-I", early),
            "4| 4| 4|5| 5| 5|05|5"
        );
    }

    #[test]
    fn unknown_conversions_and_a_trailing_percent_are_copied() {
        assert_eq!(render("%Q %q %5K|%+ %v|%", ts()), "%Q %q   %5K|%+ %v|%");
        assert_eq!(render("%é", ts()), "%é");
        assert_eq!(render("", ts()), "");
    }

    #[test]
    fn expansions_of_any_length_are_printed_in_full() {
        let long = "%Y-%m-%d %H:%M:%S and some long text";
        assert_eq!(render(long, ts()), "2026-11-24 00:19:46 and some long text");
        assert_eq!(render("%1024Y", ts()).len(), 1024);
        assert_eq!(render("%99999999999Y", ts()).len(), MAX_WIDTH);
    }

    #[test]
    fn epoch_edges_format() {
        let t = Timestamp::from_secs_micros(86_400, 57);
        assert_eq!(render("%Y-%m-%d %T", t), "1970-01-02 00:00:00.000057");
        assert_eq!(
            render("%d/%b/%Y:%T %z", Timestamp::from_secs_micros(0, 0)),
            "01/Jan/1970:00:00:00 +0000"
        );
    }
}
