//! The Protobuf codec of the generated service and client: `tonic-prost`'s, except that a message
//! is encoded with [`Message::encode_raw`] instead of [`Message::encode`].
//!
//! `encode` first computes the whole message's `encoded_len` only to compare it with the buffer's
//! room; tonic's buffer grows as it is written (`BytesMut`), so the check never fails, and the
//! lengths are computed again by `encode_raw` for every nested message's prefix. Skipping the
//! first pass saves one walk of the message tree per response (`cargo bench --bench counted`,
//! BENCHMARKS.md: ≈ 1,700 instructions of a Describe of 10 snapshots). Encoding into a plain
//! `Vec` first, so that varint bytes are pushes rather than `BytesMut` writes, was measured too
//! and cost more than it saved (the copy), so it is not done.
//!
//! Decoding is `tonic-prost`'s.

use std::marker::PhantomData;

use prost::Message;
use tonic::Status;
use tonic::codec::{BufferSettings, Codec, EncodeBuf, Encoder};
use tonic_prost::ProstDecoder;

/// `tonic_prost::ProstCodec` with [`RawEncoder`] (set as the `codec_path` in `build.rs`).
#[derive(Debug, Clone)]
pub struct ProstCodec<T, U> {
    _pd: PhantomData<(T, U)>,
}

impl<T, U> Default for ProstCodec<T, U> {
    fn default() -> Self {
        Self { _pd: PhantomData }
    }
}

impl<T, U> Codec for ProstCodec<T, U>
where
    T: Message + Send + 'static,
    U: Message + Default + Send + 'static,
{
    type Encode = T;
    type Decode = U;
    type Encoder = RawEncoder<T>;
    type Decoder = ProstDecoder<U>;

    fn encoder(&mut self) -> Self::Encoder {
        RawEncoder { _pd: PhantomData }
    }

    fn decoder(&mut self) -> Self::Decoder {
        ProstDecoder::new(BufferSettings::default())
    }
}

/// Writes a message with `encode_raw`: tonic's [`EncodeBuf`] grows as it is written, so there is
/// no room to check first.
#[derive(Debug, Clone)]
pub struct RawEncoder<T> {
    _pd: PhantomData<T>,
}

impl<T: Message> Encoder for RawEncoder<T> {
    type Item = T;
    type Error = Status;

    fn encode(&mut self, item: Self::Item, buf: &mut EncodeBuf<'_>) -> Result<(), Self::Error> {
        item.encode_raw(buf);
        Ok(())
    }

    fn buffer_settings(&self) -> BufferSettings {
        BufferSettings::default()
    }
}

#[cfg(test)]
mod tests {
    use bytes::{Buf, BytesMut};
    use http_body_util::BodyExt as _;
    use tonic::codec::{CompressionEncoding, EncodeBody};

    use super::*;
    use crate::pb;

    /// The body tonic's server writes for `messages` with [`RawEncoder`], uncompressed.
    async fn encoded<T: Message + Send + 'static>(messages: Vec<T>) -> BytesMut {
        let source = futures_util::stream::iter(messages.into_iter().map(Ok::<_, Status>));
        let body = EncodeBody::new_server(
            RawEncoder { _pd: PhantomData },
            source,
            None::<CompressionEncoding>,
            Default::default(),
            None,
        );
        body.collect().await.unwrap().to_bytes().into()
    }

    /// A response larger than tonic's 8 KiB starting buffer, with nested messages and repeated
    /// fields: the bytes on the wire are prost's own encoding of it, after the 5-byte gRPC
    /// message header.
    #[tokio::test]
    async fn writes_what_prost_writes_for_a_message_larger_than_the_buffer() {
        let snapshot = |i: usize| pb::ServerlessCacheSnapshot {
            serverless_cache_snapshot_name: Some(format!("snapshot-{i}-{}", "x".repeat(200))),
            arn: Some(format!(
                "arn:aws:elasticache:us-east-1:123456789012:serverlesscachesnapshot:snapshot-{i}"
            )),
            serverless_cache_configuration: Some(pb::ServerlessCacheConfiguration {
                serverless_cache_name: Some(format!("cache-{i}")),
                engine: Some("valkey".into()),
                major_engine_version: Some("8".into()),
            }),
            ..Default::default()
        };
        let response = pb::DescribeServerlessCacheSnapshotsResponse {
            serverless_cache_snapshots: (0..100).map(snapshot).collect(),
            next_token: Some("next".into()),
        };
        let expected = response.encode_to_vec();
        assert!(expected.len() > 8 * 1024, "{} bytes", expected.len());

        let mut bytes = encoded(vec![response]).await;
        assert_eq!(bytes.get_u8(), 0, "not compressed");
        assert_eq!(bytes.get_u32() as usize, expected.len());
        assert_eq!(&bytes[..], &expected[..]);
    }

    /// Messages one after the other in one body (a stream): each is framed alone, with exactly
    /// its own bytes, the large one included.
    #[tokio::test(flavor = "current_thread")]
    async fn messages_in_a_row_are_each_their_own_bytes() {
        let big = pb::DescribeServerlessCacheSnapshotsResponse {
            next_token: Some("n".repeat(100 * 1024)),
            ..Default::default()
        };
        let small = pb::DescribeServerlessCacheSnapshotsResponse {
            next_token: Some("t".into()),
            ..Default::default()
        };
        let empty = pb::DescribeServerlessCacheSnapshotsResponse::default();
        let messages = [small.clone(), big.clone(), small.clone(), empty.clone()];
        let mut bytes = encoded(messages.to_vec()).await;
        for message in messages {
            let expected = message.encode_to_vec();
            assert_eq!(bytes.get_u8(), 0);
            let len = bytes.get_u32() as usize;
            assert_eq!(len, expected.len());
            assert_eq!(&bytes.split_to(len)[..], &expected[..]);
        }
        assert!(bytes.is_empty());
    }
}
