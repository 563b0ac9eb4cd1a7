//! The bare pass-through: the smallest gRPC facade that can answer the benchmark's call — tonic's
//! unary handling on hyper's HTTP/2 server, a plain SDK client (`startup::static_client`, as the
//! direct side uses), and the generated conversion of the answer. No middleware, no validation,
//! no limits, no metrics, no deadline handling. It is what a facade's own code adds to be
//! measured against: whatever the bare pass-through adds over the direct SDK call comes with
//! tonic, hyper and the SDK, not with the facade's code.
//!
//! `e2e` runs it as a child process of its own binary (so its CPU is its own, like the facade's):
//! with [`LISTEN_ENV`] set, `main` serves this instead of benchmarking.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;

use elasticache_grpc::codec::ProstCodec;
use elasticache_grpc::pb;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;

/// The address to serve on; set, the process serves the bare pass-through.
pub(crate) const LISTEN_ENV: &str = "E2E_BARE_LISTEN";
/// The emulator's endpoint, for the SDK client.
pub(crate) const UPSTREAM_ENV: &str = "E2E_BARE_UPSTREAM";
const PATH: &str = "/elasticache.v1.ElastiCacheService/DescribeServerlessCacheSnapshots";

/// Serves until killed.
pub(crate) fn serve(listen: &str) -> anyhow::Result<()> {
    let listen: SocketAddr = listen.parse()?;
    let upstream = std::env::var(UPSTREAM_ENV)?;
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(async move {
            let sdk = elasticache_grpc::startup::static_client(&upstream);
            let listener = tokio::net::TcpListener::bind(listen).await?;
            loop {
                let (stream, _) = listener.accept().await?;
                let _ = stream.set_nodelay(true);
                let sdk = sdk.clone();
                tokio::spawn(async move {
                    let service = tower::service_fn(move |req: http::Request<_>| {
                        let sdk = sdk.clone();
                        async move {
                            let req = req.map(tonic::body::Body::new);
                            if req.uri().path() != PATH {
                                let status = tonic::Status::unimplemented(req.uri().path());
                                return Ok::<_, Infallible>(status.into_http());
                            }
                            let mut grpc = tonic::server::Grpc::new(ProstCodec::default());
                            Ok(grpc.unary(Describe(sdk), req).await)
                        }
                    });
                    let _ = auto::Builder::new(TokioExecutor::new())
                        .http2_only()
                        .serve_connection(TokioIo::new(stream), TowerToHyperService::new(service))
                        .await;
                });
            }
        })
}

/// The one RPC: Describe through the SDK, the output converted by the facade's generated `From`.
struct Describe(aws_sdk_elasticache::Client);

type Answer = Result<tonic::Response<pb::DescribeServerlessCacheSnapshotsResponse>, tonic::Status>;

impl tonic::server::UnaryService<pb::DescribeServerlessCacheSnapshotsRequest> for Describe {
    type Response = pb::DescribeServerlessCacheSnapshotsResponse;
    type Future = Pin<Box<dyn Future<Output = Answer> + Send>>;

    fn call(
        &mut self,
        _request: tonic::Request<pb::DescribeServerlessCacheSnapshotsRequest>,
    ) -> Self::Future {
        let sdk = self.0.clone();
        Box::pin(async move {
            let out = sdk
                .describe_serverless_cache_snapshots()
                .send()
                .await
                .map_err(|e| tonic::Status::unavailable(format!("{e:?}")))?;
            Ok(tonic::Response::new(out.into()))
        })
    }
}
