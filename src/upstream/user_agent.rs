//! The SDK's user agent, built once per operation instead of on every call (issue 14).
//!
//! The SDK's `UserAgentInterceptor` builds the `user-agent` and `x-amz-user-agent` headers anew on
//! every call: it reads the environment, collects the business metrics from the config bag and
//! formats both strings — 21k instructions per call, the largest share of the SDK's per-call work
//! that does not depend on the request. The facade makes every call of an operation with the same
//! client, so those headers only differ between operations. [`ReuseUserAgent`] lets the SDK's
//! interceptor build them on the first call of each operation, keeps the two values that were
//! sent, and on later calls of that operation disables it (the SDK's own `disable_interceptor`)
//! and sets the same two values before signing, so the request is signed as before.
//!
//! What changes: a later call carries the user agent its operation's first call carried. The
//! values depend on the client's configuration (SDK and OS versions, app name, retry mode,
//! credential source, endpoint override), fixed for the life of the client; if a credential chain
//! switched sources while the process ran, the user agent's metrics would keep naming the first.
//! The headers are telemetry for AWS: nothing is decided on them.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use aws_runtime::user_agent::UserAgentInterceptor;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeSerializationInterceptorContextRef, BeforeTransmitInterceptorContextMut,
    BeforeTransmitInterceptorContextRef,
};
use aws_smithy_runtime_api::client::interceptors::{
    Intercept, disable_interceptor, dyn_dispatch_hint,
};
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::{ConfigBag, Storable, StoreReplace};
use http::header::USER_AGENT;

use crate::headers::X_AMZ_USER_AGENT;

/// The values one operation's first call sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserAgentValues {
    /// `user-agent`.
    pub user_agent: String,
    /// `x-amz-user-agent`.
    pub x_amz_user_agent: String,
}

/// This call reuses these values (put in the call's config bag by `read_before_serialization`).
#[derive(Debug)]
struct Reuse(Arc<UserAgentValues>);

impl Storable for Reuse {
    type Storer = StoreReplace<Self>;
}

/// An interceptor for the facade's SDK client: see the module documentation. Clones share one
/// table of operations.
#[derive(Debug, Clone, Default)]
pub struct ReuseUserAgent {
    by_operation: Arc<RwLock<HashMap<String, Arc<UserAgentValues>>>>,
}

impl ReuseUserAgent {
    /// The values kept for `operation` (its AWS name), if one of its calls was sent.
    pub fn kept(&self, operation: &str) -> Option<UserAgentValues> {
        self.lookup(operation)
            .map(|values| UserAgentValues::clone(&values))
    }

    fn lookup(&self, operation: &str) -> Option<Arc<UserAgentValues>> {
        let table = self.by_operation.read().unwrap_or_else(|e| e.into_inner());
        table.get(operation).cloned()
    }
}

fn operation(cfg: &ConfigBag) -> Option<&str> {
    cfg.load::<Metadata>().map(Metadata::name)
}

#[dyn_dispatch_hint]
impl Intercept for ReuseUserAgent {
    fn name(&self) -> &'static str {
        "ReuseUserAgent"
    }

    // Not `read_before_execution`: a client's interceptors run that hook before the operation's
    // configuration (and its `Metadata`) is in the bag.
    fn read_before_serialization(
        &self,
        _context: &BeforeSerializationInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some(values) = operation(cfg).and_then(|op| self.lookup(op)) else {
            return Ok(());
        };
        let state = cfg.interceptor_state();
        state.store_put(disable_interceptor::<UserAgentInterceptor>(
            "the facade reuses the user agent of the operation's first call",
        ));
        state.store_put(Reuse(values));
        Ok(())
    }

    fn modify_before_signing(
        &self,
        context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(Reuse(values)) = cfg.load::<Reuse>() {
            let headers = context.request_mut().headers_mut();
            headers.try_insert(USER_AGENT, values.user_agent.clone())?;
            headers.try_insert(X_AMZ_USER_AGENT, values.x_amz_user_agent.clone())?;
        }
        Ok(())
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if cfg.load::<Reuse>().is_some() {
            return Ok(());
        }
        let Some(op) = operation(cfg) else {
            return Ok(());
        };
        let headers = context.request().headers();
        let (Some(user_agent), Some(x_amz_user_agent)) =
            (headers.get(&USER_AGENT), headers.get(&X_AMZ_USER_AGENT))
        else {
            return Ok(());
        };
        let values = Arc::new(UserAgentValues {
            user_agent: user_agent.to_owned(),
            x_amz_user_agent: x_amz_user_agent.to_owned(),
        });
        let mut table = self.by_operation.write().unwrap_or_else(|e| e.into_inner());
        table.entry(op.to_owned()).or_insert(values);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use aws_smithy_runtime_api::client::interceptors::DisableInterceptor;
    use elasticache_emulator::{Emulator, EmulatorConfig};

    use super::*;
    use crate::startup::static_config;

    /// What one request carried when it left, after signing.
    #[derive(Debug, Clone)]
    struct Sent {
        operation: String,
        values: UserAgentValues,
        signed_headers: String,
        sdk_interceptor_disabled: bool,
    }

    #[derive(Debug, Clone, Default)]
    struct Recorder(Arc<Mutex<Vec<Sent>>>);

    impl Recorder {
        fn sent(&self) -> Vec<Sent> {
            self.0.lock().unwrap().clone()
        }
    }

    impl Intercept for Recorder {
        fn name(&self) -> &'static str {
            "Recorder"
        }

        fn read_before_transmit(
            &self,
            context: &BeforeTransmitInterceptorContextRef<'_>,
            _runtime_components: &RuntimeComponents,
            cfg: &mut ConfigBag,
        ) -> Result<(), BoxError> {
            let headers = context.request().headers();
            let header = |name: &str| headers.get(name).unwrap_or_default().to_owned();
            let authorization = header("authorization");
            let signed_headers = authorization
                .split(", ")
                .find_map(|p| p.strip_prefix("SignedHeaders="))
                .unwrap_or_default()
                .to_owned();
            self.0.lock().unwrap().push(Sent {
                operation: operation(cfg).unwrap_or_default().to_owned(),
                values: UserAgentValues {
                    user_agent: header(USER_AGENT.as_str()),
                    x_amz_user_agent: header(X_AMZ_USER_AGENT.as_str()),
                },
                signed_headers,
                sdk_interceptor_disabled: cfg
                    .load::<DisableInterceptor<UserAgentInterceptor>>()
                    .is_some(),
            });
            Ok(())
        }
    }

    async fn calls(client: &aws_sdk_elasticache::Client) {
        for _ in 0..3 {
            client.describe_serverless_caches().send().await.unwrap();
        }
        client
            .describe_serverless_cache_snapshots()
            .send()
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn later_calls_send_the_first_calls_user_agent_signed_the_same_way() {
        let emulator = Emulator::start(([127, 0, 0, 1], 0).into(), EmulatorConfig::default())
            .await
            .unwrap();
        let url = emulator.endpoint_url();

        // The plain SDK client, as a caller would make it.
        let plain = Recorder::default();
        let config = static_config(&url)
            .to_builder()
            .interceptor(plain.clone())
            .build();
        calls(&aws_sdk_elasticache::Client::from_conf(config)).await;

        // The same client with the facade's interceptor.
        let reuse = ReuseUserAgent::default();
        let facade = Recorder::default();
        let config = static_config(&url)
            .to_builder()
            .interceptor(reuse.clone())
            .interceptor(facade.clone())
            .build();
        calls(&aws_sdk_elasticache::Client::from_conf(config)).await;

        let (plain, facade) = (plain.sent(), facade.sent());
        assert_eq!(plain.len(), 4);
        assert_eq!(facade.len(), 4);
        for (p, f) in plain.iter().zip(&facade) {
            assert_eq!(p.operation, f.operation);
            assert!(
                p.values.x_amz_user_agent.contains("api/elasticache"),
                "{:?}",
                p.values
            );
            assert!(
                p.values.user_agent.starts_with("aws-sdk-rust/"),
                "{:?}",
                p.values
            );
            assert_eq!(p.values, f.values, "{}", p.operation);
            assert_eq!(p.signed_headers, f.signed_headers);
            assert!(!p.sdk_interceptor_disabled);
        }
        assert!(facade[0].signed_headers.contains(X_AMZ_USER_AGENT.as_str()));
        // The SDK's interceptor built the first call of each operation, and no other.
        let disabled: Vec<bool> = facade.iter().map(|s| s.sdk_interceptor_disabled).collect();
        assert_eq!(disabled, [false, true, true, false]);
        assert_eq!(
            reuse.kept("DescribeServerlessCaches"),
            Some(facade[0].values.clone())
        );
        assert_eq!(
            reuse.kept("DescribeServerlessCacheSnapshots"),
            Some(facade[3].values.clone())
        );
        assert_eq!(reuse.kept("DeleteServerlessCache"), None);
    }
}
