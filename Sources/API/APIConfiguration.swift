import BerthModel
import Foundation

/// What the API needs to know about the node and its defaults.
public struct APIConfiguration: Sendable {
    /// Containers are invoked at http://<name>.<domain>.
    public var domain: String
    /// The port of the proxy listener, added to URLs unless it is 80.
    public var proxyPort: Int
    public var maxBodyBytes: Int
    /// Upper bounds a request may ask for: more than the node has is refused.
    public var maxCPU: Double
    public var maxMemoryBytes: Int64
    public var maxEphemeralStorageBytes: Int64
    /// Applied once, at create, to what a request leaves out.
    public var defaults: Defaults

    public struct Defaults: Sendable {
        public var cpu: Double = 1
        public var memory = "512Mi"
        public var ephemeralStorage = "1Gi"
        public var port = 8080
        public init() {}
    }

    public init(domain: String = "localhost", proxyPort: Int = 80, maxBodyBytes: Int = 1 << 20,
                maxCPU: Double = Double(ProcessInfo.processInfo.activeProcessorCount),
                maxMemoryBytes: Int64 = Int64(ProcessInfo.processInfo.physicalMemory),
                maxEphemeralStorageBytes: Int64 = 1 << 44, defaults: Defaults = Defaults()) {
        self.domain = domain
        self.proxyPort = proxyPort
        self.maxBodyBytes = maxBodyBytes
        self.maxCPU = maxCPU
        self.maxMemoryBytes = maxMemoryBytes
        self.maxEphemeralStorageBytes = maxEphemeralStorageBytes
        self.defaults = defaults
    }

    func url(for name: String) -> String {
        proxyPort == 80 ? "http://\(name).\(domain)" : "http://\(name).\(domain):\(proxyPort)"
    }
}
