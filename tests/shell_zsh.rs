//! The direnv-style scenarios (see `tests/shells/mod.rs`) in an interactive zsh driven through
//! a pseudo-terminal (tmux), with the hook installed from the rc file. One moto for the file.

mod common;
mod shells;

#[test]
fn zsh_scenarios() {
    shells::run_all(shells::Kind::Zsh, shells::ALL);
}
