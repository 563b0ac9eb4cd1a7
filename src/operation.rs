//! What the generic handler needs to know about each served operation. The [`operation!`] table
//! (generated from model/ into `src/generated/operations.rs`) pairs a proto request with its SDK
//! call; conversions and validation are generated beside it.

use std::error::Error as StdError;
use std::future::Future;

use aws_sdk_elasticache::Client;
use aws_sdk_elasticache::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;

use crate::aws::fault::ResourceKind;
use crate::aws::{KnownFaults, Resources};
use crate::convert::ToSdk;
use crate::pb;
use crate::validate::Validate;

/// The facade's own `request_id` field (AIP-155), which every mutating request has.
pub trait RequestIdField {
    /// The caller's `request_id`, if any.
    fn request_id(&self) -> Option<&str> {
        None
    }

    /// Leaves the request without its `request_id` (for the digest of the request itself).
    fn clear_request_id(&mut self) {}
}

/// One AWS operation behind one RPC.
pub trait Operation:
    Validate + ToSdk<Self::Builder> + RequestIdField + prost::Message + Clone + Send + Sized + 'static
{
    /// The AWS operation (and RPC) name.
    const NAME: &'static str;
    /// Whether the operation changes state in AWS.
    const MUTATING: bool;
    /// The proto response.
    type Response: From<Self::Output> + prost::Message + Default + Clone + Send + Sync + 'static;
    /// The SDK fluent builder; cloneable so an attempt can be repeated.
    type Builder: Clone + Send + 'static;
    /// The SDK output.
    type Output: aws_sdk_elasticache::operation::RequestId + Send + 'static;
    /// The SDK's error enum of this operation.
    type Error: KnownFaults + ProvideErrorMetadata + StdError + Send + Sync + 'static;

    /// A fresh fluent builder on `client`.
    fn builder(client: &Client) -> Self::Builder;

    /// Sends one attempt.
    fn send(
        builder: Self::Builder,
    ) -> impl Future<Output = Result<Self::Output, SdkError<Self::Error, HttpResponse>>> + Send;

    /// The resources the request names, for status details and the audit log.
    fn resources(&self) -> Resources;
}

macro_rules! operation {
    ($(
        $req:ident => $resp:ident, $name:literal, mutating: $mutating:literal,
        $module:ident :: $method:ident($builder:ident, $output:ident, $error:ident $(,)?),
        |$r:ident| $resources:expr;
    )*) => {$(
        impl Operation for pb::$req {
            const NAME: &'static str = $name;
            const MUTATING: bool = $mutating;
            type Response = pb::$resp;
            type Builder = aws_sdk_elasticache::operation::$module::builders::$builder;
            type Output = aws_sdk_elasticache::operation::$module::$output;
            type Error = aws_sdk_elasticache::operation::$module::$error;

            fn builder(client: &Client) -> Self::Builder {
                client.$method()
            }

            fn send(
                builder: Self::Builder,
            ) -> impl Future<Output = Result<Self::Output, SdkError<Self::Error, HttpResponse>>> + Send {
                builder.send()
            }

            fn resources(&self) -> Resources {
                let $r = self;
                $resources
            }
        }
    )*};
}

fn some(s: &str) -> Option<&str> {
    Some(s)
}

include!("generated/operations.rs");
