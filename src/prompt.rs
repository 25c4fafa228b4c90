//! The prompt segment: `calvin 42m`, `calvin expired`, or nothing. Reads only the environment.

use crate::timefmt;

/// The default format of `awsenv prompt`.
pub const DEFAULT_FORMAT: &str = "{profile} {remaining}";

/// Renders the segment from the environment at time `now` (epoch seconds); empty when no
/// profile is active. Placeholders: `{profile}`, `{region}`, `{remaining}`, `{expiration}`.
pub fn render(format: &str, now: i64) -> String {
    let var = |n: &str| std::env::var(n).ok().filter(|v| !v.is_empty());
    let Some(profile) = var(crate::envstate::PROFILE).or_else(|| var("AWS_VAULT")) else {
        return String::new();
    };
    let expiration = var("AWS_CREDENTIAL_EXPIRATION");
    let remaining = match expiration.as_deref().and_then(timefmt::parse_rfc3339) {
        Some(at) if at > now => timefmt::remaining(at - now),
        Some(_) => "expired".to_string(),
        None => String::new(),
    };
    let region = var("AWS_REGION")
        .or_else(|| var("AWS_DEFAULT_REGION"))
        .unwrap_or_default();
    let out = format
        .replace("{profile}", &profile)
        .replace("{region}", &region)
        .replace("{remaining}", &remaining)
        .replace("{expiration}", expiration.as_deref().unwrap_or(""));
    out.trim().to_string()
}
