/// What `berthd serve` flags set; nil (or an empty list) when a flag was not given.
///
/// Values are the flags' raw text: ``DaemonConfiguration/resolve(flags:environment:)`` parses them
/// and names the flag in its errors. A list given on the command line replaces the lists from the
/// file and the environment.
public struct DaemonFlags: Sendable, Equatable {
    /// `--config`: the TOML file; must exist when named.
    public var configFile: String?
    /// `--containerd-socket`
    public var containerdSocket: String?
    /// `--namespace`
    public var namespace: String?
    /// `--api-listen` (`HOST:PORT`, `[IPV6]:PORT`, `:PORT`)
    public var apiListen: String?
    /// `--proxy-listen`
    public var proxyListen: String?
    /// `--domain`
    public var domain: String?
    /// `--data-dir`
    public var dataDirectory: String?
    /// `--jwt-secret-file`
    public var jwtSecretFile: String?
    /// `--secret-key-file`
    public var secretKeyFile: String?
    /// `--jwt-public-key-file` (repeatable)
    public var jwtPublicKeyFiles: [String]
    /// `--jwt-issuer`
    public var jwtIssuer: String?
    /// `--jwt-audience`
    public var jwtAudience: String?
    /// `--roles-claim`
    public var rolesClaim: String?
    /// `--insecure-registry HOST[:PORT]` (repeatable)
    public var insecureRegistries: [String]
    /// `--allow-private-registry HOST[:PORT]` (repeatable)
    public var allowPrivateRegistries: [String] = []
    /// `--registry-mirror REGISTRY=URL` (repeatable; several for one registry are tried in order)
    public var registryMirrors: [String]
    /// `--docker-config`
    public var dockerConfig: String?
    /// `--cni-subnet`
    public var cniSubnet: String?
    /// `--cni-bridge`
    public var cniBridge: String?
    /// `--cni-egress-allow CIDR` (repeatable)
    public var cniEgressAllow: [String] = []
    /// `--cni-ipv6 true|false`
    public var cniIPv6: String?
    /// `--max-body-bytes` (bytes, or with a suffix: `1Mi`, `512Ki`, `2M`)
    public var maxBodyBytes: String?
    /// `--readiness-timeout` (durations: `90s`, `2m`, `1h30m`, `500ms`, or plain seconds)
    public var readinessTimeout: String?
    /// `--stop-grace-period`
    public var stopGracePeriod: String?
    /// `--pull-timeout` (one pull attempt)
    public var pullTimeout: String?
    /// `--start-timeout` (setting up and starting a task)
    public var startTimeout: String?
    /// `--idle-pause-after` (`0` never pauses)
    public var idlePauseAfter: String?
    /// `--idle-stop-after` (`0` never stops)
    public var idleStopAfter: String?
    /// `--wake-timeout`
    public var wakeTimeout: String?
    /// `--queue-limit`
    public var queueLimit: String?
    /// `--autoscaler-stable-window`
    public var autoscalerStableWindow: String?
    /// `--autoscaler-panic-window`
    public var autoscalerPanicWindow: String?
    /// `--autoscaler-scale-down-delay`
    public var autoscalerScaleDownDelay: String?
    /// `--proxy-header-timeout`
    public var proxyHeaderTimeout: String?
    /// `--proxy-idle-timeout`
    public var proxyIdleTimeout: String?
    /// `--proxy-max-connections`
    public var proxyMaxConnections: String?
    /// `--proxy-max-connections-per-client`
    public var proxyMaxConnectionsPerClient: String?
    /// `--proxy-trusted-proxy CIDR` (repeatable)
    public var proxyTrustedProxies: [String] = []
    /// `--gpu-host-root`
    public var gpuHostRoot: String?
    /// `--seccomp` (`default` or `unconfined`)
    public var seccomp: String?
    /// `--user-namespaces` (`true`, `false` or `auto`), `--userns-base`, `--userns-size`
    public var userNamespaces: String?
    public var usernsBase: String?
    public var usernsSize: String?
    /// `--node-cpu` (cores), `--node-ram`, `--node-storage` (sizes)
    public var nodeCPU: String?
    public var nodeRAM: String?
    public var nodeStorage: String?
    /// `--reserved-cpu` (cores or a percentage), `--reserved-ram`, `--reserved-storage` (sizes or percentages)
    public var reservedCPU: String?
    public var reservedRAM: String?
    public var reservedStorage: String?
    /// `--quota-default` (`cpu=4,ram=8Gi,storage=20Gi,gpu=1`)
    public var quotaDefault: String?
    /// `--quota-owner OWNER:cpu=4,ram=8Gi` (repeatable)
    public var quotaOwners: [String] = []
    /// `--log-level`
    public var logLevel: String?

    public init() {
        jwtPublicKeyFiles = []
        insecureRegistries = []
        registryMirrors = []
    }

    /// The values given, by TOML key.
    func values() -> [(key: String, value: RawValue)] {
        var values: [(String, RawValue)] = []
        func add(_ key: String, _ value: String?) {
            if let value { values.append((key, .string(value))) }
        }
        func add(_ key: String, _ list: [String]) {
            if !list.isEmpty { values.append((key, .array(list.map(RawValue.string)))) }
        }
        add("containerd.socket", containerdSocket)
        add("containerd.namespace", namespace)
        add("api.listen", apiListen)
        add("api.max_body_bytes", maxBodyBytes)
        add("proxy.listen", proxyListen)
        add("proxy.domain", domain)
        add("proxy.wake_timeout", wakeTimeout)
        add("proxy.queue_limit", queueLimit)
        add("autoscaler.stable_window", autoscalerStableWindow)
        add("autoscaler.panic_window", autoscalerPanicWindow)
        add("autoscaler.scale_down_delay", autoscalerScaleDownDelay)
        add("proxy.idle_pause_after", idlePauseAfter)
        add("proxy.idle_stop_after", idleStopAfter)
        add("proxy.header_timeout", proxyHeaderTimeout)
        add("proxy.idle_timeout", proxyIdleTimeout)
        add("proxy.max_connections", proxyMaxConnections)
        add("proxy.max_connections_per_client", proxyMaxConnectionsPerClient)
        add("proxy.trusted_proxies", proxyTrustedProxies)
        add("data_dir", dataDirectory)
        add("log_level", logLevel)
        add("auth.jwt_secret_file", jwtSecretFile)
        add("auth.jwt_public_key_files", jwtPublicKeyFiles)
        add("auth.jwt_issuer", jwtIssuer)
        add("auth.jwt_audience", jwtAudience)
        add("auth.roles_claim", rolesClaim)
        add("secrets.key_file", secretKeyFile)
        add("registry.insecure", insecureRegistries)
        add("registry.allow_private", allowPrivateRegistries)
        add("registry.mirrors", registryMirrors)
        add("registry.docker_config", dockerConfig)
        add("cni.subnet", cniSubnet)
        add("cni.bridge", cniBridge)
        add("cni.egress_allow", cniEgressAllow)
        add("cni.ipv6", cniIPv6)
        add("runtime.readiness_timeout", readinessTimeout)
        add("runtime.stop_grace_period", stopGracePeriod)
        add("runtime.pull_timeout", pullTimeout)
        add("runtime.start_timeout", startTimeout)
        add("runtime.gpu_host_root", gpuHostRoot)
        add("runtime.seccomp", seccomp)
        add("runtime.user_namespaces", userNamespaces)
        add("runtime.userns_base", usernsBase)
        add("runtime.userns_size", usernsSize)
        add("node.cpu", nodeCPU)
        add("node.ram", nodeRAM)
        add("node.storage", nodeStorage)
        add("node.reserved_cpu", reservedCPU)
        add("node.reserved_ram", reservedRAM)
        add("node.reserved_storage", reservedStorage)
        add("quota.default", quotaDefault)
        add("quota.owners", quotaOwners)
        return values
    }
}
