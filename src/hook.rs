//! The shell init templates (`shell/`), one per shell, embedded in the binary and printed by
//! `awsenv hook SHELL` with the path of the `awsenv` executable filled in.

use crate::shell::{Shell, fish_quote, posix_quote};

const BASH: &str = include_str!("../shell/awsenv.bash");
const ZSH: &str = include_str!("../shell/awsenv.zsh");
const FISH: &str = include_str!("../shell/awsenv.fish");

/// The placeholder in the templates replaced by the quoted path of `awsenv`.
pub const PLACEHOLDER: &str = "__AWSENV_EXE__";

/// Renders the init script for `shell` (bash, zsh or fish) calling the executable at `exe`.
pub fn render(shell: Shell, exe: &str) -> String {
    let mut q = Vec::new();
    let template = match shell {
        Shell::Fish => {
            fish_quote(&mut q, exe.as_bytes());
            FISH
        }
        Shell::Zsh => {
            posix_quote(&mut q, exe.as_bytes());
            ZSH
        }
        _ => {
            posix_quote(&mut q, exe.as_bytes());
            BASH
        }
    };
    template.replace(PLACEHOLDER, &String::from_utf8_lossy(&q))
}
