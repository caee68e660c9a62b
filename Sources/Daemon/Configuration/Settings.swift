import BerthModel
import Foundation
import Runtime

/// A value as a source gave it: typed from TOML, text from the environment and from flags.
indirect enum RawValue {
    case string(String)
    case integer(Int)
    case float(Double)
    case boolean(Bool)
    case array([RawValue])
    case table([(key: String, value: RawValue)])
    /// A TOML date or time, which no setting accepts.
    case other(String)

    var typeName: String {
        switch self {
        case .string: "a string"
        case .integer: "an integer"
        case .float: "a floating-point number"
        case .boolean: "a boolean"
        case .array: "an array"
        case .table: "a table"
        case .other(let name): "a \(name)"
        }
    }
}

/// The setting being parsed and where its value came from.
struct SettingContext {
    var key: String
    var source: ConfigurationError.Source
    /// Relative paths are taken relative to this: the config file's folder for file values, the
    /// current directory for environment variables and flags.
    var baseDirectory: String

    func error(_ problem: String) -> ConfigurationError {
        ConfigurationError(setting: key, source: source, problem: problem)
    }

    func typeError(expected: String, found value: RawValue) -> ConfigurationError {
        error("expected \(expected), found \(value.typeName)")
    }
}

/// One setting: its TOML key, environment variable and flag, and how a value is parsed into the configuration.
struct Setting {
    var key: String
    var environment: String
    var flag: String
    /// The environment variable holds a comma-separated list.
    var isList: Bool
    var apply: (inout DaemonConfiguration, RawValue, SettingContext) throws(ConfigurationError) -> Void

    init<T>(
        _ key: String, env: String, flag: String, list: Bool = false,
        _ keyPath: WritableKeyPath<DaemonConfiguration, T>,
        _ parse: @escaping (RawValue, SettingContext) throws(ConfigurationError) -> T
    ) {
        self.key = key
        self.environment = env
        self.flag = flag
        self.isList = list
        self.apply = { (configuration: inout DaemonConfiguration, value: RawValue, context: SettingContext) throws(ConfigurationError) in
            configuration[keyPath: keyPath] = try parse(value, context)
        }
    }
}

enum SettingTable {
    typealias P = ValueParser

    /// Every setting, in the order the default config file documents them.
    static var all: [Setting] {
        [
            Setting("data_dir", env: "BERTH_DATA_DIR", flag: "--data-dir", \.dataDirectory, P.path),
            Setting("log_level", env: "BERTH_LOG_LEVEL", flag: "--log-level", \.logLevel, P.logLevel),
            Setting("containerd.socket", env: "BERTH_CONTAINERD_SOCKET", flag: "--containerd-socket", \.containerdSocket, P.socketPath),
            Setting("containerd.namespace", env: "BERTH_NAMESPACE", flag: "--namespace", \.namespace, P.string),
            Setting("api.listen", env: "BERTH_API_LISTEN", flag: "--api-listen", \.apiListen, P.listenAddress),
            Setting("api.max_body_bytes", env: "BERTH_MAX_BODY_BYTES", flag: "--max-body-bytes", \.maxBodyBytes, P.byteSize),
            Setting("proxy.listen", env: "BERTH_PROXY_LISTEN", flag: "--proxy-listen", \.proxyListen, P.listenAddress),
            Setting("proxy.domain", env: "BERTH_DOMAIN", flag: "--domain", \.domain, P.domain),
            Setting("proxy.wake_timeout", env: "BERTH_WAKE_TIMEOUT", flag: "--wake-timeout", \.wakeTimeout, P.duration),
            Setting("proxy.idle_pause_after", env: "BERTH_IDLE_PAUSE_AFTER", flag: "--idle-pause-after", \.idlePauseAfter, P.duration),
            Setting("proxy.idle_stop_after", env: "BERTH_IDLE_STOP_AFTER", flag: "--idle-stop-after", \.idleStopAfter, P.duration),
            Setting("proxy.header_timeout", env: "BERTH_PROXY_HEADER_TIMEOUT", flag: "--proxy-header-timeout", \.proxyHeaderTimeout, P.duration),
            Setting("proxy.idle_timeout", env: "BERTH_PROXY_IDLE_TIMEOUT", flag: "--proxy-idle-timeout", \.proxyIdleTimeout, P.duration),
            Setting("proxy.queue_limit", env: "BERTH_QUEUE_LIMIT", flag: "--queue-limit", \.queueLimit, P.connectionCount),
            Setting("proxy.max_connections", env: "BERTH_PROXY_MAX_CONNECTIONS", flag: "--proxy-max-connections", \.proxyMaxConnections, P.connectionCount),
            Setting("proxy.max_connections_per_client", env: "BERTH_PROXY_MAX_CONNECTIONS_PER_CLIENT", flag: "--proxy-max-connections-per-client",
                    \.proxyMaxConnectionsPerClient, P.connectionCount),
            Setting("proxy.trusted_proxies", env: "BERTH_PROXY_TRUSTED_PROXIES", flag: "--proxy-trusted-proxy", list: true,
                    \.proxyTrustedProxies, P.networks),
            Setting("autoscaler.stable_window", env: "BERTH_AUTOSCALER_STABLE_WINDOW", flag: "--autoscaler-stable-window",
                    \.autoscalerStableWindow, P.duration),
            Setting("autoscaler.panic_window", env: "BERTH_AUTOSCALER_PANIC_WINDOW", flag: "--autoscaler-panic-window",
                    \.autoscalerPanicWindow, P.duration),
            Setting("autoscaler.scale_down_delay", env: "BERTH_AUTOSCALER_SCALE_DOWN_DELAY", flag: "--autoscaler-scale-down-delay",
                    \.autoscalerScaleDownDelay, P.duration),
            Setting("auth.jwt_secret_file", env: "BERTH_JWT_SECRET_FILE", flag: "--jwt-secret-file", \.jwtSecretFile, P.optionalPath),
            Setting("auth.jwt_public_key_files", env: "BERTH_JWT_PUBLIC_KEY_FILES", flag: "--jwt-public-key-file", list: true,
                    \.jwtPublicKeyFiles, P.pathList),
            Setting("auth.jwt_issuer", env: "BERTH_JWT_ISSUER", flag: "--jwt-issuer", \.jwtIssuer, P.optionalString),
            Setting("auth.jwt_audience", env: "BERTH_JWT_AUDIENCE", flag: "--jwt-audience", \.jwtAudience, P.optionalString),
            Setting("auth.roles_claim", env: "BERTH_ROLES_CLAIM", flag: "--roles-claim", \.rolesClaim, P.string),
            Setting("secrets.key_file", env: "BERTH_SECRET_KEY_FILE", flag: "--secret-key-file", \.secretKeyFile, P.optionalPath),
            Setting("registry.insecure", env: "BERTH_INSECURE_REGISTRIES", flag: "--insecure-registry", list: true,
                    \.insecureRegistries, P.registryHosts),
            Setting("registry.allow_private", env: "BERTH_REGISTRY_ALLOW_PRIVATE", flag: "--allow-private-registry", list: true,
                    \.allowPrivateRegistries, P.registryHosts),
            Setting("registry.mirrors", env: "BERTH_REGISTRY_MIRRORS", flag: "--registry-mirror", list: true,
                    \.registryMirrors, P.mirrors),
            Setting("registry.docker_config", env: "BERTH_DOCKER_CONFIG", flag: "--docker-config", \.dockerConfig, P.optionalPath),
            Setting("cni.subnet", env: "BERTH_CNI_SUBNET", flag: "--cni-subnet", \.cniSubnet, P.string),
            Setting("cni.bridge", env: "BERTH_CNI_BRIDGE", flag: "--cni-bridge", \.cniBridge, P.string),
            Setting("cni.egress_allow", env: "BERTH_CNI_EGRESS_ALLOW", flag: "--cni-egress-allow", list: true,
                    \.cniEgressAllow, P.stringList),
            Setting("cni.ipv6", env: "BERTH_CNI_IPV6", flag: "--cni-ipv6", \.cniIPv6, P.boolean),
            Setting("runtime.readiness_timeout", env: "BERTH_READINESS_TIMEOUT", flag: "--readiness-timeout", \.readinessTimeout, P.duration),
            Setting("runtime.stop_grace_period", env: "BERTH_STOP_GRACE_PERIOD", flag: "--stop-grace-period", \.stopGracePeriod, P.duration),
            Setting("runtime.pull_timeout", env: "BERTH_PULL_TIMEOUT", flag: "--pull-timeout", \.pullTimeout, P.duration),
            Setting("runtime.start_timeout", env: "BERTH_START_TIMEOUT", flag: "--start-timeout", \.startTimeout, P.duration),
            Setting("runtime.gpu_host_root", env: "BERTH_GPU_HOST_ROOT", flag: "--gpu-host-root", \.gpuHostRoot, P.path),
            Setting("runtime.seccomp", env: "BERTH_SECCOMP", flag: "--seccomp", \.seccomp, P.seccomp),
            Setting("runtime.user_namespaces", env: "BERTH_USER_NAMESPACES", flag: "--user-namespaces", \.userNamespaces,
                    P.userNamespaces),
            Setting("runtime.userns_base", env: "BERTH_USERNS_BASE", flag: "--userns-base", \.usernsBase, P.hostID),
            Setting("runtime.userns_size", env: "BERTH_USERNS_SIZE", flag: "--userns-size", \.usernsSize, P.hostID),
            Setting("node.cpu", env: "BERTH_NODE_CPU", flag: "--node-cpu", \.nodeCPU, P.optionalCores),
            Setting("node.ram", env: "BERTH_NODE_RAM", flag: "--node-ram", \.nodeRAM, P.optionalBytes),
            Setting("node.storage", env: "BERTH_NODE_STORAGE", flag: "--node-storage", \.nodeStorage, P.optionalBytes),
            Setting("node.reserved_cpu", env: "BERTH_RESERVED_CPU", flag: "--reserved-cpu", \.reservedCPU, P.headroom(cpu: true)),
            Setting("node.reserved_ram", env: "BERTH_RESERVED_RAM", flag: "--reserved-ram", \.reservedRAM, P.headroom(cpu: false)),
            Setting("node.reserved_storage", env: "BERTH_RESERVED_STORAGE", flag: "--reserved-storage", \.reservedStorage,
                    P.headroom(cpu: false)),
            Setting("quota.default", env: "BERTH_QUOTA_DEFAULT", flag: "--quota-default", \.defaultQuota, P.quota),
            Setting("quota.owners", env: "BERTH_QUOTA_OWNERS", flag: "--quota-owner", \.ownerQuotas, P.ownerQuotas),
        ]
    }

    static func setting(_ key: String) -> Setting? { all.first { $0.key == key } }

    /// The tables the file may have (`containerd`, `api`, …), in documentation order.
    static var tableNames: [String] {
        var names: [String] = []
        for setting in all {
            guard let dot = setting.key.firstIndex(of: ".") else { continue }
            let table = String(setting.key[..<dot])
            if !names.contains(table) { names.append(table) }
        }
        return names
    }

    /// The keys a table (or, for "", the top level) accepts.
    static func keys(in table: String) -> [String] {
        all.compactMap { setting in
            if table.isEmpty { return setting.key.contains(".") ? nil : setting.key }
            guard setting.key.hasPrefix(table + ".") else { return nil }
            return String(setting.key.dropFirst(table.count + 1))
        }
    }
}

/// Parsers from a source's raw value to a setting's type. Formats only; rules that concern the
/// value itself (ranges, files that must exist) are ``DaemonConfiguration/validate()``'s.
enum ValueParser {
    static func string(_ value: RawValue, _ context: SettingContext) throws(ConfigurationError) -> String {
        guard case .string(let text) = value else { throw context.typeError(expected: "a string", found: value) }
        guard !text.isEmpty else { throw context.error("must not be empty") }
        return text
    }

    /// An empty string means "not set".
    static func optionalString(_ value: RawValue, _ context: SettingContext) throws(ConfigurationError) -> String? {
        guard case .string(let text) = value else { throw context.typeError(expected: "a string", found: value) }
        return text.isEmpty ? nil : text
    }

    /// A TOML boolean, or `true`/`false` (also `1`/`0`, `yes`/`no`) from the environment and flags.
    static func boolean(_ value: RawValue, _ context: SettingContext) throws(ConfigurationError) -> Bool {
        switch value {
        case .boolean(let flag): return flag
        case .string(let text):
            switch text.lowercased() {
            case "true", "1", "yes", "on": return true
            case "false", "0", "no", "off": return false
            default: throw context.error("\(quoted(text)) is not a boolean; expected true or false")
            }
        default: throw context.typeError(expected: "a boolean", found: value)
        }
    }

    static func path(_ value: RawValue, _ context: SettingContext) throws(ConfigurationError) -> String {
        absolutePath(try string(value, context), relativeTo: context.baseDirectory)
    }

    static func optionalPath(_ value: RawValue, _ context: SettingContext) throws(ConfigurationError) -> String? {
        try optionalString(value, context).map { absolutePath($0, relativeTo: context.baseDirectory) }
    }

    /// A path, also accepted as a `unix://` URL.
    static func socketPath(_ value: RawValue, _ context: SettingContext) throws(ConfigurationError) -> String {
        var text = try string(value, context)
        if text.hasPrefix("unix://") { text.removeFirst("unix://".count) }
        guard !text.isEmpty else { throw context.error("must not be empty") }
        return absolutePath(text, relativeTo: context.baseDirectory)
    }

    static func stringList(_ value: RawValue, _ context: SettingContext) throws(ConfigurationError) -> [String] {
        guard case .array(let elements) = value else { throw context.typeError(expected: "an array of strings", found: value) }
        var strings: [String] = []
        for (index, element) in elements.enumerated() {
            guard case .string(let text) = element else {
                throw context.error("element \(index + 1) is \(element.typeName); expected an array of strings")
            }
            guard !text.isEmpty else { throw context.error("element \(index + 1) is empty") }
            strings.append(text)
        }
        return strings
    }

    static func pathList(_ value: RawValue, _ context: SettingContext) throws(ConfigurationError) -> [String] {
        try stringList(value, context).map { absolutePath($0, relativeTo: context.baseDirectory) }
    }

    /// `HOST[:PORT]`, as the registry appears in image references.
    static func registryHosts(_ value: RawValue, _ context: SettingContext) throws(ConfigurationError) -> [String] {
        let hosts = try stringList(value, context)
        for host in hosts where host.contains("/") || host.contains(where: \.isWhitespace) {
            throw context.error("\(quoted(host)) is not HOST[:PORT] (no scheme or path), e.g. 10.0.0.5:5000")
        }
        return hosts
    }

    /// A TOML table `"docker.io" = ["http://10.0.0.5:5000"]`, or `REGISTRY=URL` items from the
    /// environment (comma-separated) and flags (repeated); several for one registry keep their order.
    static func mirrors(_ value: RawValue, _ context: SettingContext) throws(ConfigurationError) -> [String: [String]] {
        var mirrors: [String: [String]] = [:]
        switch value {
        case .table(let entries):
            for (registry, urls) in entries {
                let list: [String]
                switch urls {
                case .string(let url): list = [url]
                case .array:
                    var inner = context
                    inner.key = "\(context.key).\(registry.contains(".") ? quoted(registry) : registry)"
                    list = try stringList(urls, inner)
                default:
                    throw context.error("the mirrors of \(quoted(registry)) are \(urls.typeName); expected an array of URLs")
                }
                for url in list { try checkMirrorURL(url, registry: registry, context) }
                mirrors[registry, default: []].append(contentsOf: list)
            }
        case .array:
            for item in try stringList(value, context) {
                let parts = item.split(separator: "=", maxSplits: 1).map(String.init)
                guard parts.count == 2, !parts[0].isEmpty else {
                    throw context.error("\(quoted(item)) is not REGISTRY=URL (e.g. docker.io=http://10.0.0.5:5000)")
                }
                try checkMirrorURL(parts[1], registry: parts[0], context)
                mirrors[parts[0], default: []].append(parts[1])
            }
        default:
            throw context.typeError(expected: "a table of registry = [mirror URLs]", found: value)
        }
        return mirrors
    }

    static func checkMirrorURL(_ url: String, registry: String, _ context: SettingContext) throws(ConfigurationError) {
        guard let parsed = URLComponents(string: url), let scheme = parsed.scheme?.lowercased(),
              scheme == "http" || scheme == "https", let host = parsed.host, !host.isEmpty
        else {
            throw context.error("mirror \(quoted(url)) of \(quoted(registry)) is not an http:// or https:// URL")
        }
    }

    static func seccomp(_ value: RawValue, _ context: SettingContext) throws(ConfigurationError) -> SeccompMode {
        let text = try string(value, context)
        guard let mode = SeccompMode(rawValue: text) else {
            throw context.error("\(quoted(text)) is not a seccomp mode; expected \"default\" or \"unconfined\"")
        }
        return mode
    }

    static func listenAddress(_ value: RawValue, _ context: SettingContext) throws(ConfigurationError) -> ListenAddress {
        let text = try string(value, context)
        do {
            return try ListenAddress(parsing: text)
        } catch {
            throw context.error(error.problem)
        }
    }

    static func domain(_ value: RawValue, _ context: SettingContext) throws(ConfigurationError) -> String {
        try string(value, context).lowercased()
    }

    static func logLevel(_ value: RawValue, _ context: SettingContext) throws(ConfigurationError) -> String {
        try string(value, context).lowercased()
    }

    /// A duration: `500ms`, `90s`, `2m`, `1h30m`, `1.5h`, or plain seconds (a TOML number or bare digits).
    static func duration(_ value: RawValue, _ context: SettingContext) throws(ConfigurationError) -> Duration {
        let expected = "expected a number with a unit (500ms, 90s, 2m, 1h30m) or plain seconds"
        switch value {
        case .integer(let seconds):
            guard seconds >= 0 else { throw context.error("\(seconds) is negative; \(expected)") }
            guard seconds <= maximumDurationSeconds else { throw context.error("\(seconds) seconds is too long") }
            return .seconds(seconds)
        case .float(let seconds):
            guard seconds.isFinite, seconds >= 0 else { throw context.error("\(seconds) is not a non-negative number of seconds; \(expected)") }
            guard seconds <= Double(maximumDurationSeconds) else { throw context.error("\(seconds) seconds is too long") }
            return .nanoseconds(Int64((seconds * 1e9).rounded()))
        case .string(let text):
            if text.hasPrefix("-") { throw context.error("\(quoted(text)) is negative; \(expected)") }
            guard let duration = DurationText.parse(text) else { throw context.error("\(quoted(text)) is not a duration; \(expected)") }
            return duration
        default:
            throw context.typeError(expected: "a duration (a string such as \"90s\" or a number of seconds)", found: value)
        }
    }

    /// About 100 years: long enough for anything, far from overflowing.
    static let maximumDurationSeconds = DurationText.maximumSeconds

    /// Bytes: a TOML integer, or text such as `1048576`, `512Ki`, `1Mi`, `2M`, `1MiB`.
    static func byteSize(_ value: RawValue, _ context: SettingContext) throws(ConfigurationError) -> Int {
        let expected = "expected bytes, optionally with a suffix: 1048576, 512Ki, 1Mi, 2M"
        switch value {
        case .integer(let bytes):
            return bytes
        case .string(let text):
            guard let bytes = parseByteSize(text) else { throw context.error("\(quoted(text)) is not a size; \(expected)") }
            return bytes
        default:
            throw context.typeError(expected: "a size (an integer number of bytes or a string such as \"1Mi\")", found: value)
        }
    }

    /// A ``Quantity`` (`512Ki`, `1Mi`, `2M`, `1.5Gi`), also with a trailing `B` (`1MiB`, `10B`) and
    /// an upper-case `K` for thousands (`1K`, `1KB`), as sizes are often written.
    static func parseByteSize(_ text: String) -> Int? {
        var quantity = Substring(text)
        if quantity.hasSuffix("B") { quantity = quantity.dropLast() }
        if quantity.hasSuffix("K") { quantity = Substring(quantity.dropLast() + "k") }
        guard !quantity.isEmpty, let bytes = try? Quantity(parsing: String(quantity)).bytes else { return nil }
        return Int(exactly: bytes)
    }

    /// `path` made absolute against `base`, with `.`, `..` and repeated slashes removed.
    static func absolutePath(_ path: String, relativeTo base: String) -> String {
        let joined = path.hasPrefix("/") ? path : base + "/" + path
        var components: [Substring] = []
        for component in joined.split(separator: "/") {
            switch component {
            case ".": continue
            case "..": if !components.isEmpty { components.removeLast() }
            default: components.append(component)
            }
        }
        return "/" + components.joined(separator: "/")
    }
}
