//! AWS's XML element names where the SDK reads another name (issue 22).
//!
//! ElastiCache's model names one list by the list shape itself: `PendingModifiedValues` and
//! `ReplicationGroupPendingModifiedValues` hold `LogDeliveryConfigurations`, of shape
//! `PendingLogDeliveryConfigurationList`, whose `locationName` is
//! `PendingLogDeliveryConfiguration`. botocore (boto3, the AWS CLI) and the other model-driven
//! SDKs read the member from that element. The Rust SDK's Smithy model lost the list's name: its
//! parser reads only `<LogDeliveryConfigurations>` and skips the element AWS's model names, so the
//! pending log delivery changes of a cluster or a replication group were dropped without an
//! error.
//!
//! [`AwsWireNames`] renames those elements to the SDK's before the SDK parses the response, for
//! the operations whose responses can hold them (both tables are generated from `model/` into
//! `src/generated/wire_names.rs`). A response that already uses the SDK's name is left as it is,
//! so either form reaches the caller whole. Other operations' responses are not touched; for these
//! the body is read once, as the SDK reads it anyway.

use std::pin::Pin;
use std::task::{Context, Poll, ready};

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::BeforeDeserializationInterceptorContextMut;
use aws_smithy_runtime_api::client::interceptors::{Intercept, dyn_dispatch_hint};
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::config_bag::ConfigBag;
use bytes::{Bytes, BytesMut};
use http_body::{Body, Frame};

include!("../generated/wire_names.rs");

/// An interceptor for the facade's SDK client: see the module documentation.
#[derive(Debug, Clone, Copy, Default)]
pub struct AwsWireNames;

#[dyn_dispatch_hint]
impl Intercept for AwsWireNames {
    fn name(&self) -> &'static str {
        "AwsWireNames"
    }

    fn modify_before_deserialization(
        &self,
        context: &mut BeforeDeserializationInterceptorContextMut<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let renames = cfg
            .load::<Metadata>()
            .is_some_and(|m| RENAMING_OPERATIONS.contains(&m.name()));
        if !renames {
            return Ok(());
        }
        let body = std::mem::replace(context.response_mut().body_mut(), SdkBody::taken());
        *context.response_mut().body_mut() = match body.bytes() {
            Some(bytes) => SdkBody::from(rename(Bytes::copy_from_slice(bytes))),
            None => SdkBody::from_body_1_x(Renaming {
                inner: body,
                read: BytesMut::new(),
                done: false,
            }),
        };
        Ok(())
    }
}

/// A response body read whole, then renamed.
#[derive(Debug)]
struct Renaming {
    inner: SdkBody,
    read: BytesMut,
    done: bool,
}

impl Body for Renaming {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        if self.done {
            return Poll::Ready(None);
        }
        loop {
            match ready!(Pin::new(&mut self.inner).poll_frame(cx)) {
                Some(Ok(frame)) => {
                    // A Query response has no trailers; only its data is parsed.
                    if let Ok(data) = frame.into_data() {
                        self.read.extend_from_slice(&data);
                    }
                }
                Some(Err(e)) => return Poll::Ready(Some(Err(e))),
                None => {
                    self.done = true;
                    let read = self.read.split().freeze();
                    return Poll::Ready(Some(Ok(Frame::data(rename(read)))));
                }
            }
        }
    }
}

/// `xml` with every element of [`RENAMED`] under the SDK's name.
fn rename(xml: Bytes) -> Bytes {
    let mut xml = xml;
    for (wire, sdk) in RENAMED {
        if let Some(renamed) = rename_element(&xml, wire, sdk) {
            xml = Bytes::from(renamed);
        }
    }
    xml
}

/// `xml` with the start, end and empty tags of element `from` named `to`, or `None` when it has
/// none. A tag is the name right after `<` or `</`, followed by `>`, `/` or white space, so an
/// element whose name only begins with `from` keeps its name.
fn rename_element(xml: &[u8], from: &str, to: &str) -> Option<Vec<u8>> {
    let from = from.as_bytes();
    let finder = memchr::memmem::Finder::new(from);
    let mut out: Option<Vec<u8>> = None;
    let mut copied = 0;
    for at in finder.find_iter(xml) {
        let open = at >= 1 && xml[at - 1] == b'<';
        let close = at >= 2 && xml[at - 2] == b'<' && xml[at - 1] == b'/';
        let ends = matches!(
            xml.get(at + from.len()),
            Some(b'>' | b'/' | b' ' | b'\t' | b'\r' | b'\n')
        );
        if (open || close) && ends {
            let out = out.get_or_insert_with(|| Vec::with_capacity(xml.len() + 64));
            out.extend_from_slice(&xml[copied..at]);
            out.extend_from_slice(to.as_bytes());
            copied = at + from.len();
        }
    }
    let mut out = out?;
    out.extend_from_slice(&xml[copied..]);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renames_start_end_and_empty_tags_only() {
        let xml = b"<A><PendingLogDeliveryConfiguration><member/></PendingLogDeliveryConfiguration>\
<PendingLogDeliveryConfiguration/><PendingLogDeliveryConfigurationX>x</PendingLogDeliveryConfigurationX>\
<B>PendingLogDeliveryConfiguration</B></A>";
        let out = rename_element(
            xml,
            "PendingLogDeliveryConfiguration",
            "LogDeliveryConfigurations",
        )
        .expect("renamed");
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "<A><LogDeliveryConfigurations><member/></LogDeliveryConfigurations>\
<LogDeliveryConfigurations/><PendingLogDeliveryConfigurationX>x</PendingLogDeliveryConfigurationX>\
<B>PendingLogDeliveryConfiguration</B></A>"
        );
    }

    #[test]
    fn leaves_a_body_without_the_element_alone() {
        assert_eq!(
            rename_element(
                b"<LogDeliveryConfigurations/>",
                "PendingLogDeliveryConfiguration",
                "x"
            ),
            None
        );
        let body = Bytes::from_static(b"<Result><LogDeliveryConfigurations/></Result>");
        assert_eq!(rename(body.clone()), body);
    }

    #[test]
    fn the_generated_table_names_the_pending_log_delivery_list() {
        assert!(RENAMED.contains(&(
            "PendingLogDeliveryConfiguration",
            "LogDeliveryConfigurations"
        )));
        for op in [
            "DescribeCacheClusters",
            "DescribeReplicationGroups",
            "ModifyCacheCluster",
        ] {
            assert!(RENAMING_OPERATIONS.contains(&op), "{op}");
        }
        assert!(!RENAMING_OPERATIONS.contains(&"DescribeServerlessCaches"));
    }

    #[tokio::test]
    async fn a_streamed_body_is_read_whole_and_renamed() {
        use http_body_util::BodyExt as _;
        let chunks = [
            "<R><PendingLogDelivery",
            "Configuration><member/></Pending",
            "LogDeliveryConfiguration></R>",
        ];
        let stream = futures_util::stream::iter(chunks.map(|c| {
            Ok::<_, std::convert::Infallible>(Frame::data(Bytes::from_static(c.as_bytes())))
        }));
        let body = Renaming {
            inner: SdkBody::from_body_1_x(http_body_util::StreamBody::new(stream)),
            read: BytesMut::new(),
            done: false,
        };
        let out = body.collect().await.unwrap().to_bytes();
        assert_eq!(
            &out[..],
            b"<R><LogDeliveryConfigurations><member/></LogDeliveryConfigurations></R>"
        );
    }
}
