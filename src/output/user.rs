//! `-U USER` (SPEC §7): the user `-e` commands and Python code run as. The user is looked
//! up once at start-up (uid, primary group, supplementary groups); switching to it happens
//! either in an `-e` child between fork and exec, or once in the whole process before any
//! Python code runs (see [`crate::output::Extensions::start`]).

use std::ffi::{CStr, CString};
use std::io;

use super::ExtensionError;

/// Largest buffer offered to `getpwnam_r` (a passwd entry is a few hundred bytes).
const MAX_PASSWD_BUFFER: usize = 1 << 20;
/// Most supplementary groups accepted (Linux `NGROUPS_MAX` is 65536).
const MAX_GROUPS: usize = 65536;

/// A user to switch to, resolved at start-up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    pub name: String,
    pub uid: libc::uid_t,
    pub gid: libc::gid_t,
    /// Supplementary groups, as `getgrouplist` gives them (the primary group included).
    pub groups: Vec<libc::gid_t>,
}

impl User {
    /// Looks `name` up. Errors (one line each): an unknown user, or a process without
    /// root privileges, which could not switch to another user.
    pub fn lookup(name: &str) -> Result<User, ExtensionError> {
        let unknown = || ExtensionError::UnknownUser {
            name: name.to_string(),
        };
        let c_name = CString::new(name).map_err(|_| unknown())?;
        let (uid, gid) = passwd_ids(&c_name)
            .map_err(|source| ExtensionError::UserLookup {
                name: name.to_string(),
                source,
            })?
            .ok_or_else(unknown)?;
        let groups = group_list(&c_name, gid).map_err(|source| ExtensionError::UserGroups {
            name: name.to_string(),
            source,
        })?;
        // SAFETY: geteuid has no preconditions and cannot fail.
        let euid = unsafe { libc::geteuid() };
        if euid != 0 {
            return Err(ExtensionError::NotRoot {
                name: name.to_string(),
                euid,
            });
        }
        Ok(User {
            name: name.to_string(),
            uid,
            gid,
            groups,
        })
    }

    /// Switches the calling process to this user: supplementary groups, group, then user
    /// (in that order: once the uid is dropped the others are no longer permitted).
    ///
    /// Allocates nothing and makes only async-signal-safe calls, so it may run in a
    /// forked child before exec ([`std::os::unix::process::CommandExt::pre_exec`]).
    pub fn switch_to(&self) -> io::Result<()> {
        // SAFETY: `groups` points to `groups.len()` initialised gids that outlive the call.
        if unsafe { libc::setgroups(self.groups.len(), self.groups.as_ptr()) } != 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: plain system calls on integer arguments.
        if unsafe { libc::setgid(self.gid) } != 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: as above.
        if unsafe { libc::setuid(self.uid) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// [`User::switch_to`] for the whole process, for good: afterwards root privileges
    /// must be out of reach, which is checked.
    pub fn switch_process(&self) -> Result<(), ExtensionError> {
        self.switch_to()
            .map_err(|source| ExtensionError::SwitchUser {
                user: self.name.clone(),
                source,
            })?;
        // SAFETY: plain system call; on success it would restore root, which is the error
        // this check exists to catch.
        if self.uid != 0 && unsafe { libc::setuid(0) } == 0 {
            return Err(ExtensionError::PrivilegesRegainable {
                user: self.name.clone(),
            });
        }
        Ok(())
    }
}

/// The uid and primary gid of user `name`, `None` if there is no such user.
fn passwd_ids(name: &CStr) -> io::Result<Option<(libc::uid_t, libc::gid_t)>> {
    let mut buffer: Vec<libc::c_char> = vec![0; 1024];
    loop {
        // SAFETY: `passwd` is plain old data (integers and pointers); all-zero is a valid
        // value, and getpwnam_r overwrites it.
        let mut entry: libc::passwd = unsafe { std::mem::zeroed() };
        let mut found: *mut libc::passwd = std::ptr::null_mut();
        // SAFETY: every pointer is valid for the call and `buffer.len()` is its true size;
        // the strings getpwnam_r stores in `entry` point into `buffer`, unused after it.
        let rc = unsafe {
            libc::getpwnam_r(
                name.as_ptr(),
                &mut entry,
                buffer.as_mut_ptr(),
                buffer.len(),
                &mut found,
            )
        };
        match rc {
            0 if found.is_null() => return Ok(None),
            0 => return Ok(Some((entry.pw_uid, entry.pw_gid))),
            libc::ERANGE if buffer.len() < MAX_PASSWD_BUFFER => {
                buffer.resize(buffer.len() * 2, 0);
            }
            // getpwnam_r(3): these also mean "no such user" on some systems.
            libc::ENOENT | libc::ESRCH | libc::EBADF | libc::EPERM => return Ok(None),
            errno => return Err(io::Error::from_raw_os_error(errno)),
        }
    }
}

/// The groups of user `name` whose primary group is `gid`.
fn group_list(name: &CStr, gid: libc::gid_t) -> io::Result<Vec<libc::gid_t>> {
    let mut groups: Vec<libc::gid_t> = vec![0; 64];
    loop {
        let mut count = libc::c_int::try_from(groups.len()).unwrap_or(libc::c_int::MAX);
        // SAFETY: `groups` has room for `count` gids; getgrouplist writes at most that
        // many and stores the number of groups (found, or needed) in `count`.
        let rc = unsafe { libc::getgrouplist(name.as_ptr(), gid, groups.as_mut_ptr(), &mut count) };
        let count = usize::try_from(count).unwrap_or(0);
        if rc >= 0 {
            groups.truncate(count.min(groups.len()));
            return Ok(groups);
        }
        let wanted = count.max(groups.len() * 2);
        if wanted > MAX_GROUPS {
            return Err(io::Error::other(format!("more than {MAX_GROUPS} groups")));
        }
        groups.resize(wanted, 0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_user_is_an_error_naming_it() {
        let err = User::lookup("no-such-user-rustniffer").unwrap_err();
        assert!(
            matches!(&err, ExtensionError::UnknownUser { name } if name == "no-such-user-rustniffer")
        );
        let err = err.to_string();
        assert!(
            err.contains("unknown user 'no-such-user-rustniffer'"),
            "{err}"
        );
        assert!(matches!(
            User::lookup("nul\0byte"),
            Err(ExtensionError::UnknownUser { .. })
        ));
    }

    #[test]
    fn root_resolves_with_its_groups_when_running_as_root() {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            let err = User::lookup("root").unwrap_err().to_string();
            assert!(err.contains("needs root privileges"), "{err}");
            return;
        }
        let root = User::lookup("root").unwrap();
        assert_eq!((root.uid, root.gid), (0, 0));
        assert!(root.groups.contains(&0));
    }
}
