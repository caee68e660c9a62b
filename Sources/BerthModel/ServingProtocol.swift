/// The HTTP a container serves on its port, which the proxy must speak to it. Clients may use
/// HTTP/1.1 or HTTP/2 to the proxy either way; only the hop to the container differs.
public enum ServingProtocol: String, Hashable, Sendable, Codable, CaseIterable {
    /// HTTP/1.1, what most servers speak: the default.
    case http1
    /// HTTP/2 over cleartext with prior knowledge (no Upgrade, no TLS), what gRPC servers speak:
    /// Cloud Run's `--use-http2`, Knative's port named `h2c`.
    case h2c
}
