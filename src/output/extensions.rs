//! SPEC §7 as one plan: what `-e`, `-U`, `-P` and `%python(...)` ask for. It is checked
//! at start-up ([`Extensions::check`], before the capture opens, so that every mistake is
//! an error before any packet) and started once the capture is open
//! ([`Extensions::start`]).
//!
//! How Python runs as `-U USER`: an embedded interpreter cannot be moved into a child
//! process, so when the run uses Python at all, the whole process switches to USER after
//! the capture has been opened and the interpreter started (it reads its standard library
//! with the invoking user's rights), and before any user code — the `-P` script, the
//! `%python` modules — is loaded. `-e` commands then inherit USER. Without Python only the
//! `-e` children switch, between fork and exec; rustniffer itself keeps its privileges.

use super::command::CommandSink;
use super::python;
use super::user::User;
use super::ExtensionError;
use crate::format::Template;

/// The checked plan.
#[derive(Debug)]
pub struct Extensions {
    execute: Option<String>,
    user: Option<User>,
    /// `-P SCRIPT[:FUNC]`.
    python_function: Option<String>,
    /// The `MODULE[:CLASS]` of each `%python(...)`, in slot order.
    python_handlers: Vec<String>,
}

/// Where records go.
pub enum Output {
    /// Standard output (no `-e`, no `-P`).
    Stdout,
    Command(CommandSink),
    Python(python::FunctionSink),
}

/// The plan, started.
pub struct Started {
    pub output: Output,
    /// The `%python(...)` handlers, when the format has any.
    pub handlers: Option<python::Handlers>,
}

impl Extensions {
    /// Checks the options against each other and against this build, and looks up `-U`'s
    /// user. Errors are one line each.
    pub fn check(
        execute: Option<&str>,
        user: Option<&str>,
        python_function: Option<&str>,
        template: &Template,
    ) -> Result<Extensions, ExtensionError> {
        if execute.is_some() && python_function.is_some() {
            return Err(ExtensionError::Conflict {
                first: "-e (--execute)",
                second: "-P (--python)",
                reason: "each replaces printing",
            });
        }
        let python_handlers: Vec<String> = template.python_handlers().map(str::to_string).collect();
        if python_function.is_some() || !python_handlers.is_empty() {
            python::check_specs(python_function, &python_handlers)?;
        }
        let user = user.map(User::lookup).transpose()?;
        Ok(Extensions {
            execute: execute.map(str::to_string),
            user,
            python_function: python_function.map(str::to_string),
            python_handlers,
        })
    }

    /// No `-e`, `-U`, `-P` nor `%python`.
    pub fn none() -> Extensions {
        Extensions {
            execute: None,
            user: None,
            python_function: None,
            python_handlers: Vec::new(),
        }
    }

    /// Whether Python code runs (`-P` or `%python`).
    pub fn uses_python(&self) -> bool {
        self.python_function.is_some() || !self.python_handlers.is_empty()
    }

    /// Whether records go somewhere other than standard output.
    pub fn replaces_printing(&self) -> bool {
        self.execute.is_some() || self.python_function.is_some()
    }

    /// Starts the plan once the capture is open: starts Python, switches the process to
    /// `-U`'s user if Python runs (see the module comment), loads the user's Python code,
    /// and builds the record output. Errors are one line each.
    pub fn start(self) -> Result<Started, ExtensionError> {
        let uses_python = self.uses_python();
        let mut command_user = self.user;
        if uses_python {
            python::initialize()?;
            if let Some(user) = command_user.take() {
                user.switch_process()?;
            }
        }
        let handlers = if self.python_handlers.is_empty() {
            None
        } else {
            Some(python::Handlers::load(&self.python_handlers)?)
        };
        let output = match (self.execute, self.python_function) {
            (Some(command), _) => Output::Command(CommandSink::new(command, command_user)),
            (None, Some(spec)) => Output::Python(python::FunctionSink::load(&spec)?),
            (None, None) => Output::Stdout,
        };
        Ok(Started { output, handlers })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn template(format: &str) -> Template {
        Template::parse(format).unwrap()
    }

    #[test]
    fn execute_and_python_function_conflict() {
        let err = Extensions::check(Some("cat"), None, Some("x.py"), &template("%source.ip"))
            .unwrap_err();
        assert!(matches!(err, ExtensionError::Conflict { .. }), "{err:?}");
        assert_eq!(
            err.to_string(),
            "-e (--execute) and -P (--python) cannot be used together: each replaces printing"
        );
    }

    #[test]
    fn an_unknown_user_is_refused_at_start_up() {
        let err = Extensions::check(
            Some("cat"),
            Some("no-such-user-rustniffer"),
            None,
            &template("%source.ip"),
        )
        .unwrap_err();
        assert!(matches!(err, ExtensionError::UnknownUser { .. }), "{err:?}");
        assert!(err.to_string().contains("unknown user"), "{err}");
    }

    #[test]
    fn plain_options_need_nothing() {
        let plan = Extensions::check(None, None, None, &template("%source.ip")).unwrap();
        assert!(!plan.uses_python() && !plan.replaces_printing());
        assert!(matches!(plan.start().unwrap().output, Output::Stdout));
    }

    #[cfg(not(feature = "python"))]
    #[test]
    fn python_without_the_feature_names_the_feature() {
        for (function, format) in [(Some("x.py"), "%source.ip"), (None, "%python(m)")] {
            let err = Extensions::check(None, None, function, &template(format)).unwrap_err();
            assert!(matches!(err, ExtensionError::PythonUnavailable), "{err:?}");
            let err = err.to_string();
            assert!(err.contains("feature") && err.contains("python"), "{err}");
        }
    }
}
