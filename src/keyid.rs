//! How awsenv shows an access key id: masked, its last four characters only — the one form
//! `list`, `status` and `rotate` print.

/// The last four characters of an access key id, the rest masked: `****MPLE`.
pub fn masked(id: &str) -> String {
    let tail: String = id
        .chars()
        .rev()
        .take(4)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    format!("****{tail}")
}
