//! IAM Identity Center: a root profile with `sso_session` (or the legacy `sso_start_url` and
//! `sso_region`), `sso_account_id` and `sso_role_name` gets role credentials from the portal
//! (GetRoleCredentials), cached under the start URL, region, account and role.

use anyhow::{Result, anyhow};

use super::{CacheSpec, Cx, Fetch, Source};
use crate::awsconfig::Profile;

/// The IAM Identity Center source.
pub struct Sso;

impl Source for Sso {
    fn name(&self) -> &'static str {
        "IAM Identity Center"
    }

    fn claims(&self, cx: &Cx<'_>, root: &Profile) -> Result<bool> {
        Ok(crate::sso::role_of(cx.config, root)?.is_some())
    }

    fn cache(&self, cx: &Cx<'_>, root: &Profile) -> Result<Option<CacheSpec>> {
        let Some(role) = crate::sso::role_of(cx.config, root)? else {
            return Ok(None);
        };
        Ok(Some(CacheSpec {
            kind: "sso",
            upstream: role.cache_identity(),
            endpoint: crate::sso::endpoint_override("AWS_ENDPOINT_URL_SSO")?,
            label: Some(role.label()),
        }))
    }

    fn fetch<'a>(&'a self, cx: &'a Cx<'a>, root: &'a Profile) -> Fetch<'a> {
        Box::pin(async move {
            let role = crate::sso::role_of(cx.config, root)?
                .ok_or_else(|| anyhow!("profile {} has no sso_* keys", root.name))?;
            crate::sso::role_credentials(cx.store, cx.settings, &role).await
        })
    }
}
