//! `credential_source = Environment`: the root's credentials are the ones in awsenv's own
//! environment (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`), read by
//! aws-config's environment provider, as in a CI job that is handed keys. Not cached: they are
//! already at hand.

use anyhow::anyhow;
use aws_credential_types::provider::ProvideCredentials;

use super::{Cx, Fetch, Source};
use crate::awsconfig::Profile;

/// The environment source.
pub struct Environment;

impl Source for Environment {
    fn name(&self) -> &'static str {
        "the environment"
    }

    fn credential_source(&self) -> Option<&'static str> {
        Some("Environment")
    }

    fn fetch<'a>(&'a self, _cx: &'a Cx<'a>, root: &'a Profile) -> Fetch<'a> {
        Box::pin(async move {
            let provider = aws_config::environment::EnvironmentVariableCredentialsProvider::new();
            let c = provider.provide_credentials().await.map_err(|e| {
                anyhow!(
                    "profile {}: credential_source = Environment, but the environment holds no credentials ({}); set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY",
                    root.name,
                    super::sdk_error(&e)
                )
            })?;
            let creds = super::from_sdk(&c);
            crate::credcheck::check(
                &creds,
                &format!("profile {}: credential_source = Environment", root.name),
                "check AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN",
            )?;
            Ok(creds)
        })
    }
}
