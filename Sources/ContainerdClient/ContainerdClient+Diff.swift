import ContainerdAPI
import GRPCCore
import GRPCNIOTransportHTTP2
import OCI

extension ContainerdClient {
    var diff: Containerd_Services_Diff_V1_Diff.Client<HTTP2ClientTransport.Posix> {
        .init(wrapping: grpc)
    }

    /// Unpacks the layer blob `layer` (plain, gzip or zstd tar, by media type) onto `mounts` and
    /// returns the digest of the uncompressed tar, which must equal the image's diff ID.
    public func applyLayer(_ layer: Descriptor, to mounts: [Mount]) async throws -> Digest {
        let applied = try await call("Diff.Apply") {
            try await diff.apply(.with {
                $0.diff = layer.proto
                $0.mounts = mounts.map(\.proto)
            }, metadata: metadata, options: Self.streamingOptions).applied
        }
        return try Digest(applied.digest)
    }
}
