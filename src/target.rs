//! Named targets (`[targets.<name>]`): one long-lived SDK client per AWS account and region,
//! built once at start. A target with `role_arn` gets its credentials from STS AssumeRole through
//! aws-config's [`AssumeRoleProvider`], behind the client's identity cache: the role is assumed on
//! the first call and again shortly before the credentials expire, never per call. Nothing is
//! checked remotely at start; a role that cannot be assumed fails that target's calls only.

use aws_config::SdkConfig;
use aws_config::sts::AssumeRoleProvider;
use aws_credential_types::provider::error::CredentialsError;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider, future};
use aws_sdk_elasticache::config::Region;
use aws_smithy_types::error::display::DisplayErrorContext;
use std::time::Duration;

use crate::aws::TargetRoleUnavailable;
use crate::config::TargetConfig;

/// The role session name when a target names none (CloudTrail shows it).
pub const DEFAULT_SESSION_NAME: &str = "elasticache-grpc";

/// One client per target, in `targets`' order; `base` carries the facade's own credentials
/// (those that assume the roles), retry and timeout settings and the default endpoint.
pub async fn clients(
    targets: &[TargetConfig],
    base: &SdkConfig,
    attempt_timeout: Duration,
) -> Vec<(String, aws_sdk_elasticache::Client)> {
    let mut clients = Vec::with_capacity(targets.len());
    for target in targets {
        let region = Region::new(target.region.clone());
        let mut config = aws_sdk_elasticache::config::Builder::from(base).region(region.clone());
        if let Some(url) = &target.endpoint_url {
            config = config.endpoint_url(url);
        }
        if let Some(role_arn) = &target.role_arn {
            let mut sts = base.clone().into_builder();
            if let Some(url) = &target.sts_endpoint_url {
                sts = sts.endpoint_url(url);
            }
            let mut provider = AssumeRoleProvider::builder(role_arn)
                .region(region)
                .session_name(
                    target
                        .session_name
                        .as_deref()
                        .unwrap_or(DEFAULT_SESSION_NAME),
                );
            if let Some(id) = &target.external_id {
                provider = provider.external_id(id);
            }
            let provider = provider.configure(&sts.build()).build().await;
            config = config.credentials_provider(SharedCredentialsProvider::new(RoleOf {
                target: target.name.clone(),
                provider,
            }));
        }
        clients.push((
            target.name.clone(),
            crate::startup::facade_client(config.build(), attempt_timeout),
        ));
    }
    clients
}

/// A target's role credentials: a failure is logged with its cause here and reaches the caller
/// as [`TargetRoleUnavailable`], which names the target and nothing else.
#[derive(Debug)]
struct RoleOf {
    target: String,
    provider: AssumeRoleProvider,
}

impl ProvideCredentials for RoleOf {
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        future::ProvideCredentials::new(async move {
            self.provider.provide_credentials().await.map_err(|e| {
                tracing::warn!(
                    target_name = %self.target,
                    error = %DisplayErrorContext(&e),
                    "cannot assume the target's role"
                );
                CredentialsError::provider_error(TargetRoleUnavailable {
                    target: self.target.clone(),
                })
            })
        })
    }
}
