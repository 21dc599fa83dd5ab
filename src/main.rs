//! The `rustniffer` command: parse options, run, turn errors into one line and exit 1.

use std::io::Write;
use std::process::ExitCode;

use rustniffer::capture::CaptureError;
use rustniffer::cli::{self, Request, SummaryMode};
use rustniffer::format::keywords_help;
use rustniffer::run;

/// See Cargo.toml for why the binary does not use the system allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    // With no option at all and no way to capture live, a short usage says what to run.
    let bare = std::env::args_os().len() <= 1;
    let request = match cli::parse(std::env::args_os().skip(1), keywords_help()) {
        Ok(r) => r,
        Err(e) if e.points_to_help() => {
            eprintln!("rustniffer: {e} (see 'rustniffer --help')");
            return ExitCode::from(1);
        }
        Err(e) => {
            eprintln!("rustniffer: {e}");
            return ExitCode::from(1);
        }
    };
    let options = match request {
        Request::Help(text) => {
            print!("{text}");
            return ExitCode::SUCCESS;
        }
        Request::Version(text) => {
            println!("{text}");
            return ExitCode::SUCCESS;
        }
        Request::Run(options) => options,
    };
    match run::run(&options) {
        Ok(summary) => {
            // A closed standard error must not turn a finished run into a panic.
            let mut err = std::io::stderr().lock();
            if options.summary != SummaryMode::Quiet {
                for note in &summary.notes {
                    let _ = writeln!(err, "rustniffer: {note}");
                }
            }
            for line in cli::summary::render(&summary.stats, options.summary) {
                let _ = writeln!(err, "{line}");
            }
            ExitCode::SUCCESS
        }
        // Every capture error of a run on the default interface is about starting it.
        Err(run::RunError::Capture(e)) if bare && options.input == cli::Input::DefaultInterface => {
            eprint!("{}", cli::short_usage(&live_reason(&e)));
            ExitCode::from(1)
        }
        Err(e) => {
            eprintln!("rustniffer: {e}");
            ExitCode::from(1)
        }
    }
}

/// Why live capture could not start, in a few words for the short usage.
fn live_reason(e: &CaptureError) -> String {
    match e {
        CaptureError::NoDefaultInterface => "no network interface is up".to_string(),
        CaptureError::NotPermitted { .. } => "it needs root or CAP_NET_RAW".to_string(),
        CaptureError::LiveUnsupported => "live capture needs Linux".to_string(),
        other => other.to_string(),
    }
}
