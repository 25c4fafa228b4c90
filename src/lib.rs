//! awsenv: AWS credentials in your shell.
//!
//! Two layers, pointing one way:
//! - the hot path (the per-prompt hook and the prompt segment): [`shell`], [`timefmt`],
//!   [`envstate`], [`activation`], [`fastpath`] (the hooks' no-fork check), [`prompt`], [`hook`],
//!   [`sanitize`] (the one sanitiser of outside text on its way to a terminal), [`platform`]
//!   (everything Linux-specific, with the macOS/BSD equivalents named) — no AWS SDK, no secret
//!   store, no async runtime. The front binary (`src/main.rs`) uses only these.
//! - the credential engine: [`settings`], [`awsconfig`], [`store`], [`sts`],
//!   [`credcheck`] (the one validator of credentials from any source), [`http`] (the one HTTPS
//!   client builder outside the SDK), [`exitcode`] (statuses passed on from commands), [`configedit`] (the one
//!   editor of the user's AWS config file), [`resolve`], [`mfa`], [`tty`], [`listener`] (the
//!   hardened loopback HTTP listener of the credential endpoint and the browser sign-ins),
//!   [`browser`] (opening a browser, and what it may be handed), [`server`], [`runtime`],
//!   [`rotate`] (key rotation), [`picker`] (the interactive profile picker), [`overlay`] (the
//!   `AWS_CONFIG_FILE` overlay serving every profile through `credential-process`), [`sso`] (IAM
//!   Identity Center), and the command implementations
//!   in [`commands`], driven by [`cli`] and [`app`] in the `awsenv-engine` binary.

pub mod activation;
pub mod envstate;
pub mod fastpath;
pub mod hook;
pub mod platform;
pub mod prompt;
pub mod safefile;
pub mod sanitize;
pub mod shell;
pub mod timefmt;

pub mod app;
pub mod awsconfig;
pub mod browser;
pub mod cli;
pub mod commands;
pub mod configedit;
pub mod credcheck;
pub mod exitcode;
pub mod http;
pub mod keyid;
pub mod listener;
pub mod mfa;
pub mod netconf;
pub mod overlay;
pub mod overlaysync;
pub mod picker;
pub mod resolve;
pub mod rotate;
pub mod runtime;
pub mod server;
pub mod settings;
pub mod source;
pub mod sso;
pub mod store;
pub mod sts;
pub mod tty;
