import ArgumentParser
import Daemon
import Foundation
import Logging

struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the node agent: the Container Service API, the runtime and the proxy.",
        discussion: "Settings come from built-in defaults, then the TOML file, then BERTH_* environment variables, then these flags."
    )

    @Option(name: .customLong("config"), help: "TOML configuration file (default /etc/berth/berthd.toml when it exists).")
    var configFile: String?
    @Option(name: .customLong("containerd-socket")) var containerdSocket: String?
    @Option var namespace: String?
    @Option(name: .customLong("api-listen"), help: "host:port of the API (default 127.0.0.1:8080).") var apiListen: String?
    @Option(name: .customLong("proxy-listen"), help: "host:port of the invocation proxy.") var proxyListen: String?
    @Option(help: "Containers are invoked at http://<name>.<domain>.") var domain: String?
    @Option(name: .customLong("data-dir")) var dataDirectory: String?
    @Option(name: .customLong("jwt-secret-file")) var jwtSecretFile: String?
    @Option(name: .customLong("secret-key-file"), help: "The key that seals secrets (default: <data-dir>/secret.key).") var secretKeyFile: String?
    @Option(name: .customLong("jwt-public-key-file"), help: "PEM public key (RS256/ES256); repeatable.") var jwtPublicKeyFiles: [String] = []
    @Option(name: .customLong("jwt-issuer")) var jwtIssuer: String?
    @Option(name: .customLong("jwt-audience")) var jwtAudience: String?
    @Option(name: .customLong("roles-claim")) var rolesClaim: String?
    @Option(name: .customLong("insecure-registry"), help: "HOST:PORT reached over plain HTTP; repeatable.") var insecureRegistries: [String] = []
    @Option(name: .customLong("allow-private-registry"),
            help: "HOST[:PORT] of a registry that may have a loopback, link-local or private address; repeatable.")
    var allowPrivateRegistries: [String] = []
    @Option(name: .customLong("registry-mirror"), help: "REGISTRY=URL; repeatable.") var registryMirrors: [String] = []
    @Option(name: .customLong("docker-config")) var dockerConfig: String?
    @Option(name: .customLong("cni-subnet")) var cniSubnet: String?
    @Option(name: .customLong("cni-bridge")) var cniBridge: String?
    @Option(name: .customLong("cni-egress-allow"), help: "CIDR containers may reach in a refused range; repeatable.") var cniEgressAllow: [String] = []
    @Option(name: .customLong("cni-ipv6"), help: "true: keep IPv6 on in containers (default false).") var cniIPv6: String?
    @Option(name: .customLong("log-level")) var logLevel: String?
    @Option(name: .customLong("max-body-bytes")) var maxBodyBytes: String?
    @Option(name: .customLong("readiness-timeout")) var readinessTimeout: String?
    @Option(name: .customLong("stop-grace-period")) var stopGracePeriod: String?
    @Option(name: .customLong("pull-timeout")) var pullTimeout: String?
    @Option(name: .customLong("start-timeout")) var startTimeout: String?
    @Option(name: .customLong("idle-pause-after")) var idlePauseAfter: String?
    @Option(name: .customLong("idle-stop-after")) var idleStopAfter: String?
    @Option(name: .customLong("wake-timeout")) var wakeTimeout: String?
    @Option(name: .customLong("queue-limit"), help: "Requests that may wait per container while its instances are busy.") var queueLimit: String?
    @Option(name: .customLong("autoscaler-stable-window")) var autoscalerStableWindow: String?
    @Option(name: .customLong("autoscaler-panic-window")) var autoscalerPanicWindow: String?
    @Option(name: .customLong("autoscaler-scale-down-delay")) var autoscalerScaleDownDelay: String?
    @Option(name: .customLong("proxy-header-timeout")) var proxyHeaderTimeout: String?
    @Option(name: .customLong("proxy-idle-timeout")) var proxyIdleTimeout: String?
    @Option(name: .customLong("proxy-max-connections")) var proxyMaxConnections: String?
    @Option(name: .customLong("proxy-max-connections-per-client")) var proxyMaxConnectionsPerClient: String?
    @Option(name: .customLong("proxy-trusted-proxy"), help: "CIDR whose forwarding headers are kept; repeatable.") var proxyTrustedProxies: [String] = []
    @Option(name: .customLong("gpu-host-root")) var gpuHostRoot: String?
    @Option(name: .customLong("seccomp")) var seccomp: String?
    @Option(name: .customLong("user-namespaces"), help: "true, false or auto: containers in user namespaces.") var userNamespaces: String?
    @Option(name: .customLong("userns-base"), help: "First host id of the containers' id range.") var usernsBase: String?
    @Option(name: .customLong("userns-size"), help: "Ids in the containers' range (at least 65536).") var usernsSize: String?
    @Option(name: .customLong("node-cpu"), help: "Cores containers may reserve in all (default: the host's).") var nodeCPU: String?
    @Option(name: .customLong("node-ram"), help: "Memory containers may reserve in all (default: the host's).") var nodeRAM: String?
    @Option(name: .customLong("node-storage"), help: "Ephemeral storage containers may reserve in all (default: the data folder's filesystem).") var nodeStorage: String?
    @Option(name: .customLong("reserved-cpu"), help: "Cores or a percentage kept back from containers.") var reservedCPU: String?
    @Option(name: .customLong("reserved-ram"), help: "Memory kept back from containers (size or percentage).") var reservedRAM: String?
    @Option(name: .customLong("reserved-storage"), help: "Disk kept back from ephemeral storage (size or percentage).") var reservedStorage: String?
    @Option(name: .customLong("quota-default"), help: "Per-owner quota: cpu=4,ram=8Gi,storage=20Gi,gpu=1.") var quotaDefault: String?
    @Option(name: .customLong("quota-owner"), help: "OWNER:cpu=…,ram=…; repeatable.") var quotaOwners: [String] = []
    @Flag(name: .customLong("purge-foreign"),
          help: "Once: remove the containers, tasks, snapshots, leases and images of other Berth nodes in the namespace, then start.")
    var purgeForeign = false

    func run() async throws {
        var configuration: DaemonConfiguration
        do {
            configuration = try DaemonConfiguration.resolve(flags: flags, environment: ProcessInfo.processInfo.environment)
            try configuration.validate()
            configuration.purgeForeign = purgeForeign
        } catch {
            throw fail(error)
        }
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = configuration.loggerLevel
            return handler
        }
        let logger = Logger(label: "berthd")
        do {
            let node = try await Node(configuration: configuration, logger: logger)
            logger.info("berthd starting", metadata: [
                "api": "\(configuration.apiListen)", "containerd": "\(configuration.containerdSocket)",
                "data": "\(configuration.dataDirectory)",
            ])
            try await node.run()
        } catch {
            throw fail(error)
        }
    }

    var flags: DaemonFlags {
        var flags = DaemonFlags()
        flags.configFile = configFile
        flags.containerdSocket = containerdSocket
        flags.namespace = namespace
        flags.apiListen = apiListen
        flags.proxyListen = proxyListen
        flags.domain = domain
        flags.dataDirectory = dataDirectory
        flags.jwtSecretFile = jwtSecretFile
        flags.secretKeyFile = secretKeyFile
        flags.jwtPublicKeyFiles = jwtPublicKeyFiles
        flags.jwtIssuer = jwtIssuer
        flags.jwtAudience = jwtAudience
        flags.rolesClaim = rolesClaim
        flags.insecureRegistries = insecureRegistries
        flags.allowPrivateRegistries = allowPrivateRegistries
        flags.registryMirrors = registryMirrors
        flags.dockerConfig = dockerConfig
        flags.cniSubnet = cniSubnet
        flags.cniBridge = cniBridge
        flags.cniEgressAllow = cniEgressAllow
        flags.cniIPv6 = cniIPv6
        flags.logLevel = logLevel
        flags.maxBodyBytes = maxBodyBytes
        flags.readinessTimeout = readinessTimeout
        flags.stopGracePeriod = stopGracePeriod
        flags.pullTimeout = pullTimeout
        flags.startTimeout = startTimeout
        flags.idlePauseAfter = idlePauseAfter
        flags.idleStopAfter = idleStopAfter
        flags.wakeTimeout = wakeTimeout
        flags.queueLimit = queueLimit
        flags.autoscalerStableWindow = autoscalerStableWindow
        flags.autoscalerPanicWindow = autoscalerPanicWindow
        flags.autoscalerScaleDownDelay = autoscalerScaleDownDelay
        flags.proxyHeaderTimeout = proxyHeaderTimeout
        flags.proxyIdleTimeout = proxyIdleTimeout
        flags.proxyMaxConnections = proxyMaxConnections
        flags.proxyMaxConnectionsPerClient = proxyMaxConnectionsPerClient
        flags.proxyTrustedProxies = proxyTrustedProxies
        flags.gpuHostRoot = gpuHostRoot
        flags.seccomp = seccomp
        flags.userNamespaces = userNamespaces
        flags.usernsBase = usernsBase
        flags.usernsSize = usernsSize
        flags.nodeCPU = nodeCPU
        flags.nodeRAM = nodeRAM
        flags.nodeStorage = nodeStorage
        flags.reservedCPU = reservedCPU
        flags.reservedRAM = reservedRAM
        flags.reservedStorage = reservedStorage
        flags.quotaDefault = quotaDefault
        flags.quotaOwners = quotaOwners
        return flags
    }
}
