//! The engine's async runtime: one current-thread tokio runtime per blocking call. Every engine
//! module that needs to wait on the SDK imports this; nothing here imports them back.

/// Runs an async body on a current-thread tokio runtime. While a [`crate::tty::SigintGuard`]
/// is alive, Ctrl-C ends the wait early with [`crate::tty::Cancelled`] (an STS call that hangs
/// can be given up on, also inside the shell hook).
pub fn block_on<F: std::future::Future>(f: F) -> anyhow::Result<F::Output> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| anyhow::anyhow!("cannot start the async runtime: {e}"))?;
    rt.block_on(async {
        tokio::select! {
            out = f => Ok(out),
            () = until_interrupted() => Err(anyhow::Error::new(crate::tty::Cancelled::new("waiting"))),
        }
    })
}

/// Resolves once Ctrl-C was pressed and the running future had a moment to end by itself:
/// code that watches for Ctrl-C itself (a sign-in waiting for the browser) says better what
/// was cancelled.
async fn until_interrupted() {
    while !crate::tty::interrupted() {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
}
