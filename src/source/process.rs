//! `credential_process`: a root profile whose credentials are printed by a command (JSON,
//! Version 1), run through aws-config's own provider. Not cached by the engine: the command
//! decides (the AWS CLI caches nothing either).

use anyhow::{Result, anyhow};
use aws_credential_types::provider::ProvideCredentials;

use super::{Cx, Fetch, Source};
use crate::awsconfig::Profile;
use crate::sts;

/// The `credential_process` source.
pub struct Process;

impl Source for Process {
    fn name(&self) -> &'static str {
        "credential_process"
    }

    fn claims(&self, _cx: &Cx<'_>, root: &Profile) -> Result<bool> {
        Ok(root.get("credential_process").is_some())
    }

    fn fetch<'a>(&'a self, _cx: &'a Cx<'a>, root: &'a Profile) -> Fetch<'a> {
        Box::pin(async move {
            let cmd = root
                .get("credential_process")
                .ok_or_else(|| anyhow!("profile {} has no credential_process", root.name))?;
            let provider =
                aws_config::credential_process::CredentialProcessProvider::new(cmd.to_string());
            let c = provider.provide_credentials().await.map_err(|e| {
                anyhow!(
                    "profile {}: credential_process failed: {}",
                    root.name,
                    super::sdk_error(&e)
                )
            })?;
            let creds = super::from_sdk(&c);
            crate::credcheck::check(
                &creds,
                &format!("profile {}: credential_process", root.name),
                &format!("check the command {}", sts::printable(cmd.as_bytes(), 80)),
            )?;
            Ok(creds)
        })
    }
}
