//! Command-line options and configuration files (SPEC §1).
//!
//! One place turns the argument vector (and an optional `-c FILE`) into one plain
//! [`Options`] value that the rest of the program reads.

use clap::{Arg, ArgAction, ArgMatches, Command};

mod config;
#[cfg(unix)]
pub mod progress;
pub mod signals;
pub mod summary;

pub use config::read_config;

pub use crate::format::{Encoding, DEFAULT_FORMAT, RAW_FORMAT};

pub use crate::decode::DEFAULT_MAX_FRAGMENTED_HOSTS;
pub use crate::flow::DEFAULT_MAX_STREAMS;

/// Default and largest `--buffer-size` (MiB of kernel ring for live capture).
pub const DEFAULT_BUFFER_MB: usize = 32;
pub const MAX_BUFFER_MB: usize = 64 * 1024;

/// Where packets come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Input {
    /// `-f FILE` (`-` = standard input).
    File(String),
    /// `-i IF`.
    Interface(String),
    /// Neither: the default interface.
    DefaultInterface,
}

/// What the end-of-run summary on standard error shows (`--stats`, `-q`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SummaryMode {
    /// Only what was lost: nothing at all for a clean run.
    #[default]
    Losses,
    /// `--stats`: every figure, always.
    Full,
    /// `-q`: no summary and no end-of-run notes (errors still print).
    Quiet,
}

/// Everything the run needs to know, resolved from the command line and `-c`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    pub input: Input,
    pub format: String,
    pub not_found: String,
    pub encoding: Encoding,
    pub newline: bool,
    pub truncated: bool,
    pub midstream: bool,
    pub force_read: bool,
    pub max_streams: usize,
    pub max_fragmented_hosts: usize,
    /// Live capture: size of the kernel ring in MiB (`--buffer-size`).
    pub buffer_size_mb: usize,
    pub filter: Option<String>,
    pub execute: Option<String>,
    pub user: Option<String>,
    pub python: Option<String>,
    pub summary: SummaryMode,
    /// `--exchanges`: how connections are cut into exchanges.
    pub exchanges: crate::exchange::Mode,
    /// `--skip-gaps` (always on in `messages` mode): go on past data the capture missed.
    pub skip_gaps: bool,
}

/// What the command line asks for.
#[derive(Debug)]
pub enum Request {
    Run(Box<Options>),
    Help(String),
    Version(String),
}

/// A usage error: one line for standard error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageError(pub String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

fn command() -> Command {
    let flag = |id: &'static str, short: char, help: &'static str| {
        Arg::new(id)
            .short(short)
            .long(id)
            .action(ArgAction::SetTrue)
            .help(help)
    };
    let value = |id: &'static str, short: char, name: &'static str, help: &'static str| {
        Arg::new(id)
            .short(short)
            .long(id)
            .value_name(name)
            .action(ArgAction::Set)
            .help(help)
    };
    Command::new("rustniffer")
        .disable_help_flag(true)
        .disable_version_flag(true)
        .arg(value("filecap", 'f', "FILE", "read a pcap or pcapng capture file ('-' = standard input)"))
        .arg(value("interface", 'i', "IF", "capture live from interface IF ('any' = all interfaces)"))
        .arg(
            Arg::new("log-format")
                .short('l')
                .long("log-format")
                .value_name("FMT")
                .num_args(1..)
                .action(ArgAction::Append)
                .allow_hyphen_values(false)
                .help("the format of each record (several words are joined with one space)"),
        )
        .arg(value("append-log-format", 'a', "FMT", "the default format followed directly by FMT"))
        .arg(flag("raw", 'r', "print the raw exchange: the same as -l \"%request%response\""))
        .arg(value("config", 'c', "FILE", "read options from FILE ('long-option-name = value' lines); the command line wins"))
        .arg(
            Arg::new("packet-filter")
                .short('p')
                .long("packet-filter")
                .value_name("EXPR")
                .num_args(1..)
                .action(ArgAction::Append)
                .help("tcpdump filter expression applied to each frame (several words are joined)"),
        )
        .arg(value("not-found", 'n', "STR", "text printed for a value that cannot be found (default '-', may be empty)")
            .allow_hyphen_values(true))
        .arg(flag("unprintable", 'u', "print bytes that are not printable ASCII, \\n or \\t as '.'"))
        .arg(flag("hex-encode", 'x', "print bytes that are not printable ASCII, \\n or \\t as [0xHH]"))
        .arg(flag("no-newline", 'N', "no newline after each record"))
        .arg(flag("truncated", 't', "accepted for compatibility: connections cut by the end of the capture are always reported"))
        .arg(flag("capture-in-the-middle", 'm', "also track connections whose SYN was not seen"))
        .arg(value("max-tcp-streams", 's', "N", "track at most 3*N/4+1 connections at once; the oldest is evicted (default 1048576)"))
        .arg(value("max-fragmented-ip", 'd', "N", "most hosts with IP fragments pending at once (default 1024)"))
        .arg(flag("force-read-pcap", 'F', "read a capture whose snapshot length is below 65535"))
        .arg(
            Arg::new("buffer-size")
                .long("buffer-size")
                .value_name("MB")
                .action(ArgAction::Set)
                .help("live capture: kernel ring buffer size in MiB (default 32, at least 2)"),
        )
        .arg(
            Arg::new("exchanges")
                .long("exchanges")
                .value_name("MODE")
                .action(ArgAction::Set)
                .help("turns (default, justniffer's rule: a run of client data then a run of server data) or messages (HTTP/1.x and TLS message boundaries, pipelining, gaps skipped)"),
        )
        .arg(
            Arg::new("skip-gaps")
                .long("skip-gaps")
                .action(ArgAction::SetTrue)
                .help("turns mode: when a receiver acknowledges data the capture missed, go on after it instead of waiting for it (always on with --exchanges messages)"),
        )
        .arg(value("execute", 'e', "CMD", "run CMD (/bin/sh -c) once per record, with the record on its standard input"))
        .arg(value("user", 'U', "USER", "run -e commands and Python code as USER"))
        .arg(value("python", 'P', "SCRIPT[:FUNC]", "call the Python function FUNC (default 'app') with each record"))
        .arg(
            Arg::new("stats")
                .long("stats")
                .action(ArgAction::SetTrue)
                .help("at exit, print the whole summary of what was read, dropped and printed on standard error (by default only what was lost)"),
        )
        .arg(flag("quiet", 'q', "no end-of-run summary or notes on standard error (errors still print)"))
        .arg(flag("version", 'V', "print the version"))
        .arg(Arg::new("help").long("help").short('h').action(ArgAction::SetTrue).help("print this help"))
}

/// The `--help` text: usage, options, and every format keyword with its meaning.
pub fn help_text(keywords: &[(&str, &str)]) -> String {
    let mut text = String::new();
    text.push_str(
        "rustniffer: rebuilds TCP connections from a capture and prints one line per\n\
         request/response exchange, through a format (justniffer 0.6.14 compatible).\n\n\
         Usage: rustniffer [-f FILE | -i IF] [-l FMT... | -a FMT | -r] [options]\n\n\
         Options:\n",
    );
    for arg in command().get_arguments() {
        let short = arg
            .get_short()
            .map(|c| format!("-{c}, "))
            .unwrap_or_default();
        let long = arg.get_long().map(|l| format!("--{l}")).unwrap_or_default();
        let value = arg
            .get_value_names()
            .and_then(|names| names.first())
            .map(|n| format!(" {n}"))
            .unwrap_or_default();
        let help = arg.get_help().map(|h| h.to_string()).unwrap_or_default();
        text.push_str(&format!(
            "  {:<34} {help}\n",
            format!("{short}{long}{value}")
        ));
    }
    text.push_str(&format!(
        "\nDefault format:\n  {DEFAULT_FORMAT}\n\nFormat keywords:\n"
    ));
    for (name, meaning) in keywords {
        text.push_str(&format!("  {name:<36} {meaning}\n"));
    }
    text.push_str(
        "\nKeywords take an optional (PARAMETER) right after the name; %% prints %, %- \
         separates a keyword\nfrom following text. Durations print as seconds with six \
         decimals.\n",
    );
    text
}

/// Parses the argument vector (without the program name).
pub fn parse<I, T>(args: I, keywords: &[(&str, &str)]) -> Result<Request, UsageError>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let argv = std::iter::once(std::ffi::OsString::from("rustniffer"))
        .chain(args.into_iter().map(Into::into));
    let matches = command().try_get_matches_from(argv).map_err(|e| {
        let text = e.to_string();
        let first = text
            .lines()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("invalid arguments");
        UsageError(first.trim_start_matches("error: ").to_string())
    })?;
    if matches.get_flag("help") {
        return Ok(Request::Help(help_text(keywords)));
    }
    if matches.get_flag("version") {
        return Ok(Request::Version(format!(
            "rustniffer {} (justniffer 0.6.14 compatible)",
            env!("CARGO_PKG_VERSION")
        )));
    }
    let config = match matches.get_one::<String>("config") {
        Some(path) => read_config(path)?,
        None => Vec::new(),
    };
    resolve(&matches, &config).map(|o| Request::Run(Box::new(o)))
}

/// A value from the command line, else from the configuration file.
struct Sources<'a> {
    matches: &'a ArgMatches,
    config: &'a [(String, String)],
}

impl Sources<'_> {
    fn cli(&self, name: &str) -> bool {
        self.matches.value_source(name) == Some(clap::parser::ValueSource::CommandLine)
    }

    fn config_value(&self, name: &str) -> Option<&str> {
        self.config
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn value(&self, name: &str) -> Option<String> {
        if self.cli(name) {
            if let Ok(Some(values)) = self.matches.try_get_many::<String>(name) {
                return Some(values.cloned().collect::<Vec<_>>().join(" "));
            }
        }
        self.config_value(name).map(str::to_string)
    }

    fn flag(&self, name: &str) -> Result<bool, UsageError> {
        if self.cli(name) {
            return Ok(self.matches.get_flag(name));
        }
        match self.config_value(name) {
            None => Ok(false),
            Some(v) => match v.to_ascii_lowercase().as_str() {
                "" | "1" | "true" | "yes" | "on" => Ok(true),
                "0" | "false" | "no" | "off" => Ok(false),
                other => Err(UsageError(format!(
                    "configuration: option '{name}' takes true or false, not '{other}'"
                ))),
            },
        }
    }

    /// The first of a group of mutually exclusive options the command line names; the
    /// configuration file is consulted only when the command line names none of them.
    fn named_on_command_line(&self, group: &[&str]) -> bool {
        group.iter().any(|name| self.cli(name))
    }
}

const KNOWN_CONFIG_KEYS: &[&str] = &[
    "filecap",
    "interface",
    "log-format",
    "append-log-format",
    "raw",
    "packet-filter",
    "not-found",
    "unprintable",
    "hex-encode",
    "no-newline",
    "truncated",
    "capture-in-the-middle",
    "max-tcp-streams",
    "max-fragmented-ip",
    "force-read-pcap",
    "buffer-size",
    "execute",
    "user",
    "python",
    "stats",
    "quiet",
];

fn resolve(matches: &ArgMatches, config: &[(String, String)]) -> Result<Options, UsageError> {
    for (key, _) in config {
        if !KNOWN_CONFIG_KEYS.contains(&key.as_str()) {
            return Err(UsageError(format!("configuration: unknown option '{key}'")));
        }
    }
    let all = Sources { matches, config };
    let empty: &[(String, String)] = &[];
    let cli_only = Sources {
        matches,
        config: empty,
    };
    // Within a group of exclusive options, the command line wins as a whole.
    let group_source = |group: &[&str]| {
        if all.named_on_command_line(group) {
            &cli_only
        } else {
            &all
        }
    };

    let input_src = group_source(&["filecap", "interface"]);
    let file = input_src.value("filecap");
    let interface = input_src.value("interface");
    let input = match (file, interface) {
        (Some(_), Some(_)) => {
            return Err(UsageError(
                "-f (--filecap) and -i (--interface) cannot be used together".into(),
            ))
        }
        (Some(f), None) => Input::File(f),
        (None, Some(i)) => Input::Interface(i),
        (None, None) => Input::DefaultInterface,
    };

    let format_src = group_source(&["log-format", "append-log-format", "raw"]);
    let log = format_src.value("log-format");
    let append = format_src.value("append-log-format");
    let raw = format_src.flag("raw")?;
    let chosen = [log.is_some(), append.is_some(), raw]
        .iter()
        .filter(|&&b| b)
        .count();
    if chosen > 1 {
        return Err(UsageError(
            "only one of -l (--log-format), -a (--append-log-format) and -r (--raw) may be given"
                .into(),
        ));
    }
    let format = match (log, append, raw) {
        (Some(l), _, _) => l,
        (_, Some(a), _) => format!("{DEFAULT_FORMAT}{a}"),
        (_, _, true) => RAW_FORMAT.to_string(),
        _ => DEFAULT_FORMAT.to_string(),
    };

    let enc_src = group_source(&["unprintable", "hex-encode"]);
    let encoding = match (enc_src.flag("unprintable")?, enc_src.flag("hex-encode")?) {
        (true, true) => {
            return Err(UsageError(
                "-u (--unprintable) and -x (--hex-encode) cannot be used together".into(),
            ))
        }
        (true, false) => Encoding::Unprintable,
        (false, true) => Encoding::Hex,
        (false, false) => Encoding::Plain,
    };

    let summary_src = group_source(&["stats", "quiet"]);
    let summary = match (summary_src.flag("stats")?, summary_src.flag("quiet")?) {
        (true, true) => {
            return Err(UsageError(
                "--stats and -q (--quiet) cannot be used together".into(),
            ))
        }
        (true, false) => SummaryMode::Full,
        (false, true) => SummaryMode::Quiet,
        (false, false) => SummaryMode::Losses,
    };

    let number = |name: &str, default: usize| -> Result<usize, UsageError> {
        match all.value(name) {
            None => Ok(default),
            Some(v) => match v.trim().parse::<usize>() {
                Ok(n) if n > 0 => Ok(n),
                _ => Err(UsageError(format!(
                    "--{name} takes a positive whole number, not '{v}'"
                ))),
            },
        }
    };

    Ok(Options {
        input,
        format,
        not_found: all.value("not-found").unwrap_or_else(|| "-".to_string()),
        encoding,
        newline: !all.flag("no-newline")?,
        truncated: all.flag("truncated")?,
        midstream: all.flag("capture-in-the-middle")?,
        force_read: all.flag("force-read-pcap")?,
        max_streams: number("max-tcp-streams", DEFAULT_MAX_STREAMS)?,
        max_fragmented_hosts: number("max-fragmented-ip", DEFAULT_MAX_FRAGMENTED_HOSTS)?,
        buffer_size_mb: match number("buffer-size", DEFAULT_BUFFER_MB)? {
            mb if mb <= MAX_BUFFER_MB => mb,
            mb => {
                return Err(UsageError(format!(
                    "--buffer-size takes at most {MAX_BUFFER_MB} (MiB), not {mb}"
                )))
            }
        },
        filter: all.value("packet-filter"),
        execute: all.value("execute"),
        user: all.value("user"),
        python: all.value("python"),
        summary,
        exchanges: match all.value("exchanges").as_deref().map(str::trim) {
            None | Some("turns") => crate::exchange::Mode::Turns,
            Some("messages") => crate::exchange::Mode::Messages,
            Some(other) => {
                return Err(UsageError(format!(
                    "--exchanges takes 'turns' or 'messages', not '{other}'"
                )))
            }
        },
        skip_gaps: all.flag("skip-gaps")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> Result<Options, UsageError> {
        match parse(args.iter().map(|s| s.to_string()), &[])? {
            Request::Run(o) => Ok(*o),
            other => panic!("expected a run, got {other:?}"),
        }
    }

    #[test]
    fn several_log_format_words_are_joined_with_one_space() {
        let o = run(&[
            "-f",
            "x.pcap",
            "-l",
            "%source.ip",
            "%dest.ip",
            "%request.url",
        ])
        .unwrap();
        assert_eq!(o.format, "%source.ip %dest.ip %request.url");
        assert_eq!(o.input, Input::File("x.pcap".into()));
    }

    #[test]
    fn append_follows_the_default_format_directly() {
        let o = run(&["-f", "x", "-a", " %response.time"]).unwrap();
        assert_eq!(o.format, format!("{DEFAULT_FORMAT} %response.time"));
    }

    #[test]
    fn raw_is_request_then_response() {
        assert_eq!(run(&["-f", "x", "-r"]).unwrap().format, "%request%response");
    }

    #[test]
    fn conflicting_options_are_errors() {
        assert!(run(&["-f", "x", "-r", "-l", "x"]).is_err());
        assert!(run(&["-f", "x", "-u", "-x"]).is_err());
        assert!(run(&["-f", "x", "-i", "lo"]).is_err());
        assert!(run(&[
            "--filecap",
            "x",
            "--log-format",
            "a",
            "--append-log-format",
            "b"
        ])
        .is_err());
    }

    #[test]
    fn not_found_text_may_be_empty() {
        assert_eq!(run(&["-f", "x", "-n", ""]).unwrap().not_found, "");
        assert_eq!(run(&["-f", "x"]).unwrap().not_found, "-");
    }

    #[test]
    fn an_unknown_option_is_an_error_on_one_line() {
        let err = run(&["-f", "x", "--bogus"]).unwrap_err();
        assert!(err.0.contains("--bogus"), "{err}");
        assert!(!err.0.contains('\n'));
    }

    #[test]
    fn buffer_size_is_in_mebibytes_with_a_default_and_a_ceiling() {
        assert_eq!(
            run(&["-i", "lo"]).unwrap().buffer_size_mb,
            DEFAULT_BUFFER_MB
        );
        assert_eq!(
            run(&["-i", "lo", "--buffer-size", "256"])
                .unwrap()
                .buffer_size_mb,
            256
        );
        assert!(run(&["-i", "lo", "--buffer-size", "0"]).is_err());
        assert!(run(&["-i", "lo", "--buffer-size", "1000000"]).is_err());
    }

    #[test]
    fn stats_and_quiet_choose_the_summary_and_exclude_each_other() {
        assert_eq!(run(&["-f", "x"]).unwrap().summary, SummaryMode::Losses);
        assert_eq!(
            run(&["-f", "x", "--stats"]).unwrap().summary,
            SummaryMode::Full
        );
        assert_eq!(run(&["-f", "x", "-q"]).unwrap().summary, SummaryMode::Quiet);
        assert_eq!(
            run(&["-f", "x", "--quiet"]).unwrap().summary,
            SummaryMode::Quiet
        );
        let err = run(&["-f", "x", "--stats", "-q"]).unwrap_err();
        assert!(err.0.contains("--stats") && !err.0.contains('\n'), "{err}");
    }

    #[test]
    fn numbers_must_be_positive() {
        assert_eq!(run(&["-f", "x", "-s", "8"]).unwrap().max_streams, 8);
        assert!(run(&["-f", "x", "-s", "zero"]).is_err());
        assert!(run(&["-f", "x", "-s", "0"]).is_err());
    }
}
