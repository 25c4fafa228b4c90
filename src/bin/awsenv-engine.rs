//! `awsenv-engine`: every awsenv command that needs the credential engine. Users run it through
//! `awsenv`, which hands over by execve.

fn main() {
    std::process::exit(awsenv::app::run());
}
