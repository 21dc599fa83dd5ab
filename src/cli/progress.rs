//! Progress of a long file run on standard error: how far into the file, how many
//! packets, how fast. Shown only when standard error is a terminal (so scripts, pipes
//! and tests never see it), at most once a second, and erased at the end.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

/// Packets between two looks at the clock: reading it costs more than a packet.
const CHECK_EVERY: u64 = 1 << 14;
/// Time between two progress lines.
const INTERVAL: Duration = Duration::from_secs(1);

pub struct Progress {
    started: Instant,
    last_shown: Instant,
    packets: u64,
    /// Whether a line is on the terminal and must be erased.
    shown: bool,
}

impl Progress {
    /// A progress display, or `None` when standard error is not a terminal.
    pub fn on_terminal() -> Option<Progress> {
        std::io::stderr().is_terminal().then(|| {
            let now = Instant::now();
            Progress {
                started: now,
                last_shown: now,
                packets: 0,
                shown: false,
            }
        })
    }

    /// Counts one packet; `position` gives `(bytes read, file size)` when a line is due.
    #[inline]
    pub fn packet(&mut self, position: impl FnOnce() -> Option<(u64, u64)>) {
        self.packets += 1;
        if self.packets % CHECK_EVERY != 0 {
            return;
        }
        let now = Instant::now();
        if now.duration_since(self.last_shown) < INTERVAL {
            return;
        }
        self.last_shown = now;
        if let Some((read, total)) = position() {
            let line = progress_line(read, total, self.packets, now - self.started);
            let mut err = std::io::stderr().lock();
            // `\r` and erase-to-end-of-line: each line replaces the previous one.
            let _ = write!(err, "\r{line}\x1b[K");
            let _ = err.flush();
            self.shown = true;
        }
    }

    /// Erases the line before the records' summary notes are printed.
    pub fn finish(&mut self) {
        if self.shown {
            let _ = write!(std::io::stderr().lock(), "\r\x1b[K");
            self.shown = false;
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.finish();
    }
}

/// `rustniffer: 42% of 2.1 GB read, 3,145,728 packets, 1.9 M packets/s`
fn progress_line(read: u64, total: u64, packets: u64, elapsed: Duration) -> String {
    let percent = if total > 0 {
        (read.min(total) as f64 * 100.0 / total as f64) as u32
    } else {
        0
    };
    let rate = packets as f64 / elapsed.as_secs_f64().max(1e-3);
    format!(
        "rustniffer: {percent}% of {} read, {} packets, {:.1} M packets/s",
        human_bytes(total),
        grouped(packets),
        rate / 1e6
    )
}

fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["kB", "MB", "GB", "TB"];
    let mut value = n as f64;
    let mut unit = "B";
    for u in UNITS {
        if value < 1000.0 {
            break;
        }
        value /= 1000.0;
        unit = u;
    }
    if unit == "B" {
        format!("{n} B")
    } else {
        format!("{value:.1} {unit}")
    }
}

/// `1234567` → `1,234,567`.
fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_says_how_far_and_how_fast() {
        assert_eq!(
            progress_line(
                1_050_000_000,
                2_100_000_000,
                3_145_728,
                Duration::from_secs(2)
            ),
            "rustniffer: 50% of 2.1 GB read, 3,145,728 packets, 1.6 M packets/s"
        );
        assert_eq!(
            progress_line(10, 0, 0, Duration::ZERO),
            "rustniffer: 0% of 0 B read, 0 packets, 0.0 M packets/s"
        );
    }

    #[test]
    fn numbers_are_grouped_and_sizes_scaled() {
        assert_eq!(grouped(0), "0");
        assert_eq!(grouped(999), "999");
        assert_eq!(grouped(1000), "1,000");
        assert_eq!(grouped(1_234_567), "1,234,567");
        assert_eq!(human_bytes(999), "999 B");
        assert_eq!(human_bytes(1_500), "1.5 kB");
        assert_eq!(human_bytes(236_000_000), "236.0 MB");
    }
}
