//! Why SPEC §7 (`-e`, `-U`, `-P`, `%python(...)`) could not be checked or started:
//! [`ExtensionError`]. Every error displays as one line that names the option at fault.

use std::fmt;
use std::io;

/// An error of `-e`, `-U`, `-P` or `%python(...)`, at start-up ([`super::Extensions`]).
#[derive(Debug)]
pub enum ExtensionError {
    /// Two options that cannot be used together (`-e` with `-P`).
    Conflict {
        first: &'static str,
        second: &'static str,
        reason: &'static str,
    },
    /// `-U NAME`: there is no such user (or no user can have this name).
    UnknownUser { name: String },
    /// `-U NAME`: the user database could not be read.
    UserLookup { name: String, source: io::Error },
    /// `-U NAME`: the user's groups could not be listed.
    UserGroups { name: String, source: io::Error },
    /// `-U NAME` in a process without root privileges, which could not switch users.
    NotRoot { name: String, euid: libc::uid_t },
    /// `-U`: switching the process to the user failed.
    SwitchUser { user: String, source: io::Error },
    /// `-U`: root privileges could still be regained after switching to the user.
    PrivilegesRegainable { user: String },
    /// `-P` or `%python(...)` in a build without the cargo feature `python`.
    PythonUnavailable,
    /// `-P SCRIPT[:FUNC]` without a script path.
    MissingScript { spec: String },
    /// A `%python(MODULE[:CLASS])` of the wrong form.
    PythonSpec { spec: String, reason: SpecProblem },
    /// The interpreter raised an exception while `what` was done; `message` is the
    /// exception on one line.
    Python { what: PythonStep, message: String },
    /// `-P SCRIPT:FUNC`: the script has no `FUNC`.
    NoFunction { spec: String, function: String },
    /// `-P SCRIPT:FUNC`: `FUNC` cannot be called.
    NotAFunction { spec: String, function: String },
    /// `%python(MODULE:CLASS)`: the module has no `CLASS`.
    NoClass {
        spec: String,
        module: String,
        class: String,
    },
    /// `%python(MODULE:CLASS)`: `CLASS` cannot be called.
    NotAClass {
        spec: String,
        module: String,
        class: String,
    },
}

/// What is wrong with the form of a `%python(MODULE[:CLASS])`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SpecProblem {
    /// Nothing before the `:`.
    MissingModule,
    /// What follows the `:` is not an identifier.
    NotAClassName { class: String },
}

/// What the interpreter was doing when it raised the exception of
/// [`ExtensionError::Python`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PythonStep {
    /// Starting the interpreter and setting up its module search path.
    Start,
    /// Running the `-P` script at `path`.
    LoadScript { path: String },
    /// Looking up the function of `-P spec`.
    FindFunction { spec: String },
    /// Importing `module` for `%python(spec)`.
    Import { spec: String, module: String },
    /// Looking up the class of `%python(spec)`.
    FindClass { spec: String },
}

impl fmt::Display for ExtensionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExtensionError::Conflict {
                first,
                second,
                reason,
            } => write!(f, "{first} and {second} cannot be used together: {reason}"),
            ExtensionError::UnknownUser { name } => write!(f, "-U: unknown user '{name}'"),
            ExtensionError::UserLookup { name, source } => {
                write!(f, "-U: looking up user '{name}': {source}")
            }
            ExtensionError::UserGroups { name, source } => {
                write!(f, "-U: listing the groups of user '{name}': {source}")
            }
            ExtensionError::NotRoot { name, euid } => write!(
                f,
                "-U {name}: running commands and Python code as another user needs root privileges (running as uid {euid})"
            ),
            ExtensionError::SwitchUser { user, source } => {
                write!(f, "-U {user}: cannot switch to this user: {source}")
            }
            ExtensionError::PrivilegesRegainable { user } => write!(
                f,
                "-U {user}: root privileges could still be regained after switching"
            ),
            ExtensionError::PythonUnavailable => f.write_str(
                "Python support (-P, %python) is not in this build: rebuild with the cargo feature 'python' (cargo build --release --features python)",
            ),
            ExtensionError::MissingScript { .. } => f.write_str("-P: the script path is missing"),
            ExtensionError::PythonSpec { spec, reason } => match reason {
                SpecProblem::MissingModule => {
                    write!(f, "%python({spec}): the module name is missing")
                }
                SpecProblem::NotAClassName { class } => {
                    write!(f, "%python({spec}): '{class}' is not a class name")
                }
            },
            ExtensionError::Python { what, message } => write!(f, "{what}: {message}"),
            ExtensionError::NoFunction { spec, function } => {
                write!(f, "-P {spec}: the script defines no '{function}'")
            }
            ExtensionError::NotAFunction { spec, function } => {
                write!(f, "-P {spec}: '{function}' is not a function")
            }
            ExtensionError::NoClass {
                spec,
                module,
                class,
            } => write!(f, "%python({spec}): module '{module}' has no '{class}'"),
            ExtensionError::NotAClass {
                spec,
                module,
                class,
            } => write!(f, "%python({spec}): '{module}.{class}' is not a class"),
        }
    }
}

impl fmt::Display for PythonStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PythonStep::Start => f.write_str("starting Python"),
            PythonStep::LoadScript { path } => write!(f, "-P {path}"),
            PythonStep::FindFunction { spec } => write!(f, "-P {spec}"),
            PythonStep::Import { spec, module } => {
                write!(f, "%python({spec}): cannot import '{module}'")
            }
            PythonStep::FindClass { spec } => write!(f, "%python({spec})"),
        }
    }
}

impl std::error::Error for ExtensionError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ExtensionError::UserLookup { source, .. }
            | ExtensionError::UserGroups { source, .. }
            | ExtensionError::SwitchUser { source, .. } => Some(source),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_error_is_one_line_naming_its_option() {
        let errors = [
            ExtensionError::Conflict {
                first: "-e (--execute)",
                second: "-P (--python)",
                reason: "each replaces printing",
            },
            ExtensionError::UserLookup {
                name: "u".into(),
                source: io::Error::from_raw_os_error(libc::EIO),
            },
            ExtensionError::NotRoot {
                name: "u".into(),
                euid: 1000,
            },
            ExtensionError::PythonUnavailable,
            ExtensionError::MissingScript { spec: ":f".into() },
            ExtensionError::Python {
                what: PythonStep::Import {
                    spec: "m:C".into(),
                    module: "m".into(),
                },
                message: "ModuleNotFoundError: No module named 'm'".into(),
            },
        ];
        for e in &errors {
            let text = e.to_string();
            assert!(!text.contains('\n'), "{text}");
            assert!(
                text.starts_with('-') || text.starts_with('%') || text.starts_with("Python"),
                "{text}"
            );
        }
        assert_eq!(
            errors[5].to_string(),
            "%python(m:C): cannot import 'm': ModuleNotFoundError: No module named 'm'"
        );
        assert!(std::error::Error::source(&errors[1]).is_some());
    }
}
