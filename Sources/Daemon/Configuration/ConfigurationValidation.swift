import CNI
import Foundation
import Logging

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

extension DaemonConfiguration {
    /// The checks beyond parsing, in a fixed order; the first failure is thrown, naming the setting
    /// and where its value came from:
    ///
    /// - the containerd socket and namespace (containerd's rule: letters, digits, `.`, `_`, `-`, ≤ 76);
    /// - listen ports 1–65535, API and proxy not on one address;
    /// - the domain a DNS name that leaves room for a 63-character container name in front;
    /// - the data folder a directory if it exists (berthd creates it otherwise);
    /// - at least one JWT key source; the secret file, public key files and Docker config exist and are readable;
    /// - the roles claim non-empty; insecure registries `HOST[:PORT]`;
    /// - the CNI subnet IPv4 CIDR with prefix 1–30 and no host bits; the bridge a Linux interface name;
    ///   each egress allow entry an IPv4 or IPv6 CIDR without host bits;
    /// - the body limit 1 byte–1 GiB; readiness, grace and wake durations positive; idle durations
    ///   zero (off) or positive, and stopping after pausing; the proxy's header and idle timeouts
    ///   positive, its connection caps at least 1;
    /// - the GPU host root an existing directory; the log level one of swift-log's.
    public func validate() throws(ConfigurationError) {
        func fail(_ key: String, _ problem: String) -> ConfigurationError {
            ConfigurationError(setting: key, source: origins.byKey[key], problem: problem)
        }

        if containerdSocket.isEmpty { throw fail("containerd.socket", "must not be empty") }
        if !Self.isContainerdNamespace(namespace) {
            throw fail("containerd.namespace", "\(quoted(namespace)) is not a containerd namespace; expected letters and digits separated by single '.', '_' or '-', at most 76 characters")
        }

        for (key, address) in [("api.listen", apiListen), ("proxy.listen", proxyListen)] {
            if !(1...65535).contains(address.port) { throw fail(key, "port \(address.port) is out of range 1–65535") }
        }
        if apiListen == proxyListen {
            throw fail("proxy.listen", "\(proxyListen) is also api.listen; the API and the proxy need different addresses")
        }

        if let problem = Self.domainProblem(domain) { throw fail("proxy.domain", problem) }

        if dataDirectory.isEmpty { throw fail("data_dir", "must not be empty") }
        if let kind = Self.fileKind(dataDirectory), kind != .directory {
            throw fail("data_dir", "\(dataDirectory) exists and is not a directory")
        }

        if jwtSecretFile == nil && jwtPublicKeyFiles.isEmpty {
            throw ConfigurationError(
                setting: "auth", source: nil,
                problem: "no JWT verification key is configured; set auth.jwt_secret_file (BERTH_JWT_SECRET_FILE, --jwt-secret-file) to a file with an HS256 secret, or auth.jwt_public_key_files (BERTH_JWT_PUBLIC_KEY_FILES, --jwt-public-key-file) to RS256/ES256 public key PEM files"
            )
        }
        if let file = jwtSecretFile, let problem = Self.readableFileProblem(file) {
            throw fail("auth.jwt_secret_file", "the HS256 secret file \(problem)")
        }
        for file in jwtPublicKeyFiles {
            if let problem = Self.readableFileProblem(file) { throw fail("auth.jwt_public_key_files", "the public key file \(problem)") }
        }
        if let issuer = jwtIssuer, issuer.isEmpty { throw fail("auth.jwt_issuer", "must not be empty (leave it unset to accept any issuer)") }
        if let audience = jwtAudience, audience.isEmpty { throw fail("auth.jwt_audience", "must not be empty (leave it unset to accept any audience)") }
        if rolesClaim.isEmpty { throw fail("auth.roles_claim", "must not be empty") }

        for host in insecureRegistries where host.isEmpty || host.contains("/") || host.contains(where: \.isWhitespace) {
            throw fail("registry.insecure", "\(quoted(host)) is not HOST[:PORT] (no scheme or path), e.g. 10.0.0.5:5000")
        }
        for host in allowPrivateRegistries where host.isEmpty || host.contains("/") || host.contains(where: \.isWhitespace) {
            throw fail("registry.allow_private", "\(quoted(host)) is not HOST[:PORT] (no scheme or path), e.g. registry.lan:5000")
        }
        for (registry, urls) in registryMirrors.sorted(by: { $0.key < $1.key }) {
            if registry.isEmpty || registry.contains("/") { throw fail("registry.mirrors", "\(quoted(registry)) is not a registry host") }
            for url in urls {
                guard let parsed = URLComponents(string: url), ["http", "https"].contains(parsed.scheme?.lowercased() ?? ""),
                      !(parsed.host ?? "").isEmpty
                else { throw fail("registry.mirrors", "mirror \(quoted(url)) of \(quoted(registry)) is not an http:// or https:// URL") }
            }
        }
        if let file = dockerConfig, let problem = Self.readableFileProblem(file) {
            throw fail("registry.docker_config", "the Docker config \(problem)")
        }

        if let problem = Self.subnetProblem(cniSubnet) { throw fail("cni.subnet", problem) }
        if !Self.isInterfaceName(cniBridge) {
            throw fail("cni.bridge", "\(quoted(cniBridge)) is not a Linux interface name; expected 1–15 letters, digits, '-', '_' or '.'")
        }
        for entry in cniEgressAllow {
            do {
                _ = try IPCIDR(entry)
            } catch {
                if case .invalidValue(_, _, let reason) = error { throw fail("cni.egress_allow", "\(quoted(entry)): \(reason)") }
                throw fail("cni.egress_allow", "\(quoted(entry)): \(error)")
            }
        }

        if !(1...(1 << 30)).contains(maxBodyBytes) {
            throw fail("api.max_body_bytes", "\(maxBodyBytes) is out of range; expected 1 byte to 1Gi")
        }
        for (key, duration) in [("runtime.readiness_timeout", readinessTimeout), ("runtime.stop_grace_period", stopGracePeriod),
                                ("runtime.pull_timeout", pullTimeout), ("runtime.start_timeout", startTimeout),
                                ("proxy.wake_timeout", wakeTimeout), ("autoscaler.stable_window", autoscalerStableWindow),
                                ("autoscaler.panic_window", autoscalerPanicWindow)] where duration <= .zero {
            throw fail(key, "must be positive (e.g. \"30s\")")
        }
        for (key, duration) in [("proxy.idle_pause_after", idlePauseAfter), ("proxy.idle_stop_after", idleStopAfter)] where duration < .zero {
            throw fail(key, "must not be negative (0 turns it off)")
        }
        if !(0...1_000_000).contains(queueLimit) {
            throw fail("proxy.queue_limit", "\(queueLimit) is out of range; expected 0 (no queue) to 1000000")
        }
        if autoscalerPanicWindow > autoscalerStableWindow {
            throw fail("autoscaler.panic_window", "must not be longer than autoscaler.stable_window (\(Self.format(autoscalerStableWindow)))")
        }
        if autoscalerScaleDownDelay < .zero {
            throw fail("autoscaler.scale_down_delay", "must not be negative (0 scales down as soon as the load asks for fewer)")
        }
        if idlePauseAfter > .zero, idleStopAfter > .zero, idleStopAfter <= idlePauseAfter {
            throw fail("proxy.idle_stop_after", "must be longer than proxy.idle_pause_after (\(Self.format(idlePauseAfter))) or 0: a container is paused first, then stopped")
        }
        if let problem = proxyEdgeProblem() { throw problem }

        if gpuHostRoot.isEmpty { throw fail("runtime.gpu_host_root", "must not be empty") }
        if Self.fileKind(gpuHostRoot) != .directory { throw fail("runtime.gpu_host_root", "\(gpuHostRoot) is not a directory") }
        // The range is checked whatever the mode, so a bad one is found before it is turned on.
        _ = try userNamespaceMapping(hostSupports: true)

        if Logger.Level(rawValue: logLevel) == nil {
            let levels = Logger.Level.allCases.map(\.rawValue).joined(separator: ", ")
            throw fail("log_level", "\(quoted(logLevel)) is not a log level; expected one of \(levels)")
        }
    }

    // MARK: - Rules

    /// containerd's namespace rule: `^[A-Za-z0-9]+(?:[._-][A-Za-z0-9]+)*$`, at most 76 characters.
    static func isContainerdNamespace(_ name: String) -> Bool {
        guard (1...76).contains(name.utf8.count) else { return false }
        var previousWasSeparator = true
        for scalar in name.unicodeScalars {
            switch scalar {
            case "a"..."z", "A"..."Z", "0"..."9": previousWasSeparator = false
            case ".", "_", "-":
                if previousWasSeparator { return false }
                previousWasSeparator = true
            default: return false
            }
        }
        return !previousWasSeparator
    }

    /// Nil when `domain` is a DNS name that leaves room for a 63-character label and a dot in front.
    static func domainProblem(_ domain: String) -> String? {
        let expected = "expected a DNS name such as localhost or run.example.com"
        guard !domain.isEmpty else { return "must not be empty; \(expected)" }
        let labels = domain.split(separator: ".", omittingEmptySubsequences: false)
        guard labels.allSatisfy(ListenAddress.isDNSLabel) else {
            return "\(quoted(domain)) is not a DNS name (labels of 1–63 letters, digits and '-', not starting or ending with '-', no trailing dot); \(expected)"
        }
        guard domain.utf8.count <= 253 - 64 else {
            return "\(quoted(domain)) is \(domain.utf8.count) characters; at most 189 leave room for <name>. in front"
        }
        return nil
    }

    /// Nil for IPv4 CIDR notation with prefix 1–30 and no host bits (CNI's rule).
    static func subnetProblem(_ cidr: String) -> String? {
        let parts = cidr.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, ListenAddress.isIPv4(String(parts[0])),
              parts[0].split(separator: ".").count == 4,
              parts[1].allSatisfy({ $0.isASCII && $0.isNumber }), !parts[1].isEmpty, parts[1].count <= 2,
              let prefix = Int(parts[1])
        else { return "\(quoted(cidr)) is not an IPv4 subnet; expected CIDR notation such as 10.89.0.0/16" }
        guard (1...30).contains(prefix) else {
            return "\(quoted(cidr)) has prefix length \(prefix); expected 1–30 to leave room for a gateway and containers"
        }
        let octets = parts[0].split(separator: ".").compactMap { UInt32($0) }
        let address = octets.reduce(UInt32(0)) { $0 << 8 | $1 }
        let mask = ~UInt32(0) << UInt32(32 - prefix)
        guard address & ~mask == 0 else {
            let network = address & mask
            let dotted = (0..<4).map { String(network >> UInt32(24 - 8 * $0) & 0xff) }.joined(separator: ".")
            return "\(quoted(cidr)) has host bits set; did you mean \(dotted)/\(prefix)?"
        }
        return nil
    }

    static func isInterfaceName(_ name: String) -> Bool {
        guard (1...15).contains(name.utf8.count), name != ".", name != ".." else { return false }
        return name.unicodeScalars.allSatisfy { scalar in
            switch scalar {
            case "a"..."z", "A"..."Z", "0"..."9", "-", "_", ".": true
            default: false
            }
        }
    }

    enum FileKind { case regular, directory, other }

    static func fileKind(_ path: String) -> FileKind? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        switch info.st_mode & S_IFMT {
        case S_IFREG: return .regular
        case S_IFDIR: return .directory
        default: return .other
        }
    }

    /// Nil when `path` is a readable regular file; otherwise "PATH does not exist" and the like.
    static func readableFileProblem(_ path: String) -> String? {
        switch fileKind(path) {
        case nil: return "\(path) does not exist"
        case .directory?: return "\(path) is a directory, not a file"
        case .other?: return "\(path) is not a regular file"
        case .regular?:
            guard access(path, R_OK) == 0 else { return "\(path) cannot be read: \(String(cString: strerror(errno)))" }
            return nil
        }
    }

    /// `90s`, `15m`, `1h30m`, `500ms` for messages.
    static func format(_ duration: Duration) -> String {
        let (seconds, attoseconds) = duration.components
        if attoseconds == 0 {
            if seconds == 0 { return "0s" }
            var text = ""
            var rest = seconds
            for (unit, size) in [("h", Int64(3600)), ("m", 60), ("s", 1)] where rest >= size {
                text += "\(rest / size)\(unit)"
                rest %= size
            }
            return text
        }
        let milliseconds = seconds * 1000 + attoseconds / 1_000_000_000_000_000
        return "\(milliseconds)ms"
    }
}
