//! `credential_source = EcsContainer`: the root's credentials come from the container
//! credentials endpoint (`AWS_CONTAINER_CREDENTIALS_RELATIVE_URI` or `_FULL_URI`, with
//! `AWS_CONTAINER_AUTHORIZATION_TOKEN` or `_TOKEN_FILE`), through aws-config's ECS provider
//! (which refuses a full URI that is neither loopback, the ECS/EKS link-local addresses, nor
//! HTTPS). Not cached: the endpoint is local.

use anyhow::anyhow;
use aws_credential_types::provider::ProvideCredentials;

use super::{Cx, Fetch, Source};
use crate::awsconfig::Profile;

/// The container credentials source.
pub struct EcsContainer;

impl Source for EcsContainer {
    fn name(&self) -> &'static str {
        "the container credentials endpoint"
    }

    fn credential_source(&self) -> Option<&'static str> {
        Some("EcsContainer")
    }

    fn fetch<'a>(&'a self, _cx: &'a Cx<'a>, root: &'a Profile) -> Fetch<'a> {
        Box::pin(async move {
            let provider = aws_config::ecs::EcsCredentialsProvider::builder().build();
            let c = provider.provide_credentials().await.map_err(|e| {
                anyhow!(
                    "profile {}: credential_source = EcsContainer: {}; is this a container with a task role (AWS_CONTAINER_CREDENTIALS_RELATIVE_URI or AWS_CONTAINER_CREDENTIALS_FULL_URI)?",
                    root.name,
                    super::sdk_error(&e)
                )
            })?;
            let creds = super::from_sdk(&c);
            crate::credcheck::check(
                &creds,
                &format!("profile {}: credential_source = EcsContainer", root.name),
                "check the container credentials endpoint",
            )?;
            Ok(creds)
        })
    }
}
