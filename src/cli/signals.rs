//! SIGINT and SIGTERM as a request to stop: live capture ends, every open connection is
//! reported as `truncated` (SPEC §4), and the exit status is 0.
//!
//! The handler only sets an atomic flag (the one thing a signal handler may safely do).
//! It is installed without `SA_RESTART`, so a `poll` in progress returns at once, and with
//! `SA_RESETHAND`, so a second signal, should the first not be enough, ends the process
//! the default way.

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn request_stop(_signal: libc::c_int) {
    STOP.store(true, Ordering::Relaxed);
}

/// Installs the handlers and returns the flag they set.
pub fn stop_on_interrupt() -> io::Result<&'static AtomicBool> {
    for signal in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: `sigaction` is a C struct of integers, a pointer-sized handler and a
        // signal set; all-zero is a valid (empty) value.
        let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
        action.sa_sigaction = request_stop as extern "C" fn(libc::c_int) as libc::sighandler_t;
        action.sa_flags = libc::SA_RESETHAND;
        // SAFETY: `action` is valid, the handler is async-signal-safe (one atomic store),
        // and the old action is not asked for.
        let rc = unsafe { libc::sigaction(signal, &action, std::ptr::null_mut()) };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(&STOP)
}
