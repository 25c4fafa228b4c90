//! direnv side by side: a variable both awsenv and direnv's `.envrc` set.
//!
//! direnv records what it changed in `DIRENV_DIFF` (base64url of zlib-compressed JSON
//! `{"p": previous, "n": next}`) and, when it unloads, puts every `p` value back whatever the
//! variable holds then. So a variable whose current value is direnv's (`n`) is **direnv's
//! layer**, above awsenv's: awsenv reads the value beneath it from `p`, and writes its own
//! changes to that variable into `p` instead of the shell. Inside the directory direnv's value
//! wins, in either hook order; when both unload, the variable is what it was before either.
//! A value typed by hand (neither awsenv's nor direnv's) stays a hand edit.
//!
//! The variables handled so are the region's ([`LAYERED`]); credentials are never moved into
//! `DIRENV_DIFF` (it is exported), and the profile and config variables keep awsenv's own
//! handling. Only the engine decodes `DIRENV_DIFF` (never the front binary on the hot path).

use std::collections::BTreeMap;
use std::ffi::OsString;

use base64::Engine as _;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use serde::{Deserialize, Serialize};

use crate::envstate::{self, EnvView};
use crate::shell::Change;

/// direnv's variable.
pub const DIFF: &str = "DIRENV_DIFF";

/// The variables that may be direnv's layer above awsenv's.
pub const LAYERED: &[&str] = &["AWS_REGION", "AWS_DEFAULT_REGION"];

/// The largest `DIRENV_DIFF` (decoded) that is read; direnv's are a few kilobytes.
const MAX_JSON: usize = 1 << 20;

/// base64url as Go's `base64.URLEncoding` writes it (padded); padding optional on reading.
const B64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// What direnv changed: previous and next values (absent: unset).
#[derive(Serialize, Deserialize, Default, Debug, PartialEq)]
pub struct Diff {
    /// Values before direnv loaded.
    #[serde(default)]
    pub p: BTreeMap<String, String>,
    /// Values direnv set.
    #[serde(default)]
    pub n: BTreeMap<String, String>,
}

/// Decodes a `DIRENV_DIFF` value; `None` when it is not one.
pub fn decode(text: &str) -> Option<Diff> {
    let z = B64.decode(text.trim()).ok()?;
    let json = miniz_oxide::inflate::decompress_to_vec_zlib_with_limit(&z, MAX_JSON).ok()?;
    serde_json::from_slice(&json).ok()
}

/// Encodes a diff as direnv does.
pub fn encode(d: &Diff) -> String {
    let json = serde_json::to_vec(d).unwrap_or_default();
    B64.encode(miniz_oxide::deflate::compress_to_vec_zlib(&json, 6))
}

/// The variables direnv holds above awsenv, and its diff.
pub struct Layer {
    diff: Diff,
    names: Vec<String>,
}

/// Finds direnv's layer: every [`LAYERED`] variable whose value is the one
/// `DIRENV_DIFF` says direnv set. `view` then shows the values beneath it (`p`), which is
/// what awsenv's own record is checked against. `None` without such a variable.
pub fn beneath(view: &mut EnvView) -> Option<Layer> {
    let raw = view.get(DIFF)?;
    let diff = decode(raw.to_str()?)?;
    let names: Vec<String> = LAYERED
        .iter()
        .filter(|n| envstate::MANAGED.contains(n) && !envstate::PRIVATE.contains(n))
        .filter(|n| {
            diff.n
                .get(**n)
                .is_some_and(|v| view.get(n).as_deref() == Some(std::ffi::OsStr::new(v)))
        })
        .map(|n| n.to_string())
        .collect();
    if names.is_empty() {
        return None;
    }
    let under: Vec<Change> = names
        .iter()
        .map(|n| match diff.p.get(n) {
            Some(v) => Change::set(n, v),
            None => Change::unset(n),
        })
        .collect();
    view.apply(&under);
    Some(Layer { diff, names })
}

impl Layer {
    /// Moves awsenv's changes to the variables of direnv's layer into `DIRENV_DIFF`'s `p`
    /// (what direnv puts back when it unloads), and shows the shell direnv's values again.
    /// `view` is the one [`beneath`] adjusted.
    pub fn route(mut self, view: &mut EnvView, changes: &mut Vec<Change>) {
        let mut moved = false;
        changes.retain(|c| {
            if !self.names.iter().any(|n| n == c.name()) {
                return true;
            }
            match c {
                Change::Set(n, v) => match v.to_str() {
                    Some(v) => {
                        self.diff.p.insert(n.clone(), v.to_string());
                    }
                    // Not text: direnv's JSON cannot hold it; the shell gets it.
                    None => return true,
                },
                Change::Unset(n) => {
                    self.diff.p.remove(n);
                }
                _ => return true,
            }
            moved = true;
            false
        });
        let shown: Vec<Change> = self
            .names
            .iter()
            .filter_map(|n| self.diff.n.get(n).map(|v| Change::set(n, v)))
            .collect();
        view.apply(&shown);
        if moved {
            changes.push(Change::Set(
                DIFF.to_string(),
                OsString::from(encode(&self.diff)),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_direnv_writes_and_writes_what_it_reads() {
        // `direnv export bash` in a directory whose .envrc exports AWS_REGION=eu-central-1,
        // with AWS_REGION=us-east-1 before (direnv 2.32, in /tmp/dtest).
        let real = concat!(
            "eJxkzMuSojAYQOF3-ddmRByHgl24CHiBMSqX3qQg0kIrESEGxfLdu3rlotffqfOEBown4HhLieP6YQAG3DpUZJ1AE3",
            "iNgP_i4oZYwUWbndEERmD7xAkiavsEDEBjUTfjgyg68aa5v3LAgDeN_xRctuxdxHhnec72Z754rId2HpqWs8GBSeuk",
            "GXDPvOF_Fi9k7qZl5k6tnKW1yXbpQPOat6Y2nGSi2RbqDtHJ1KUbkDq9JCH7R9LU4wkn1Fr26v54LMOrP-etpl5JEH",
            "uEPjo6zJRcVs1nsraL4lCq9kd57zmrpe4ot2tQNo9JVNo9i5XpZnX-K1ZRd48qTdWqdX-W-vZSl8oGRfqsq6xTtqRL",
            "OQghMcaYUvS1t6kGr9d3AAAA__9m2HU7"
        );
        let d = decode(real).expect("decodes");
        assert_eq!(d.p.get("AWS_REGION").map(String::as_str), Some("us-east-1"));
        assert_eq!(
            d.n.get("AWS_REGION").map(String::as_str),
            Some("eu-central-1")
        );
        assert_eq!(decode(&encode(&d)), Some(d));
        assert!(decode("not base64 !").is_none());
        assert!(decode("").is_none());
    }
}
