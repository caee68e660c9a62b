/// A server to fetch a registry's content from: a mirror or the registry itself.
public struct RegistryEndpoint: Sendable, Hashable, CustomStringConvertible {
    /// `https`, or `http` for insecure hosts and mirrors that say so.
    public var scheme: String
    /// `host[:port]` to connect to.
    public var host: String
    /// A path the mirror serves `/v2/` under, without trailing slash; usually empty.
    public var pathPrefix: String
    public var isMirror: Bool
    /// Whose credentials are sent: the registry's name (`docker.io`) for the registry itself,
    /// the mirror's own host for a mirror.
    public var credentialHost: String

    public init(scheme: String, host: String, pathPrefix: String = "", isMirror: Bool, credentialHost: String? = nil) {
        self.scheme = scheme
        self.host = host
        self.pathPrefix = pathPrefix
        self.isMirror = isMirror
        self.credentialHost = credentialHost ?? host
    }

    /// Parses a mirror URL (`http://127.0.0.1:5001`, `https://mirror.example.com/prefix`).
    /// Without a scheme, HTTPS is used unless the host is insecure. Returns nil for other schemes
    /// or an empty host.
    public init?(mirror url: String, insecureHosts: Set<String>) {
        var rest = Substring(url.trimmingCharacters(in: .whitespaces))
        var scheme: String?
        if let separator = rest.range(of: "://") {
            scheme = rest[..<separator.lowerBound].lowercased()
            rest = rest[separator.upperBound...]
        }
        let host: Substring
        var path: Substring = ""
        if let slash = rest.firstIndex(of: "/") {
            host = rest[..<slash]
            path = rest[slash...]
        } else {
            host = rest
        }
        while path.hasSuffix("/") { path = path.dropLast() }
        // containerd's hosts.toml convention: a mirror path may name /v2 itself.
        if path.hasSuffix("/v2") { path = path.dropLast(3) }
        let resolvedScheme = scheme ?? (insecureHosts.contains(String(host)) ? "http" : "https")
        guard !host.isEmpty, resolvedScheme == "http" || resolvedScheme == "https" else { return nil }
        self.init(scheme: resolvedScheme, host: String(host), pathPrefix: String(path), isMirror: true)
    }

    public var baseURL: String { "\(scheme)://\(host)\(pathPrefix)" }

    public var description: String { baseURL }

    /// `<base>/v2/<repository>/<kind>/<reference>`, kind being `manifests` or `blobs`.
    public func url(repository: String, kind: String, reference: String) -> String {
        "\(baseURL)/v2/\(repository)/\(kind)/\(reference)"
    }
}

extension RegistryConfiguration {
    /// The host serving a registry's API: Docker Hub's API is not at `docker.io`.
    public static func apiHost(for registry: String) -> String {
        registry == "docker.io" ? "registry-1.docker.io" : registry
    }

    /// Where to fetch `registry`'s content, in order: its mirrors, then the registry itself.
    /// Mirror URLs that are not http(s) are left out.
    public func endpoints(for registry: String) -> [RegistryEndpoint] {
        let normalized = DockerConfig.normalizedHost(registry)
        let mirrorURLs = mirrors[registry]
            ?? mirrors.first(where: { DockerConfig.normalizedHost($0.key) == normalized })?.value
            ?? []
        var endpoints = mirrorURLs.compactMap { RegistryEndpoint(mirror: $0, insecureHosts: insecureHosts) }
        let host = Self.apiHost(for: registry)
        let insecure = insecureHosts.contains(registry) || insecureHosts.contains(host)
        endpoints.append(RegistryEndpoint(scheme: insecure ? "http" : "https", host: host,
                                          isMirror: false, credentialHost: registry))
        return endpoints
    }

    /// Mirror URLs that `endpoints(for:)` leaves out, to warn about.
    public var invalidMirrors: [String] {
        mirrors.values.flatMap { $0 }.filter { RegistryEndpoint(mirror: $0, insecureHosts: insecureHosts) == nil }
    }
}
