//! The end-of-run summary on standard error: [`RunStats`] as a short aligned block.
//!
//! By default only what was lost is listed (dropped, discarded, not decodable), and a
//! clean run prints nothing; `--stats` lists every figure; `-q` prints nothing. A filter
//! that kept no packet at all is said in the default mode too, since that is almost
//! always a mistake in the expression.

use super::SummaryMode;
use crate::decode::{HOST_BYTES_MAX, TIMEOUT_NS, TOTAL_BYTES_MAX};
use crate::exchange::{MAX_KEPT_PER_PHASE, MAX_KEPT_TOTAL};
use crate::run::RunStats;

/// One figure of the block.
struct Line {
    /// 0 for a figure, 1 for one of the reasons or parts of the figure above it.
    depth: usize,
    label: &'static str,
    value: u64,
    /// Said after the number when it is not zero: the option or bound behind a loss.
    note: String,
    /// Something was lost: listed by default when not zero.
    loss: bool,
}

fn line(depth: usize, label: &'static str, value: u64, loss: bool) -> Line {
    Line {
        depth,
        label,
        value,
        note: String::new(),
        loss,
    }
}

impl Line {
    fn note(mut self, note: String) -> Line {
        self.note = note;
        self
    }
}

/// Every line of the whole summary, in order.
fn lines(s: &RunStats) -> Vec<Line> {
    let mut out = Vec::new();
    if let Some(k) = &s.kernel {
        out.push(line(0, "packets captured by the kernel", k.captured, false));
        out.push(
            line(0, "dropped by the kernel", k.dropped, true)
                .note("the ring buffer was full (see --buffer-size)".into()),
        );
        out.push(line(0, "malformed ring blocks skipped", k.malformed, true));
    }
    out.extend([
        line(0, "packets read", s.packets_read, false),
        line(0, "of an unsupported link type", s.unsupported_link, true),
        line(0, "dropped by the packet filter", s.filtered_out, false),
        line(0, "not TCP, ignored", s.not_ip + s.not_tcp, false),
        line(1, "not IP", s.not_ip, false),
        line(1, "IP but not TCP", s.not_tcp, false),
        line(0, "could not be decoded", s.truncated + s.malformed, true),
        line(1, "cut by the snapshot length", s.truncated, true),
        line(1, "malformed headers", s.malformed, true),
        line(0, "IP fragments", s.fragments, false),
        line(1, "datagrams reassembled", s.datagrams_reassembled, false),
        line(0, "IP fragments lost", s.fragments_lost(), true),
        line(1, "over the host limit", s.fragments_lost_hosts, true)
            .note(format!("-d {}", s.max_fragmented_hosts)),
        line(1, "over the size bounds", s.fragments_lost_size, true).note(format!(
            "{} KiB per host, {} MiB in all",
            HOST_BYTES_MAX >> 10,
            TOTAL_BYTES_MAX >> 20
        )),
        line(1, "timed out", s.fragments_lost_timeout, true).note(format!(
            "no new fragment for {} s",
            TIMEOUT_NS / 1_000_000_000
        )),
        line(1, "overlapping or invalid", s.fragments_lost_invalid, true),
        line(1, "incomplete at the end", s.fragments_incomplete, true),
        line(0, "TCP segments", s.tcp_segments, false),
        line(
            1,
            "of no tracked connection",
            s.segments_no_connection,
            false,
        )
        .note(if s.connections_midstream == 0 {
            "their SYN was not seen; see -m".into()
        } else {
            String::new()
        }),
        line(
            1,
            "outside the receive window",
            s.segments_out_of_window,
            false,
        ),
        line(1, "refused by the timestamp check", s.segments_paws, false),
        line(0, "connections", s.connections, false),
        line(
            1,
            "picked up mid-stream (-m)",
            s.connections_midstream,
            false,
        ),
        line(1, "still open at the end", s.connections_open_at_end, false)
            .note("reported truncated".into()),
        line(1, "most open at once", s.connections_peak, false),
        line(
            1,
            "ended idle (--idle-timeout)",
            s.connections_idle_timed_out,
            false,
        )
        .note("their records say 'timedout'".into()),
        line(0, "connections evicted", s.connections_evicted, true).note(format!(
            "more than {} open at once with -s {}; their records say 'timedout'",
            thousands(s.tracked_limit()),
            s.max_streams
        )),
        line(
            0,
            "out-of-order bytes discarded",
            s.out_of_order_discarded_bytes,
            true,
        )
        .note(format!(
            "in {} segments: waiting data reached its bound",
            thousands(s.out_of_order_discarded_segments)
        )),
        line(
            0,
            "out-of-order bytes never delivered",
            s.out_of_order_undelivered_bytes,
            true,
        )
        .note("the gap before them never filled".into()),
        line(
            0,
            "payload bytes not kept for the format",
            s.payload_not_kept_bytes,
            true,
        )
        .note(format!(
            "an exchange phase exceeded {} MiB, or all pending exchanges {} MiB",
            MAX_KEPT_PER_PHASE >> 20,
            MAX_KEPT_TOTAL >> 20
        )),
        line(0, "bytes the capture missed, skipped", s.gap_bytes, true).note(format!(
            "in {} holes the receivers acknowledged",
            thousands(s.gaps)
        )),
        line(
            0,
            "requests beyond the pipeline bound",
            s.pipeline_overflow,
            true,
        )
        .note(format!(
            "more than {} unanswered on one connection: joined to the newest exchange",
            crate::exchange::MAX_PIPELINED
        )),
        line(0, "HTTP/2 streams not followed", s.open_overflow, true).note(format!(
            "more than {} open on one connection (HTTP/2): not followed",
            crate::exchange::MAX_OPEN_EXCHANGES
        )),
        line(0, "records", s.records, false),
    ]);
    if let Some(o) = &s.otlp {
        let lost = o.log_records_dropped + o.log_records_failed + o.log_records_unsent;
        out.extend([
            line(
                0,
                "OTLP log records exported",
                o.log_records_exported,
                false,
            ),
            line(0, "OTLP log records not sent", lost, true),
            line(1, "dropped: export queue full", o.log_records_dropped, true)
                .note("the collector was slow or unreachable".into()),
            line(1, "export failed after retries", o.log_records_failed, true),
            line(1, "still queued at the end", o.log_records_unsent, true),
            line(0, "OTLP metric exports", o.metric_exports, false),
            line(
                0,
                "OTLP metric exports failed",
                o.metric_export_failures,
                true,
            )
            .note("after retries; the next export carries the totals".into()),
        ]);
    }
    if let Some(command) = &s.command {
        out.push(
            line(0, "records -e failed on", s.command_failures, true).note(format!(
                "of {} records, command '{command}'",
                thousands(s.records)
            )),
        );
    }
    out
}

/// The summary's lines for standard error (no newlines), for `mode`: empty when there
/// is nothing to say.
pub fn render(s: &RunStats, mode: SummaryMode) -> Vec<String> {
    let (title, shown): (&str, Vec<Line>) = match mode {
        SummaryMode::Quiet => return Vec::new(),
        SummaryMode::Full => ("rustniffer: summary", lines(s)),
        SummaryMode::Losses => (
            "rustniffer: summary of what was lost (--stats for every figure)",
            lines(s)
                .into_iter()
                .filter(|l| l.loss && l.value > 0)
                .collect(),
        ),
    };
    let mut out = Vec::new();
    let filtered = s.packets_read - s.unsupported_link.min(s.packets_read);
    if mode == SummaryMode::Losses && s.filtered_out > 0 && s.filtered_out == filtered {
        out.push(format!(
            "rustniffer: the packet filter kept 0 of {} packets",
            thousands(filtered)
        ));
    }
    if shown.is_empty() {
        return out;
    }
    let label_width = shown
        .iter()
        .map(|l| 2 * l.depth + l.label.len())
        .max()
        .unwrap_or(0);
    let numbers: Vec<String> = shown.iter().map(|l| thousands(l.value)).collect();
    let number_width = numbers.iter().map(String::len).max().unwrap_or(0);
    out.push(title.to_string());
    for (l, number) in shown.iter().zip(numbers) {
        let label = format!("{:indent$}{}", "", l.label, indent = 2 * l.depth);
        let mut text = format!("  {label:<label_width$}  {number:>number_width$}");
        if !l.note.is_empty() && l.value > 0 {
            text.push_str("  (");
            text.push_str(&l.note);
            text.push(')');
        }
        out.push(text);
    }
    out
}

/// `1234567` as `1,234,567`.
pub fn thousands(n: u64) -> String {
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
    use crate::run::KernelStats;

    fn clean() -> RunStats {
        RunStats {
            packets_read: 12_345,
            tcp_segments: 12_345,
            connections: 40,
            connections_peak: 3,
            records: 120,
            max_streams: 1 << 20,
            max_fragmented_hosts: 1024,
            ..RunStats::default()
        }
    }

    #[test]
    fn packets_of_an_unsupported_link_type_are_a_loss() {
        let stats = RunStats {
            unsupported_link: 2,
            ..clean()
        };
        let text = render(&stats, SummaryMode::Losses);
        assert_eq!(text.len(), 2, "{text:?}");
        assert!(text[1].contains("of an unsupported link type"));
        assert!(text[1].ends_with(" 2"), "{text:?}");
    }

    #[test]
    fn a_clean_run_says_nothing_by_default() {
        assert!(render(&clean(), SummaryMode::Losses).is_empty());
    }

    #[test]
    fn quiet_says_nothing_even_with_losses() {
        let s = RunStats {
            malformed: 3,
            connections_evicted: 2,
            filtered_out: 12_345,
            ..clean()
        };
        assert!(render(&s, SummaryMode::Quiet).is_empty());
    }

    #[test]
    fn losses_only_lists_nonzero_losses_and_their_nonzero_reasons() {
        let s = RunStats {
            truncated: 7,
            fragments: 10,
            fragments_lost_timeout: 4,
            connections_evicted: 1_500,
            max_streams: 1000,
            ..clean()
        };
        let got = render(&s, SummaryMode::Losses);
        assert_eq!(
            got,
            vec![
                "rustniffer: summary of what was lost (--stats for every figure)",
                "  could not be decoded              7",
                "    cut by the snapshot length      7",
                "  IP fragments lost                 4",
                "    timed out                       4  (no new fragment for 30 s)",
                "  connections evicted           1,500  (more than 751 open at once with -s 1000; their records say 'timedout')",
            ]
        );
    }

    #[test]
    fn the_whole_summary_aligns_labels_left_and_numbers_right() {
        let got = render(&clean(), SummaryMode::Full);
        assert_eq!(got[0], "rustniffer: summary");
        assert_eq!(got[1], "  packets read                           12,345");
        assert!(got.contains(&"    not IP                                    0".to_string()));
        assert!(got.contains(&"  records                                   120".to_string()));
        // Every number ends in the same column, whatever its notes.
        let end = got[1].len();
        for l in &got[1..] {
            let number_end = l.find("  (").unwrap_or(l.len());
            assert_eq!(number_end, end, "{l:?}");
            assert!(
                l[..number_end].ends_with(|c: char| c.is_ascii_digit()),
                "{l:?}"
            );
        }
        // No -e line without -e, no kernel lines for a file.
        assert!(!got.iter().any(|l| l.contains("-e") || l.contains("kernel")));
    }

    #[test]
    fn a_filter_that_kept_nothing_is_said_by_default() {
        let s = RunStats {
            filtered_out: 12_345,
            tcp_segments: 0,
            ..clean()
        };
        assert_eq!(
            render(&s, SummaryMode::Losses),
            vec!["rustniffer: the packet filter kept 0 of 12,345 packets"]
        );
        // The whole summary says it in its own line, once.
        let full = render(&s, SummaryMode::Full);
        assert!(!full.iter().any(|l| l.contains("kept 0")));
        assert!(full
            .iter()
            .any(|l| l.starts_with("  dropped by the packet filter")));
    }

    #[test]
    fn otlp_losses_are_listed_by_default() {
        let stats = RunStats {
            otlp: Some(crate::run::OtlpStats {
                log_records_exported: 5,
                log_records_failed: 7,
                metric_export_failures: 1,
                ..Default::default()
            }),
            ..clean()
        };
        let text = render(&stats, SummaryMode::Losses).join("\n");
        assert!(
            text.contains("  OTLP log records not sent      7\n"),
            "{text}"
        );
        assert!(
            text.contains("    export failed after retries  7\n"),
            "{text}"
        );
        assert!(
            text.contains("  OTLP metric exports failed     1  (after retries"),
            "{text}"
        );
        assert!(!text.contains("exported"), "{text}");
    }

    #[test]
    fn command_failures_name_the_command_and_the_records() {
        let s = RunStats {
            command: Some("false".into()),
            command_failures: 120,
            ..clean()
        };
        assert_eq!(
            render(&s, SummaryMode::Losses)[1],
            "  records -e failed on  120  (of 120 records, command 'false')"
        );
    }

    #[test]
    fn kernel_drops_are_a_loss_and_its_captured_count_is_not() {
        let s = RunStats {
            kernel: Some(KernelStats {
                captured: 12_345,
                dropped: 0,
                malformed: 0,
            }),
            ..clean()
        };
        assert!(render(&s, SummaryMode::Losses).is_empty());
        let s = RunStats {
            kernel: Some(KernelStats {
                captured: 12_345,
                dropped: 5,
                malformed: 0,
            }),
            ..clean()
        };
        let got = render(&s, SummaryMode::Losses);
        assert_eq!(got.len(), 2);
        assert!(got[1].starts_with("  dropped by the kernel  5"), "{got:?}");
    }

    #[test]
    fn thousands_are_separated() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }
}
