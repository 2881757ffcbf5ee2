//! Exit codes, as one enum.

/// How `sandmap` exits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Every record succeeded.
    Success,
    /// At least one record failed.
    RecordsFailed,
    /// Usage error, or a plugin or input that cannot be loaded.
    Usage,
    /// Stopped by a signal (re-raised after cleanup, so the shell sees
    /// 128 + the signal's number).
    Signal(i32),
}

impl Exit {
    /// The numeric exit code.
    pub fn code(self) -> u8 {
        match self {
            Exit::Success => 0,
            Exit::RecordsFailed => 1,
            Exit::Usage => 2,
            Exit::Signal(signal) => (128 + signal).clamp(0, 255) as u8,
        }
    }
}
