//! Bad input from the user: one error type for every module that validates what the user typed
//! (arguments, a log to resume from, a capture, a bisect window). `main` prints it on stderr and
//! exits with status 2, the convention of command-line tools for a usage error.

/// Bad input: reported on stderr with exit status 2.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

impl UsageError {
    /// A usage error with this message.
    pub fn new(msg: impl Into<String>) -> UsageError {
        UsageError(msg.into())
    }
}
