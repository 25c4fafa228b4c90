//! The engine's async runtime: one current-thread tokio runtime per blocking call. Every engine
//! module that needs to wait on the SDK imports this; nothing here imports them back.

/// Runs an async body on a current-thread tokio runtime.
pub fn block_on<F: std::future::Future>(f: F) -> anyhow::Result<F::Output> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| anyhow::anyhow!("cannot start the async runtime: {e}"))?;
    Ok(rt.block_on(f))
}
