import API
import Auth
import CNI
import ContainerdClient
import Foundation
import Hummingbird
import ImagePull
import Logging
import OCI
import Prometheus
import Proxy
import Reconciler
import RegistryClient
import Runtime
import Secrets
import ServiceLifecycle
import Store
import Traffic

/// Everything berthd runs, wired once: the containerd connection, the runtime, the reconciler
/// and the API, as services of one ServiceGroup started in that order and stopped in reverse.
/// Stopping leaves containers running: they belong to containerd's shims.
public final class Node: Sendable {
    public let configuration: DaemonConfiguration
    public let database: BerthDatabase
    public let connection: ContainerdConnection
    public let registry: RegistryClient
    public let runtime: ContainerRuntime
    public let reconciler: Reconciler
    public let traffic: TrafficController
    public let proxy: ProxyServer
    public let metrics: APIMetrics
    public let verifier: TokenVerifier
    let gpus: NodeGPUs
    /// The node's volumes and the key that seals secrets (`<data>/secret.key`).
    let volumes: VolumeStorage
    let secretBox: SecretBox
    let logger: Logger
    /// Held from `init` until the node's services stop (or the node is gone).
    let dataFolderLock: DataFolderLock

    /// The key file that seals secrets, in the data folder.
    static let secretKeyFileName = "secret.key"

    public init(configuration: DaemonConfiguration, logger: Logger = Logger(label: "berthd")) async throws {
        self.configuration = configuration
        self.logger = logger
        try FileManager.default.createDirectory(atPath: configuration.dataDirectory, withIntermediateDirectories: true)
        // Root only, as containerd's own state folders: tenants' env, written files and logs are
        // under it. A folder left world-readable by an older berthd is tightened too.
        guard chmod(configuration.dataDirectory, 0o700) == 0 else {
            throw NSError(domain: "berthd", code: Int(errno), userInfo: [NSLocalizedDescriptionKey:
                "cannot make \(configuration.dataDirectory) private (chmod 0700): \(String(cString: strerror(errno)))"])
        }
        // Before the database is opened or anything recovered: a second berthd on this folder
        // would remove what the first one runs.
        dataFolderLock = try DataFolderLock(dataDirectory: configuration.dataDirectory)
        // Seals secret values in the database; made once, 0600 (beside it unless configured
        // elsewhere). Losing the file loses every secret's value (they must be set again), never
        // anything else. Early: a refused key must stop the start before anything needs a shutdown.
        let secretBox = try SecretBox.loadOrCreateKey(
            path: configuration.secretKeyFile ?? configuration.dataDirectory + "/" + Self.secretKeyFileName)
        self.secretBox = secretBox
        database = try BerthDatabase(path: configuration.dataDirectory + "/berth.sqlite")
        let identity = try database.nodeIdentityRecord()
        let ownership = NodeOwnership(identity: identity.identity, adoptsUnlabelled: identity.adoptsUnlabelled)
        let host = HostResources.detect(dataDirectory: configuration.dataDirectory)
        database.setCapacityPolicy(try configuration.capacityPolicy(host: host))
        Self.logCapacity(database, host: host, logger: logger)
        connection = try ContainerdConnection(socketPath: configuration.containerdSocket, logger: logger)
        var client = connection.client(namespace: configuration.namespace)
        client.snapshotter = "overlayfs"
        var networkConfiguration = CNIConfiguration(
            bridge: configuration.cniBridge, subnet: configuration.cniSubnet,
            ipamDataDirectory: configuration.dataDirectory + "/cni/networks",
            egressAllow: configuration.cniEgressAllow, ipv6: configuration.cniIPv6)
        networkConfiguration.nodeIdentity = identity.identity
        let network = try CNINetwork(configuration: networkConfiguration, logger: logger)
        // Before anything changes the host: refuses (or purges) when the namespace holds another
        // node's objects and this database is new.
        try await StartOwnership(socketPath: configuration.containerdSocket, namespace: configuration.namespace,
                                 node: identity, purgeForeign: configuration.purgeForeign, logger: logger)
            .enforce(network: network)
        // Before any container is attached or recovered; every start, so a reboot's empty
        // tables or a changed allow list are put right. The bridge first: a changed cni.subnet
        // renumbers an unused bridge, or stops the start while containers still use it.
        try await network.ensureBridgeAddress()
        try await network.ensurePolicy(resolvers: ContainerResolvers.nameservers())
        // After the checks that may refuse the start: its HTTP client must be shut down before
        // it goes, which a refused start would not do (a fatal error in AsyncHTTPClient).
        registry = RegistryClient(configuration: RegistryConfiguration(
            insecureHosts: Set(configuration.insecureRegistries),
            mirrors: configuration.registryMirrors,
            dockerConfig: try DockerConfig.load(path: configuration.dockerConfig),
            allowPrivateHosts: Set(configuration.allowPrivateRegistries)))
        let gpus = await NodeGPUs.discover(hostRoot: configuration.gpuHostRoot, database: database, logger: logger)
        self.gpus = gpus
        let runtimeConfiguration = RuntimeConfiguration(
            dataDirectory: configuration.dataDirectory, network: network.configuration,
            readinessTimeout: configuration.readinessTimeout, stopGracePeriod: configuration.stopGracePeriod,
            pullTimeout: configuration.pullTimeout, startTimeout: configuration.startTimeout,
            deviceEdits: { try gpus.edits(for: $0) }, userNamespace: try configuration.userNamespaceMapping(),
            seccomp: configuration.seccomp, ownership: ownership, secretBox: secretBox)
        volumes = runtimeConfiguration.volumes
        runtime = ContainerRuntime(
            configuration: runtimeConfiguration,
            containerd: client, puller: ImagePuller(containerd: client, registry: registry, labels: ownership.labels),
            network: network, logger: logger)
        // Every volume the store has is mounted before a container that mounts it can start; the
        // folders of volumes it no longer has (a delete cut short) go.
        let volumeFailures = await volumes.recover(
            volumes: try database.volumes(owner: nil).map { ($0.id, $0.size.bytes) })
        for (id, failure) in volumeFailures.sorted(by: { $0.key < $1.key }) {
            logger.error("volume not recovered", metadata: ["volume": "\(id)", "error": "\(failure)"])
        }
        metrics = APIMetrics(registry: PrometheusCollectorRegistry())
        let proxyMetrics = ProxyMetrics(registry: metrics.registry)
        // A deleted container's series go with it: the store tells inside the delete's commit.
        try database.observeContainerChanges { changes in
            for change in changes where change.isDeleted { proxyMetrics.removeContainer(change.containerID) }
        }
        let traffic = TrafficController(
            configuration: TrafficConfiguration(
                domain: configuration.domain, pauseAfter: configuration.idlePauseAfter,
                stopAfter: configuration.idleStopAfter, wakeTimeout: configuration.wakeTimeout,
                queueLimit: configuration.queueLimit,
                autoscaler: AutoscalerSettings(stableWindow: configuration.autoscalerStableWindow,
                                               panicWindow: configuration.autoscalerPanicWindow,
                                               scaleDownDelay: configuration.autoscalerScaleDownDelay)),
            database: database, runtime: runtime, metrics: proxyMetrics, logger: logger)
        self.traffic = traffic
        let proxy = ProxyServer(
            configuration: configuration.proxyConfiguration(),
            routes: traffic, metrics: proxyMetrics, logger: logger)
        self.proxy = proxy
        // A retiring instance (a rollout's old revision, or one the autoscaler no longer needs)
        // first finishes what it serves (new requests already go elsewhere), then its pooled
        // connections are closed.
        let runtime = self.runtime
        let reconciler = Reconciler(database: database, runtime: runtime, hooks: ReconcilerHooks(
            beforeRetiring: { runtimeID in
                let endpoint = runtime.status(runtimeID)?.endpoint
                let served = await traffic.drain(runtimeID)
                if let served {
                    proxy.forget(served)
                } else if let endpoint, let (containerID, revision, instance) = RevisionDeployment.parseInstance(runtimeID) {
                    proxy.forget(Upstream(containerID: containerID, revision: revision, instance: instance,
                                          host: endpoint.address, port: endpoint.port))
                }
            }
        ), gpuChooser: { gpus.chooser(count: $0, model: $1) }, logger: logger)
        self.reconciler = reconciler
        traffic.setScaler { reconciler.scale($0, to: $1) }
        verifier = try await TokenVerifier(configuration: try Self.authConfiguration(configuration))
    }

    /// One line at start: what the node has, what containers may reserve, and what they do.
    static func logCapacity(_ database: BerthDatabase, host: HostResources, logger: Logger) {
        let policy = database.capacityPolicy
        let reserved = (try? database.reserved()) ?? ResourceAmounts()
        var metadata: Logger.Metadata = [:]
        for (resource, total) in [(ReservedResource.cpu, host.milliCPU), (.ram, host.ram), (.ephemeralStorage, host.storage)] {
            let f = { ResourceAmounts.format($0, of: resource) }
            metadata[resource.rawValue] = "\(f(reserved[resource])) reserved of \(policy.node.bounds[resource].map(f) ?? "unlimited") (host \(f(total)))"
        }
        logger.info("node capacity", metadata: metadata)
    }

    /// Removes Berth's network policy for a bridge (its iptables chains and the jumps into them).
    /// berthd keeps its bridge and policy while containers may exist; this is for whoever deletes
    /// the bridge.
    public static func removeNetworkPolicy(bridge: String) async throws {
        try await CNINetwork.removePolicy(bridge: bridge)
    }

    static func authConfiguration(_ configuration: DaemonConfiguration) throws -> AuthConfiguration {
        try AuthConfiguration(
            hs256Secret: configuration.jwtSecretFile.map { try AuthConfiguration.loadSecret(path: $0) },
            publicKeys: configuration.jwtPublicKeyFiles.map { try AuthConfiguration.loadPublicKey(path: $0) },
            rolesClaim: configuration.rolesClaim, issuer: configuration.jwtIssuer, audience: configuration.jwtAudience)
    }

    var apiConfiguration: APIConfiguration {
        APIConfiguration(domain: configuration.domain, proxyPort: configuration.proxyListen.port,
                         maxBodyBytes: configuration.maxBodyBytes)
    }

    var backend: NodeBackend {
        NodeBackend(reconciler: reconciler, runtime: runtime, traffic: traffic, gpus: gpus, volumes: volumes,
                    secretBox: secretBox, logs: ContainerLogs(configuration: LogConfiguration(directory: configuration.dataDirectory + "/logs")))
    }

    /// The services in start order.
    public func services(onAPIRunning: @escaping @Sendable (_ port: Int?) async -> Void = { _ in }) -> [any Service] {
        let api = buildApplication(
            configuration: apiConfiguration,
            address: .hostname(configuration.apiListen.bindHost, port: configuration.apiListen.port),
            database: database, backend: backend, verifier: verifier, metrics: metrics, logger: logger,
            onServerRunning: onAPIRunning)
        return [DataFolderLockService(lock: dataFolderLock), RegistryClientService(client: registry), connection, runtime,
                reconciler, traffic, proxy, api, HeapTrimService()]
    }

    /// Runs until SIGTERM or SIGINT: stop accepting, finish requests in flight, leave containers.
    public func run() async throws {
        OwnOOMScore.lower(logger: logger)
        let notifier = SystemdNotifier()
        let apiRunning = AsyncStream.makeStream(of: Void.self)
        let services = services(onAPIRunning: { _ in apiRunning.continuation.yield() })
        let readiness = ReadinessService(notifier: notifier, reconciler: reconciler, apiRunning: apiRunning.stream, logger: logger)
        // The watchdog first, so that it is stopped last and keeps pinging while the rest stop.
        let group = ServiceGroup(configuration: .init(
            services: [.init(service: WatchdogService(notifier: notifier))]
                + services.map { ServiceGroupConfiguration.ServiceConfiguration(service: $0) }
                + [.init(service: readiness)],
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger))
        try await group.run()
    }
}

/// Holds the data folder's lock while the node runs: first in the group, so released last,
/// once every other service has stopped (a new Node on the same folder may start then).
struct DataFolderLockService: Service {
    let lock: DataFolderLock

    func run() async throws {
        try? await gracefulShutdown()
        lock.release()
    }
}

/// Owns the registry client's connections: shuts them down when the group stops.
struct RegistryClientService: Service {
    let client: RegistryClient

    func run() async throws {
        try? await gracefulShutdown()
        try await client.shutdown()
    }
}

/// Tells systemd READY=1 once the API serves and the node's containers are recovered, and
/// STOPPING=1 when shutdown begins.
struct ReadinessService: Service {
    let notifier: SystemdNotifier
    let reconciler: Reconciler
    let apiRunning: AsyncStream<Void>
    let logger: Logger

    func run() async throws {
        var iterator = apiRunning.makeAsyncIterator()
        _ = await iterator.next()
        while !reconciler.isRecovered {
            try await Task.sleep(for: .milliseconds(20))
        }
        logger.info("berthd ready")
        notifier.ready(status: "serving")
        try? await gracefulShutdown()
        notifier.stopping()
    }
}
