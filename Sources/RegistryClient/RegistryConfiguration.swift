/// A user name and password (or token) for one registry.
public struct RegistryCredentials: Sendable, Equatable {
    public var username: String
    public var password: String

    public init(username: String, password: String) {
        self.username = username
        self.password = password
    }
}

/// Where images come from and how to get in: insecure hosts, mirrors, credentials, retries.
public struct RegistryConfiguration: Sendable {
    /// Hosts (`host:port`, exactly as in image references or mirror URLs) spoken to over plain
    /// HTTP. There are no implicit entries, not even `localhost`.
    public var insecureHosts: Set<String>
    /// Hosts (`host` or `host:port`; without a port, every port) that may have loopback,
    /// link-local, private or other non-public addresses. Insecure hosts and mirrors may too:
    /// the operator named them. Everything else, image references, redirects and token realms
    /// included, must resolve to public addresses only.
    public var allowPrivateHosts: Set<String>
    /// Registry host (`docker.io`) to mirror base URLs (`http://127.0.0.1:5001`), tried in
    /// order before the registry itself, as containerd's `hosts.toml` does.
    public var mirrors: [String: [String]]
    /// Credentials by host; consulted before `dockerConfig`.
    public var credentials: [String: RegistryCredentials]
    public var dockerConfig: DockerConfig?
    public var retry: RetryPolicy
    /// Sent as `User-Agent`; berthd sets `berthd/<version>`.
    public var userAgent: String

    public init(insecureHosts: Set<String> = [], mirrors: [String: [String]] = [:],
                credentials: [String: RegistryCredentials] = [:], dockerConfig: DockerConfig? = nil,
                retry: RetryPolicy = .default, allowPrivateHosts: Set<String> = []) {
        self.insecureHosts = insecureHosts
        self.allowPrivateHosts = allowPrivateHosts
        self.mirrors = mirrors
        self.credentials = credentials
        self.dockerConfig = dockerConfig
        self.retry = retry
        self.userAgent = "berthd"
    }

    /// Explicit credentials first (by exact key, then by normalised host), then the Docker config.
    public func credentials(for host: String) -> RegistryCredentials? {
        if let exact = credentials[host] {
            return exact
        }
        let normalized = DockerConfig.normalizedHost(host)
        if let match = credentials.first(where: { DockerConfig.normalizedHost($0.key) == normalized }) {
            return match.value
        }
        return dockerConfig?.credentials(for: host)
    }

    public func isInsecure(_ host: String) -> Bool {
        insecureHosts.contains(host)
    }

    /// Where connections may go: see `EgressPolicy`.
    public var egressPolicy: EgressPolicy {
        let mirrorHosts = mirrors.values.flatMap { $0 }.compactMap { RegistryEndpoint(mirror: $0, insecureHosts: insecureHosts)?.host }
        return EgressPolicy(allowedHosts: insecureHosts.union(allowPrivateHosts).union(mirrorHosts), insecureHosts: insecureHosts)
    }
}
