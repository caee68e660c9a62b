import Logging
import Proxy
import Store
import Runtime

/// Everything `berthd serve` is configured with.
///
/// Sources, lowest precedence first: the built-in ``defaults``, a TOML file, `BERTH_*` environment
/// variables, `berthd serve` flags (see ``resolve(flags:environment:)``). `systemd/berthd.toml` in
/// the repository documents every key; ``documentedSettings`` lists each setting's key, variable
/// and flag.
public struct DaemonConfiguration: Sendable, Equatable {
    /// containerd's gRPC socket. TOML `containerd.socket`.
    public var containerdSocket: String
    /// The containerd namespace Berth's images, containers and leases live in. TOML `containerd.namespace`.
    public var namespace: String
    /// The node's local Container Service API. Built-in default `127.0.0.1:8080`. TOML `api.listen`.
    public var apiListen: ListenAddress
    /// Where invocations (`http://<name>.<domain>`) arrive. The built-in default is loopback
    /// `127.0.0.1:8081`, so a development run needs no privileged port and exposes nothing; the
    /// packaged `/etc/berth/berthd.toml` sets `0.0.0.0:80` for real hosts. TOML `proxy.listen`.
    public var proxyListen: ListenAddress
    /// The invocation domain: a container answers at `<name>.<domain>`. TOML `proxy.domain`.
    public var domain: String
    /// SQLite database, logs and other state. TOML `data_dir`.
    public var dataDirectory: String
    /// A file holding the shared HS256 secret. TOML `auth.jwt_secret_file`.
    public var jwtSecretFile: String?
    /// The node's key that seals secret values (32 bytes, made 0600 when missing); nil:
    /// `<data_dir>/secret.key`. TOML `secrets.key_file`.
    public var secretKeyFile: String?
    /// PEM files with RS256/ES256 public keys. TOML `auth.jwt_public_key_files`.
    public var jwtPublicKeyFiles: [String]
    /// When set, tokens must carry this `iss`. TOML `auth.jwt_issuer`.
    public var jwtIssuer: String?
    /// When set, tokens' `aud` must include this. TOML `auth.jwt_audience`.
    public var jwtAudience: String?
    /// The claim holding the caller's roles (a list of strings). TOML `auth.roles_claim`.
    public var rolesClaim: String
    /// Registries reached over plain HTTP (`HOST[:PORT]`). TOML `registry.insecure`.
    public var insecureRegistries: [String]
    /// Mirrors tried before a registry, in order: `["docker.io": ["http://10.0.0.5:5000"]]`. TOML `[registry.mirrors]`.
    public var registryMirrors: [String: [String]]
    /// Registries (`HOST` or `HOST:PORT`) that may have loopback, link-local or private
    /// addresses; insecure registries and mirrors may too. Empty by default: a tenant's image
    /// reference, a redirect or a token realm cannot make berthd connect to the node's own or
    /// its network's services. TOML `registry.allow_private`.
    public var allowPrivateRegistries: [String] = []
    /// A Docker `config.json` with registry credentials. TOML `registry.docker_config`.
    public var dockerConfig: String?
    /// The IPv4 subnet containers get addresses from. TOML `cni.subnet`.
    public var cniSubnet: String
    /// The Linux bridge the containers attach to. TOML `cni.bridge`.
    public var cniBridge: String
    /// CIDRs containers may reach although the network policy refuses their range (private,
    /// link-local, shared); empty by default. TOML `cni.egress_allow`.
    public var cniEgressAllow: [String] = []
    /// Keep IPv6 on in containers' namespaces (off by default, as Docker without `--ipv6`). TOML `cni.ipv6`.
    public var cniIPv6: Bool = false
    /// The largest request body the API accepts. TOML `api.max_body_bytes`.
    public var maxBodyBytes: Int
    /// How long a new revision may take to become ready before it counts as failed. TOML `runtime.readiness_timeout`.
    public var readinessTimeout: Duration
    /// Between SIGTERM and SIGKILL when a container is stopped. TOML `runtime.stop_grace_period`.
    public var stopGracePeriod: Duration
    /// Scale to zero, first step: pause a container after this long without requests; zero never pauses.
    /// TOML `proxy.idle_pause_after`.
    public var idlePauseAfter: Duration
    /// Scale to zero, second step: stop a container after this long without requests; zero never stops.
    /// TOML `proxy.idle_stop_after`.
    public var idleStopAfter: Duration
    /// How long a request waits for a starting, paused or stopped container before it gets 503.
    /// TOML `proxy.wake_timeout`.
    public var wakeTimeout: Duration
    /// Requests that may wait per container while all its instances are at their concurrency;
    /// one more gets 503. TOML `proxy.queue_limit`.
    public var queueLimit: Int = 1000
    /// The autoscaler's steady window (Knative's KPA: 60 s). TOML `autoscaler.stable_window`.
    public var autoscalerStableWindow: Duration = .seconds(60)
    /// The autoscaler's burst window (Knative's KPA: 6 s). TOML `autoscaler.panic_window`.
    public var autoscalerPanicWindow: Duration = .seconds(6)
    /// How long the load must ask for fewer instances before one goes (one at a time).
    /// TOML `autoscaler.scale_down_delay`.
    public var autoscalerScaleDownDelay: Duration = .seconds(30)
    /// The longest a client may take to send a request head. TOML `proxy.header_timeout`.
    public var proxyHeaderTimeout: Duration = .seconds(10)
    /// No progress on a client connection for this long closes it (keep-alive wait, request
    /// body, stalled response, tunnel). TOML `proxy.idle_timeout`.
    public var proxyIdleTimeout: Duration = .seconds(60)
    /// Open client connections at most. TOML `proxy.max_connections`.
    public var proxyMaxConnections: Int = 10_000
    /// Open client connections from one address (IPv6: one /64) at most. TOML `proxy.max_connections_per_client`.
    public var proxyMaxConnectionsPerClient: Int = 256
    /// Peers whose forwarding headers are believed. TOML `proxy.trusted_proxies`.
    public var proxyTrustedProxies: [IPNetwork] = []
    /// The root GPU discovery looks under (`/dev`, `/proc/driver/nvidia`, `/sys`); `/` on a real host.
    /// TOML `runtime.gpu_host_root`.
    public var gpuHostRoot: String
    /// The containers' syscall filter: "default" (Docker's and containerd's default policy,
    /// `SeccompProfile`) or "unconfined" (none). TOML `runtime.seccomp`.
    public var seccomp: SeccompMode = .default
    /// How long one pull may take before the attempt fails (and is retried with back-off).
    /// TOML `runtime.pull_timeout`.
    public var pullTimeout: Duration = .seconds(600)
    /// How long setting up and starting a task may take (readiness has its own timeout).
    /// TOML `runtime.start_timeout`.
    public var startTimeout: Duration = .seconds(120)
    /// Containers in user namespaces: `auto` (when the kernel has them), `on` or `off`.
    /// TOML `runtime.user_namespaces`.
    public var userNamespaces: UserNamespaceMode = .auto
    /// The first host id of the range container ids map onto (container root). TOML `runtime.userns_base`.
    public var usernsBase: UInt32 = UserNamespaceMapping.defaultBase
    /// How many ids the range has. TOML `runtime.userns_size`.
    public var usernsSize: UInt32 = UserNamespaceMapping.defaultSize
    /// The cores containers may reserve in all before headroom; nil: the host's (online CPUs,
    /// bounded by the cgroup containers run under). Above the host's cores it overcommits CPU on
    /// purpose. TOML `node.cpu`.
    public var nodeCPU: Double? = nil
    /// The memory containers may reserve in all before headroom; nil: the host's (MemTotal,
    /// bounded by the cgroup). TOML `node.ram`.
    public var nodeRAM: Int64? = nil
    /// The ephemeral storage containers may reserve in all before headroom; nil: the size of the
    /// data folder's filesystem. TOML `node.storage`.
    public var nodeStorage: Int64? = nil
    /// Kept back from containers' reservations for the host, berthd and containerd: cores or a
    /// percentage. TOML `node.reserved_cpu`.
    public var reservedCPU: Headroom = .amount(0)
    /// Of the host's memory. TOML `node.reserved_ram`.
    public var reservedRAM: Headroom = .percent(10)
    /// Of the data folder's filesystem. TOML `node.reserved_storage`.
    public var reservedStorage: Headroom = .percent(10)
    /// The most one owner's containers may reserve together, unless the owner has a quota of
    /// their own; unlimited by default. TOML `quota.default`.
    public var defaultQuota: ResourceLimits = .unlimited
    /// Owners' own quotas, by owner (the token's `sub`); each bound replaces the default's.
    /// TOML `[quota.owners]`.
    public var ownerQuotas: [String: ResourceLimits] = [:]
    /// Remove the Berth objects of other node identities found in the namespace at start
    /// (`OwnershipDecision`). A one-shot flag only (`berthd serve --purge-foreign`), never a file
    /// or environment setting: kept in a file it would remove another node's containers at
    /// every start.
    public var purgeForeign: Bool = false
    /// trace, debug, info, notice, warning, error or critical. TOML `log_level`.
    public var logLevel: String

    /// Where each value came from, for error messages; ignored by `==`.
    var origins = Origins()

    init(
        containerdSocket: String, namespace: String, apiListen: ListenAddress, proxyListen: ListenAddress,
        domain: String, dataDirectory: String, jwtSecretFile: String?, jwtPublicKeyFiles: [String],
        jwtIssuer: String?, jwtAudience: String?, rolesClaim: String, insecureRegistries: [String],
        registryMirrors: [String: [String]], dockerConfig: String?, cniSubnet: String, cniBridge: String,
        maxBodyBytes: Int, readinessTimeout: Duration, stopGracePeriod: Duration, idlePauseAfter: Duration,
        idleStopAfter: Duration, wakeTimeout: Duration, gpuHostRoot: String, logLevel: String
    ) {
        self.containerdSocket = containerdSocket
        self.namespace = namespace
        self.apiListen = apiListen
        self.proxyListen = proxyListen
        self.domain = domain
        self.dataDirectory = dataDirectory
        self.jwtSecretFile = jwtSecretFile
        self.jwtPublicKeyFiles = jwtPublicKeyFiles
        self.jwtIssuer = jwtIssuer
        self.jwtAudience = jwtAudience
        self.rolesClaim = rolesClaim
        self.insecureRegistries = insecureRegistries
        self.registryMirrors = registryMirrors
        self.dockerConfig = dockerConfig
        self.cniSubnet = cniSubnet
        self.cniBridge = cniBridge
        self.maxBodyBytes = maxBodyBytes
        self.readinessTimeout = readinessTimeout
        self.stopGracePeriod = stopGracePeriod
        self.idlePauseAfter = idlePauseAfter
        self.idleStopAfter = idleStopAfter
        self.wakeTimeout = wakeTimeout
        self.gpuHostRoot = gpuHostRoot
        self.logLevel = logLevel
    }
}

extension DaemonConfiguration {
    public static let defaultConfigFile = "/etc/berth/berthd.toml"

    /// The built-in defaults. No JWT key is configured, so these alone do not pass ``validate()``.
    public static let defaults = DaemonConfiguration(
        containerdSocket: "/run/containerd/containerd.sock",
        namespace: "berth",
        apiListen: ListenAddress(host: "127.0.0.1", port: 8080),
        proxyListen: ListenAddress(host: "127.0.0.1", port: 8081),
        domain: "localhost",
        dataDirectory: "/var/lib/berth",
        jwtSecretFile: nil,
        jwtPublicKeyFiles: [],
        jwtIssuer: nil,
        jwtAudience: nil,
        rolesClaim: "roles",
        insecureRegistries: [],
        registryMirrors: [:],
        dockerConfig: nil,
        cniSubnet: "10.89.0.0/16",
        cniBridge: "berth0",
        maxBodyBytes: 1 << 20,
        readinessTimeout: .seconds(120),
        stopGracePeriod: .seconds(10),
        idlePauseAfter: .seconds(60),
        idleStopAfter: .seconds(15 * 60),
        wakeTimeout: .seconds(30),
        gpuHostRoot: "/",
        logLevel: "info"
    )

    /// ``logLevel`` as swift-log's level (`info` if it is not one; ``validate()`` rejects that).
    public var loggerLevel: Logger.Level { Logger.Level(rawValue: logLevel) ?? .info }

    /// The TOML file ``resolve(flags:environment:)`` read, if any.
    public var configFile: String? { origins.file }

    /// Where a setting's value came from (`api.listen` → `.flag("--api-listen")`); nil for a built-in default.
    public func source(of key: String) -> ConfigurationError.Source? { origins.byKey[key] }

    /// Every setting: its TOML key, its environment variable and its `berthd serve` flag.
    public static var documentedSettings: [(key: String, environment: String, flag: String)] {
        SettingTable.all.map { ($0.key, $0.environment, $0.flag) }
    }
}

/// Where each setting's value came from. Always equal: provenance is not part of a configuration's value.
struct Origins: Sendable, Equatable {
    var file: String?
    var byKey: [String: ConfigurationError.Source] = [:]

    static func == (lhs: Origins, rhs: Origins) -> Bool { true }
}
