//! The gRPC methods this server answers, in one table: which need a caller (and count against the
//! in-flight cap and rate limits), which change state in AWS (and get an audit line), and the
//! labels metrics use. Anything not in the table is `unknown`: metric labels never come from a
//! raw request path, so a flood of made-up paths cannot grow the metrics without bound.

/// Path prefix of the RPCs that need a caller: `/elasticache.v1.ElastiCacheService/`.
pub const SERVICE_PREFIX: &str = "/elasticache.v1.ElastiCacheService/";

/// What kind of call a method is, as the `grpc_type` metric label names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallType {
    /// One request, one response.
    Unary,
    /// One request, a stream of responses.
    ServerStream,
    /// Streams both ways.
    BidiStream,
}

impl CallType {
    /// The `grpc_type` label.
    pub fn label(self) -> &'static str {
        match self {
            CallType::Unary => "unary",
            CallType::ServerStream => "server_stream",
            CallType::BidiStream => "bidi_stream",
        }
    }
}

/// One known method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Method {
    /// The full service name (`elasticache.v1.ElastiCacheService`).
    pub service: &'static str,
    /// The method name (`ExportServerlessCacheSnapshot`).
    pub name: &'static str,
    /// Unary or streaming.
    pub call_type: CallType,
    /// Whether the call changes state in AWS (audited, never retried after send).
    pub mutating: bool,
}

impl Method {
    /// Whether the method belongs to `ElastiCacheService`: it needs a caller, counts against the
    /// in-flight cap and the rate limits. Health and reflection do not, so probes and `grpcurl
    /// list` work whatever the load.
    pub fn is_protected(&self) -> bool {
        self.service == ELASTICACHE
    }
}

const ELASTICACHE: &str = "elasticache.v1.ElastiCacheService";

const fn rpc(name: &'static str, mutating: bool) -> Method {
    Method {
        service: ELASTICACHE,
        name,
        call_type: CallType::Unary,
        mutating,
    }
}

const fn open(service: &'static str, name: &'static str, call_type: CallType) -> Method {
    Method {
        service,
        name,
        call_type,
        mutating: false,
    }
}

include!("generated/methods.rs");

/// The methods served beside the AWS operations and the watches: health and reflection.
const OTHERS: [Method; 4] = [
    open("grpc.health.v1.Health", "Check", CallType::Unary),
    open("grpc.health.v1.Health", "Watch", CallType::ServerStream),
    open(
        "grpc.reflection.v1.ServerReflection",
        "ServerReflectionInfo",
        CallType::BidiStream,
    ),
    open(
        "grpc.reflection.v1alpha.ServerReflection",
        "ServerReflectionInfo",
        CallType::BidiStream,
    ),
];

/// The method a request path (`/service/method`) names, if the server knows it.
pub fn lookup(path: &str) -> Option<&'static Method> {
    let (service, name) = path.strip_prefix('/')?.split_once('/')?;
    methods().find(|m| m.name == name && m.service == service)
}

/// The RPC names of `ElastiCacheService`, which a caller's `allow` may name.
pub fn rpc_names() -> impl Iterator<Item = &'static str> {
    methods().filter(|m| m.is_protected()).map(|m| m.name)
}

/// Every method the server answers.
pub fn methods() -> impl Iterator<Item = &'static Method> {
    OPERATIONS.iter().chain(WATCHES.iter()).chain(OTHERS.iter())
}

/// The `ElastiCacheService` RPC a path names, if any (for policy and audit of refusals).
pub fn rpc_of(path: &str) -> Option<&'static Method> {
    lookup(path).filter(|m| m.is_protected())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_paths_resolve_and_everything_else_does_not() {
        let m = lookup("/elasticache.v1.ElastiCacheService/ExportServerlessCacheSnapshot").unwrap();
        assert!(m.mutating && m.is_protected());
        assert_eq!(m.call_type, CallType::Unary);
        let check = lookup("/grpc.health.v1.Health/Check").unwrap();
        assert!(!check.is_protected());
        let reflection =
            lookup("/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo").unwrap();
        assert_eq!(reflection.call_type.label(), "bidi_stream");
        for unknown in [
            "",
            "/",
            "/elasticache.v1.ElastiCacheService/",
            "/elasticache.v1.ElastiCacheService/Nope",
            "/x/ExportServerlessCacheSnapshot",
            "/elasticache.v1.ElastiCacheService/ExportServerlessCacheSnapshot/extra",
        ] {
            assert!(lookup(unknown).is_none(), "{unknown}");
        }
        let watch = lookup("/elasticache.v1.ElastiCacheService/WatchServerlessCache").unwrap();
        assert_eq!(watch.call_type, CallType::ServerStream);
        assert!(!watch.mutating && watch.is_protected());
    }

    /// The table lists exactly the proto's RPCs, with their streaming kind.
    #[test]
    fn the_table_matches_the_proto_service() {
        use prost::Message as _;
        let set = prost_types::FileDescriptorSet::decode(crate::pb::FILE_DESCRIPTOR_SET).unwrap();
        let service = set
            .file
            .iter()
            .flat_map(|f| &f.service)
            .find(|s| s.name() == "ElastiCacheService")
            .unwrap();
        let mut from_proto: Vec<_> = service
            .method
            .iter()
            .map(|m| {
                let call_type = match (m.client_streaming(), m.server_streaming()) {
                    (false, false) => CallType::Unary,
                    (false, true) => CallType::ServerStream,
                    _ => CallType::BidiStream,
                };
                (m.name().to_owned(), call_type)
            })
            .collect();
        let mut from_table: Vec<_> = methods()
            .filter(|m| m.is_protected())
            .map(|m| (m.name.to_owned(), m.call_type))
            .collect();
        from_proto.sort_by(|a, b| a.0.cmp(&b.0));
        from_table.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(from_table, from_proto);
        // The 77 operations of the model and the eight watches.
        assert_eq!(rpc_names().count(), 85);
        assert_eq!(
            methods()
                .filter(|m| m.name.starts_with("Watch") && m.is_protected())
                .count(),
            8
        );
    }
}
