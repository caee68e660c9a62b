import Proxy

extension ValueParser {
    /// A count: a TOML integer or decimal text. Ranges are ``DaemonConfiguration/proxyEdgeProblem()``'s.
    static func connectionCount(_ value: RawValue, _ context: SettingContext) throws(ConfigurationError) -> Int {
        switch value {
        case .integer(let number):
            return number
        case .string(let text):
            guard let number = Int(text) else { throw context.error("\(quoted(text)) is not a whole number") }
            return number
        default:
            throw context.typeError(expected: "an integer", found: value)
        }
    }

    /// CIDR blocks or single addresses, IPv4 or IPv6, without host bits: `["10.0.0.0/8", "192.0.2.7"]`.
    static func networks(_ value: RawValue, _ context: SettingContext) throws(ConfigurationError) -> [IPNetwork] {
        var networks: [IPNetwork] = []
        for text in try stringList(value, context) {
            do {
                networks.append(try IPNetwork(parsing: text))
            } catch {
                throw context.error(error.problem)
            }
        }
        return networks
    }
}

extension DaemonConfiguration {
    /// The proxy's edge rules: `proxy.header_timeout`, `proxy.idle_timeout` positive; the
    /// connection caps at least 1.
    func proxyEdgeProblem() -> ConfigurationError? {
        func fail(_ key: String, _ problem: String) -> ConfigurationError {
            ConfigurationError(setting: key, source: source(of: key), problem: problem)
        }
        for (key, duration) in [("proxy.header_timeout", proxyHeaderTimeout), ("proxy.idle_timeout", proxyIdleTimeout)]
        where duration <= .zero {
            return fail(key, "must be positive (e.g. \"10s\"): a connection must not wait forever")
        }
        for (key, count) in [("proxy.max_connections", proxyMaxConnections),
                             ("proxy.max_connections_per_client", proxyMaxConnectionsPerClient)] where count < 1 {
            return fail(key, "\(count) is out of range; expected at least 1")
        }
        return nil
    }

    /// What the proxy is built with.
    func proxyConfiguration() -> ProxyConfiguration {
        ProxyConfiguration(
            host: proxyListen.bindHost,
            port: proxyListen.port,
            idleTimeout: proxyIdleTimeout,
            headerTimeout: proxyHeaderTimeout,
            maxConnections: proxyMaxConnections,
            maxConnectionsPerClient: proxyMaxConnectionsPerClient,
            trustedProxies: proxyTrustedProxies
        )
    }
}
