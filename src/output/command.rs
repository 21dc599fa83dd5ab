//! `-e CMD` (SPEC §7): each record goes to a fresh `/bin/sh -c CMD` on its standard input,
//! exactly the bytes that would have been printed. The command's standard output and error
//! are rustniffer's own. Commands run one at a time — the next record waits for the
//! previous command to exit — so their outputs never interleave.
//!
//! A command that fails, cannot start, or stops reading its input early is reported on
//! standard error (one line) and the run goes on: nothing a command does stops the capture.
//! Only the first [`SHOWN_FAILURES`] failures get a line; all are counted, and the total
//! is in the end-of-run summary.

use std::io::{self, Write};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::Arc;

use super::user::User;
use super::{warn, RecordSink};

/// The shell that runs `-e` commands.
const SHELL: &str = "/bin/sh";

/// Failures reported one by one; the rest are only counted.
pub const SHOWN_FAILURES: u64 = 10;

/// Runs a command per record.
pub struct CommandSink {
    command: String,
    /// Switched to in the child before exec (`-U`).
    user: Option<Arc<User>>,
    failures: u64,
}

impl CommandSink {
    pub fn new(command: String, user: Option<User>) -> Self {
        CommandSink {
            command,
            user: user.map(Arc::new),
            failures: 0,
        }
    }

    /// Counts a failure and, for the first [`SHOWN_FAILURES`], says it.
    fn failed(&mut self, what: std::fmt::Arguments<'_>) {
        self.failures += 1;
        match self.failures {
            n if n < SHOWN_FAILURES => warn(what),
            SHOWN_FAILURES => warn(format_args!(
                "{what} (further failures are only counted, in the summary at exit)"
            )),
            _ => {}
        }
    }

    /// Runs the command once with `record` on its standard input, until it exits.
    fn run(&self, record: &[u8]) -> io::Result<ExitStatus> {
        let mut command = Command::new(SHELL);
        command
            .arg("-c")
            .arg(&self.command)
            // Never the capture (`-f -` reads it from our standard input).
            .stdin(Stdio::piped());
        if let Some(user) = &self.user {
            let user = Arc::clone(user);
            // SAFETY: the closure runs in the forked child before exec. It only makes the
            // async-signal-safe calls setgroups/setgid/setuid on memory allocated before
            // the fork, and allocates nothing.
            unsafe {
                command.pre_exec(move || user.switch_to());
            }
        }
        let mut child = command.spawn()?;
        if let Some(mut input) = child.stdin.take() {
            match input.write_all(record) {
                // The command closed its input early (`head -c1`, `true`): its choice.
                Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {}
                Err(e) => warn(format_args!(
                    "-e: writing the record to command '{}': {e}",
                    self.command
                )),
                Ok(()) => {}
            }
            // Dropping the pipe gives the command its end of input.
        }
        child.wait()
    }
}

impl RecordSink for CommandSink {
    fn record(&mut self, bytes: &[u8]) -> io::Result<()> {
        match self.run(bytes) {
            Ok(status) if status.success() => {}
            Ok(status) => {
                let command = self.command.clone();
                self.failed(format_args!("-e: command '{command}' {}", describe(status)));
            }
            Err(e) => {
                let command = self.command.clone();
                self.failed(format_args!("-e: cannot run command '{command}': {e}"));
            }
        }
        Ok(())
    }

    /// Commands that failed or could not be started so far.
    fn failures(&self) -> u64 {
        self.failures
    }
}

/// "exited with status N" or "was killed by signal N".
fn describe(status: ExitStatus) -> String {
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exited with status {code}"),
        (None, Some(signal)) => format!("was killed by signal {signal}"),
        (None, None) => format!("ended abnormally ({status})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failing_command_is_counted_and_the_next_record_still_runs() {
        let mut sink = CommandSink::new("read line; [ \"$line\" = ok ]".into(), None);
        sink.record(b"bad\n").unwrap();
        sink.record(b"ok\n").unwrap();
        assert_eq!(sink.failures(), 1);
    }

    #[test]
    fn a_command_that_ignores_a_large_record_does_not_stop_the_run() {
        let mut sink = CommandSink::new("exec true".into(), None);
        let big = vec![b'x'; 4 << 20];
        sink.record(&big).unwrap();
        assert_eq!(sink.failures(), 0);
    }

    #[test]
    fn exit_statuses_are_described() {
        assert_eq!(
            describe(ExitStatus::from_raw(3 << 8)),
            "exited with status 3"
        );
        assert_eq!(describe(ExitStatus::from_raw(9)), "was killed by signal 9");
    }
}
