//! Exit statuses awsenv passes on from a command it runs (`exec`, `exec --server`): the shell's
//! own 127 (not found) and 126 (found but not runnable) when the command cannot be started.

/// A command that could not be started, with the status to end with.
#[derive(Debug)]
pub struct CannotRun {
    /// The exit status to end with.
    pub code: i32,
    message: String,
}

impl std::fmt::Display for CannotRun {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for CannotRun {}

/// The error for `program`, which could not be started (`err`).
pub fn cannot_run(program: &std::ffi::OsStr, err: std::io::Error) -> anyhow::Error {
    let shown = crate::sanitize::printable(program.as_encoded_bytes(), 200);
    let (code, message) = match err.kind() {
        std::io::ErrorKind::NotFound => (127, format!("{shown}: command not found")),
        _ => (126, format!("cannot run {shown}: {err}")),
    };
    anyhow::Error::new(CannotRun { code, message })
}
