//! Times `overlay::generate` on an AWS config of 1,000 role profiles (for scripts/bench-overlay):
//! the median of 200 runs, in milliseconds. The file write is skipped when the content is
//! unchanged and costs one small write otherwise.
use std::time::Instant;

fn main() {
    let mut text = String::from("[profile calvin]\nregion = us-east-2\n");
    for i in 1..=1000 {
        text.push_str(&format!(
            "\n[profile p{i}]\nregion = eu-west-1\nrole_arn = arn:aws:iam::123456789012:role/r{i}\nsource_profile = calvin\nmfa_serial = arn:aws:iam::111111111111:mfa/calvin\n"
        ));
    }
    let mut times = Vec::new();
    let mut served = 0;
    for _ in 0..200 {
        let t = Instant::now();
        let (out, s) = awsenv::overlay::generate(&text, "/usr/local/bin/awsenv");
        times.push(t.elapsed().as_secs_f64() * 1000.0);
        served = s.len();
        std::hint::black_box(out);
    }
    times.sort_by(f64::total_cmp);
    println!(
        "overlay for {served} served profiles ({} KiB config): median {:.3} ms, max {:.3} ms (budget 5 ms)",
        text.len() / 1024,
        times[times.len() / 2],
        times[times.len() - 1]
    );
}
