//! The direnv-style scenarios (see `tests/shells/mod.rs`) in an interactive bash driven through
//! a pseudo-terminal (tmux), with the hook installed from the rc file. One moto for the file.

mod common;
mod shells;

#[test]
fn bash_scenarios() {
    shells::run_all(shells::Kind::Bash, shells::ALL);
}
