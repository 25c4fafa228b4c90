//! awsenv: AWS credentials in your shell.
//!
//! Two layers, pointing one way:
//! - the hot path (the per-prompt hook and the prompt segment): [`shell`], [`timefmt`],
//!   [`envstate`], [`activation`], [`fastpath`] (the hooks' no-fork check), [`prompt`], [`hook`] — no AWS SDK, no secret store, no
//!   async runtime. The front binary (`src/main.rs`) uses only these.
//! - the credential engine: [`settings`], [`awsconfig`], [`store`], [`sts`], [`resolve`],
//!   [`mfa`], [`tty`], [`server`], [`runtime`], [`rotate`] (key rotation), [`sso`] (IAM
//!   Identity Center), and the command implementations in [`commands`], driven by [`cli`] and
//!   [`app`] in the `awsenv-engine` binary.

pub mod activation;
pub mod envstate;
pub mod fastpath;
pub mod hook;
pub mod prompt;
pub mod safefile;
pub mod shell;
pub mod timefmt;

pub mod app;
pub mod awsconfig;
pub mod cli;
pub mod commands;
pub mod mfa;
pub mod resolve;
pub mod rotate;
pub mod runtime;
pub mod server;
pub mod settings;
pub mod sso;
pub mod store;
pub mod sts;
pub mod tty;
