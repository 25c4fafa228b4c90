//! The picker's rows (what each profile resolves to, read from the AWS config alone) and their
//! order: frecency or by name, then fuzzy matching over every column at once.

use nucleo_matcher::pattern::{CaseMatching, Normalization, Pattern};
use nucleo_matcher::{Config, Matcher, Utf32String};

use crate::awsconfig::AwsConfig;

/// The columns of a row that the filter matches, in order.
pub const COLUMNS: usize = 6;

/// One profile as the picker shows it.
#[derive(Clone, Debug)]
pub struct Row {
    /// The profile name as the config spells it (to resolve; shown as `cols[0]`).
    pub profile: String,
    /// The columns shown and matched: profile, account id, account name, role, region,
    /// credential source.
    pub cols: [String; COLUMNS],
    /// When the cached session recorded for the profile expires (epoch seconds), if known.
    pub expires: Option<i64>,
    /// For a role the AWS access portal offers that no profile names yet: the sign-in
    /// (`[sso-session]` name or start URL) that offers it.
    pub unconfigured: Option<String>,
    haystack: Utf32String,
    /// Where each column starts in the haystack (in characters).
    starts: [u32; COLUMNS],
}

impl Row {
    /// A row from its columns (`cols[0]` is the profile name).
    pub fn new(cols: [String; COLUMNS], expires: Option<i64>) -> Row {
        let profile = cols[0].clone();
        let cols = cols.map(|c| crate::sanitize::line(c.as_bytes(), 64));
        let mut text = String::new();
        let mut starts = [0u32; COLUMNS];
        for (i, c) in cols.iter().enumerate() {
            starts[i] = text.chars().count() as u32;
            text.push_str(c);
            text.push(' ');
        }
        Row {
            profile,
            haystack: Utf32String::from(text.as_str()),
            cols,
            expires,
            unconfigured: None,
            starts,
        }
    }

    /// The character positions within column `col` that `matched` (haystack positions) covers.
    pub fn matched_in(&self, col: usize, matched: &[u32]) -> Vec<usize> {
        let start = self.starts[col];
        let end = start + self.cols[col].chars().count() as u32;
        matched
            .iter()
            .filter(|&&i| i >= start && i < end)
            .map(|&i| (i - start) as usize)
            .collect()
    }
}

/// The 12-digit account id and the role name in a role ARN.
fn arn_parts(arn: &str) -> (String, String) {
    let mut parts = arn.splitn(6, ':');
    let account = parts.nth(4).unwrap_or_default().to_string();
    let role = parts
        .next()
        .and_then(|r| r.rsplit('/').next())
        .unwrap_or_default()
        .to_string();
    (account, role)
}

/// The rows of every profile in `config`, by name. `account_names` maps account ids to names
/// (from a cache); a profile's own `account_alias` wins. Nothing here opens the secret store or
/// the network.
pub fn from_config(
    config: &AwsConfig,
    account_names: &std::collections::BTreeMap<String, String>,
    expires: &dyn Fn(&str) -> Option<i64>,
) -> Vec<Row> {
    config
        .names()
        .into_iter()
        .map(|name| {
            let chain = config.chain(&name).unwrap_or_default();
            let last = chain.last();
            let root = chain.first();
            let get = |k: &str| last.and_then(|p| p.get(k)).map(str::to_string);
            let (mut account, mut role) =
                get("role_arn").map(|a| arn_parts(&a)).unwrap_or_default();
            if let (Some(a), Some(r)) = (get("sso_account_id"), get("sso_role_name")) {
                (account, role) = (a, r);
            }
            let region = chain
                .iter()
                .rev()
                .find_map(|p| p.get("region"))
                .unwrap_or_default()
                .to_string();
            let source = match root {
                Some(p) if crate::sso::config::is_sso(p) => "sso",
                Some(p) if p.get("credential_process").is_some() => "credential_process",
                Some(p) if p.get(crate::source::login::KEY).is_some() => "aws login",
                Some(p) if config.has_static_keys(&p.name) => "plaintext keys",
                _ => "stored keys",
            };
            let account_name = get("account_alias")
                .or_else(|| account_names.get(&account).cloned())
                .unwrap_or_default();
            let left = expires(&name);
            Row::new(
                [
                    name,
                    account,
                    account_name,
                    role,
                    region,
                    source.to_string(),
                ],
                left,
            )
        })
        .collect()
}

/// Rows for the roles the portal offered (at the last `sso profiles`) that no profile in
/// `config` names yet, marked, after `rows`.
pub fn add_offered(rows: &mut Vec<Row>, config: &AwsConfig, cache: &crate::sso::offered::Cache) {
    let configured: std::collections::BTreeSet<(String, String)> = rows
        .iter()
        .filter(|r| r.cols[5] == "sso")
        .map(|r| (r.cols[1].clone(), r.cols[3].clone()))
        .collect();
    for (session, offered) in &cache.sessions {
        for o in offered {
            let key = (o.account_id.clone(), o.role.clone());
            if configured.contains(&key) || config.has(&o.profile) {
                continue;
            }
            let mut r = Row::new(
                [
                    o.profile.clone(),
                    o.account_id.clone(),
                    o.account_name.clone(),
                    o.role.clone(),
                    String::new(),
                    "sso, not in config".to_string(),
                ],
                None,
            );
            r.unconfigured = Some(session.clone());
            rows.push(r);
        }
    }
}

/// How much a profile's pick history weighs: `count` picks, the last at `last`, now `now`
/// (all epoch seconds); recent picks count more, as zoxide and granted do.
pub fn frecency(count: u32, last: i64, now: i64) -> f64 {
    let age = now.saturating_sub(last);
    let weight = if age < 3600 {
        4.0
    } else if age < 86_400 {
        2.0
    } else if age < 7 * 86_400 {
        1.0
    } else {
        0.25
    };
    f64::from(count) * weight
}

/// Sorts `rows` (already by name) by `score` (highest first), ties by name.
pub fn order_by(rows: &mut [Row], score: &dyn Fn(&str) -> f64) {
    rows.sort_by(|a, b| {
        score(&b.profile)
            .partial_cmp(&score(&a.profile))
            .unwrap_or(std::cmp::Ordering::Equal)
            .then_with(|| a.profile.cmp(&b.profile))
    });
}

/// A fuzzy filter over the rows: space-separated words, each matched fuzzily against all
/// columns at once, case-insensitive unless the word has capitals.
pub struct Filter {
    matcher: Matcher,
    pattern: Pattern,
    query: String,
    /// The query [`Filter::matches`] last ranked, with the rows it matched (indices, best
    /// first) and how many rows there were: a query that only appends characters to it can
    /// match no other rows, so only those are ranked again.
    last: Option<(String, usize, Vec<usize>)>,
}

impl Default for Filter {
    fn default() -> Self {
        Filter::new()
    }
}

impl Filter {
    /// A filter with an empty query.
    pub fn new() -> Filter {
        Filter {
            matcher: Matcher::new(Config::DEFAULT),
            pattern: Pattern::default(),
            query: String::new(),
            last: None,
        }
    }

    /// Sets the query.
    pub fn set_query(&mut self, query: &str) {
        if query != self.query {
            self.pattern
                .reparse(query, CaseMatching::Smart, Normalization::Smart);
            self.query = query.to_string();
        }
    }

    /// The indices of the matching rows, best match first, ties in the rows' order.
    pub fn matches(&mut self, rows: &[Row]) -> Vec<usize> {
        if self.query.trim().is_empty() {
            self.last = None;
            return (0..rows.len()).collect();
        }
        let candidates: Vec<usize> = match self.last.take() {
            Some((q, n, mut m)) if n == rows.len() && self.extends(&q) => {
                // Ties keep the rows' order.
                m.sort_unstable();
                m
            }
            _ => (0..rows.len()).collect(),
        };
        let mut scored: Vec<(u32, usize)> = candidates
            .into_iter()
            .filter_map(|i| {
                self.pattern
                    .score(rows[i].haystack.slice(..), &mut self.matcher)
                    .map(|s| (s, i))
            })
            .collect();
        scored.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        let m: Vec<usize> = scored.into_iter().map(|(_, i)| i).collect();
        self.last = Some((self.query.clone(), rows.len(), m.clone()));
        m
    }

    /// Whether the query only appends plain characters to `previous` (so it matches a subset
    /// of what `previous` matched): no negation (`!`) or escape (`\\`) anywhere, whose meaning
    /// an appended character can turn around.
    fn extends(&self, previous: &str) -> bool {
        !previous.trim().is_empty()
            && self.query.len() > previous.len()
            && self.query.starts_with(previous)
            && !self.query.contains(['!', '\\'])
    }

    /// The matched haystack positions of `row`, sorted, for highlighting.
    pub fn indices(&mut self, row: &Row) -> Vec<u32> {
        let mut v = Vec::new();
        if !self.query.trim().is_empty() {
            let _ = self
                .pattern
                .indices(row.haystack.slice(..), &mut self.matcher, &mut v);
        }
        v.sort_unstable();
        v.dedup();
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(text: &str) -> AwsConfig {
        AwsConfig::parse(
            Some(crate::awsconfig::ConfigText { path: "/c", text }),
            None,
        )
        .expect("parse")
    }

    fn sample() -> Vec<Row> {
        let c = config(
            "[profile base]\nregion = eu-west-1\n\
             [profile prod-admin]\nsource_profile = base\nrole_arn = arn:aws:iam::111111111111:role/Admin\n\
             [profile staging]\nsource_profile = base\nrole_arn = arn:aws:iam::222222222222:role/EC2FullAccess\nregion = us-east-2\n\
             [profile portal]\nsso_start_url = https://x.awsapps.com/start\nsso_region = us-east-1\nsso_account_id = 333333333333\nsso_role_name = ReadOnly\n\
             [profile tool]\ncredential_process = /bin/true\naccount_alias = tooling\n",
        );
        let names = [("111111111111".to_string(), "Production".to_string())].into();
        from_config(&c, &names, &|p| (p == "staging").then_some(42))
    }

    fn names(rows: &[Row], idx: &[usize]) -> Vec<String> {
        idx.iter().map(|&i| rows[i].profile.clone()).collect()
    }

    #[test]
    fn rows_show_what_a_profile_resolves_to() {
        let rows = sample();
        let by = |n: &str| rows.iter().find(|r| r.profile == n).expect(n).clone();
        let p = by("prod-admin");
        assert_eq!(
            p.cols[1..],
            [
                "111111111111",
                "Production",
                "Admin",
                "eu-west-1",
                "stored keys"
            ]
        );
        let s = by("staging");
        assert_eq!(
            (s.cols[3].as_str(), s.cols[4].as_str()),
            ("EC2FullAccess", "us-east-2")
        );
        assert_eq!(s.expires, Some(42));
        assert_eq!(by("portal").cols[5], "sso");
        assert_eq!(by("portal").cols[1], "333333333333");
        assert_eq!(by("tool").cols[5], "credential_process");
        assert_eq!(by("tool").cols[2], "tooling");
    }

    #[test]
    fn the_filter_matches_every_column_best_first() {
        let rows = sample();
        let mut f = Filter::new();
        for (q, want) in [
            ("2222", "staging"),
            ("ec2full", "staging"),
            ("prod admin", "prod-admin"),
            ("production", "prod-admin"),
            ("readonly", "portal"),
            ("tooling", "tool"),
        ] {
            f.set_query(q);
            let m = f.matches(&rows);
            assert_eq!(
                names(&rows, &m).first().map(String::as_str),
                Some(want),
                "{q}"
            );
        }
        f.set_query("zzzz");
        assert!(f.matches(&rows).is_empty());
        f.set_query("");
        assert_eq!(f.matches(&rows).len(), rows.len());
    }

    #[test]
    fn typing_on_ranks_like_a_fresh_filter() {
        let mut rows = sample();
        for i in 0..300 {
            rows.push(Row::new(
                [
                    format!("team-{i}-prod"),
                    format!("{:012}", i * 7919),
                    format!("acct {}", i % 7),
                    ["Admin", "ReadOnly", "EC2FullAccess"][i % 3].to_string(),
                    "eu-west-1".into(),
                    "sso".into(),
                ],
                None,
            ));
        }
        for typed in [
            "t1 pro ad",
            "prod admin",
            "22 ec2full",
            "te !ad",
            "acct\\ 3",
            "ro^",
        ] {
            let mut on = Filter::new();
            let mut q = String::new();
            for c in typed.chars() {
                q.push(c);
                on.set_query(&q);
                let mut fresh = Filter::new();
                fresh.set_query(&q);
                assert_eq!(on.matches(&rows), fresh.matches(&rows), "{q:?}");
            }
            for _ in 0..typed.len() {
                q.pop();
                on.set_query(&q);
                let mut fresh = Filter::new();
                fresh.set_query(&q);
                assert_eq!(on.matches(&rows), fresh.matches(&rows), "{q:?}");
            }
        }
    }

    #[test]
    fn matched_characters_map_to_their_columns() {
        let rows = sample();
        let staging = rows.iter().find(|r| r.profile == "staging").expect("row");
        let mut f = Filter::new();
        f.set_query("2222");
        let idx = f.indices(staging);
        assert_eq!(staging.matched_in(1, &idx).len(), 4);
        assert!(staging.matched_in(0, &idx).is_empty());
    }

    #[test]
    fn portal_roles_not_in_the_config_are_added_marked() {
        use crate::sso::offered::{Cache, Offered};
        let c = config(
            "[profile portal]\nsso_start_url = https://x.awsapps.com/start\nsso_region = us-east-1\nsso_account_id = 333333333333\nsso_role_name = ReadOnly\n",
        );
        let offer = |id: &str, role: &str, profile: &str| Offered {
            account_id: id.into(),
            account_name: "Shared".into(),
            role: role.into(),
            profile: profile.into(),
            configured: false,
        };
        let mut cache = Cache::default();
        cache.sessions.insert(
            "corp".into(),
            vec![
                offer("333333333333", "ReadOnly", "shared-readonly"),
                offer("333333333333", "Admin", "shared-admin"),
            ],
        );
        let mut rows = from_config(&c, &cache.account_names(), &|_| None);
        add_offered(&mut rows, &c, &cache);
        let names: Vec<&str> = rows.iter().map(|r| r.profile.as_str()).collect();
        assert_eq!(names, ["portal", "shared-admin"]);
        assert_eq!(
            rows[0].cols[2], "Shared",
            "the account's name from the cache"
        );
        assert_eq!(rows[1].unconfigured.as_deref(), Some("corp"));
        assert!(rows[1].cols[5].contains("not in config"));
    }

    #[test]
    fn frecency_orders_and_alphabetical_ties() {
        let mut rows = sample();
        let now = 1_000_000;
        let picks = |p: &str| match p {
            "tool" => frecency(2, now - 10, now),
            "staging" => frecency(1, now - 10, now),
            "base" => frecency(50, now - 365 * 86_400, now),
            _ => 0.0,
        };
        order_by(&mut rows, &picks);
        let order: Vec<&str> = rows.iter().map(|r| r.profile.as_str()).collect();
        assert_eq!(order, ["base", "tool", "staging", "portal", "prod-admin"]);
        assert!(frecency(2, now, now) > frecency(1, now, now));
        assert!(frecency(1, now, now) > frecency(1, now - 2 * 86_400, now));
    }
}
