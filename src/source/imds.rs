//! `credential_source = Ec2InstanceMetadata`: the root's credentials are the EC2 instance
//! role's, from the instance metadata service with IMDSv2 (a session token from
//! `PUT /latest/api/token`, then the role's credentials with it), through aws-config's IMDS
//! provider (`AWS_EC2_METADATA_SERVICE_ENDPOINT` and `AWS_EC2_METADATA_DISABLED` apply). Not
//! cached: the service is local.

use anyhow::anyhow;
use aws_credential_types::provider::ProvideCredentials;

use super::{Cx, Fetch, Source};
use crate::awsconfig::Profile;

/// The instance metadata source.
pub struct Ec2InstanceMetadata;

impl Source for Ec2InstanceMetadata {
    fn name(&self) -> &'static str {
        "the EC2 instance metadata service"
    }

    fn credential_source(&self) -> Option<&'static str> {
        Some("Ec2InstanceMetadata")
    }

    fn fetch<'a>(&'a self, _cx: &'a Cx<'a>, root: &'a Profile) -> Fetch<'a> {
        Box::pin(async move {
            let provider =
                aws_config::imds::credentials::ImdsCredentialsProvider::builder().build();
            let c = provider.provide_credentials().await.map_err(|e| {
                anyhow!(
                    "profile {}: credential_source = Ec2InstanceMetadata: {}; is this an EC2 instance with an instance profile (and IMDS reachable)?",
                    root.name,
                    super::sdk_error(&e)
                )
            })?;
            let creds = super::from_sdk(&c);
            crate::credcheck::check(
                &creds,
                &format!(
                    "profile {}: credential_source = Ec2InstanceMetadata",
                    root.name
                ),
                "check the instance metadata service",
            )?;
            Ok(creds)
        })
    }
}
