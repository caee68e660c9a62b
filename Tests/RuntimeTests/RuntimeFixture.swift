import BerthModel
import CNI
import ContainerdClient
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import ImagePull
import OCI
import RegistryClient
import Runtime
import TestSupport
import XCTest

/// A runtime on the test containerd, in a namespace, data folder, bridge and subnet of its own.
final class RuntimeFixture: @unchecked Sendable {
    let env: TestEnvironment
    let namespace: String
    let dataDirectory: String
    let network: CNIConfiguration
    let socket: String
    var netnsDirectory: String { network.netnsDirectory }
    var backoff = RestartBackoff.Policy(initial: .milliseconds(300), max: .seconds(2), resetAfter: .seconds(60))
    var grace: Duration = .seconds(2)
    var readinessTimeout: Duration = .seconds(20)
    var pullTimeout: Duration = .seconds(600)
    /// Registries besides the test one (`host:port`), spoken to over plain HTTP.
    var extraRegistries: Set<String> = []
    /// Off unless a test turns it on (`UserNamespaceTests`).
    var userNamespace: UserNamespaceMapping?

    /// Each fixture gets its own /24 in 10.210.0.0/16 and its own bridge name.
    private static let counter = Counter()

    init(socket: String? = nil) throws {
        env = try TestEnvironment.current()
        let n = Self.counter.next()
        let suffix = UUID().uuidString.prefix(6).lowercased()
        namespace = "berth-rt-\(suffix)"
        dataDirectory = try env.makeTemporaryDirectory("runtime")
        self.socket = socket ?? env.containerdSocket
        let bridge = "brt\(getpid() % 100_000)n\(n % 1000)"
        _ = try? runCommand("/sbin/ip", ["link", "delete", bridge])
        network = CNIConfiguration(
            networkName: "berth-rt-\(suffix)",
            bridge: bridge,
            subnet: TestSubnet.free(secondOctets: 180..<200, preferred: Int(getpid() % 20) * 256 + n % 256),
            ipamDataDirectory: dataDirectory + "/cni",
            netnsDirectory: "/run/berth-test-netns/\(suffix)")
    }

    func configuration() -> RuntimeConfiguration {
        RuntimeConfiguration(
            dataDirectory: dataDirectory,
            network: network,
            restartBackoff: backoff,
            readinessTimeout: readinessTimeout,
            stopGracePeriod: grace,
            pullTimeout: pullTimeout,
            userNamespace: userNamespace)
    }

    /// Runs `body` with a started runtime; afterwards the runtime's service task is cancelled as a
    /// crashing berthd would leave it (containers keep running) unless `cleanUp` removes them.
    func withRuntime<T: Sendable>(cleanUp: Bool = true, _ body: @Sendable (ContainerRuntime, ContainerdClient) async throws -> T) async throws -> T {
        let registry = RegistryClient(configuration: RegistryConfiguration(insecureHosts: extraRegistries.union([env.registry])))
        defer { Task { try? await registry.shutdown() } }
        return try await withContainerdClient(socketPath: socket, namespace: namespace) { client in
            try await client.ensureNamespace()
            let cni = try CNINetwork(configuration: network)
            let runtime = ContainerRuntime(configuration: configuration(), containerd: client,
                                           puller: ImagePuller(containerd: client, registry: registry), network: cni)
            return try await withThrowingTaskGroup(of: T?.self) { group in
                group.addTask {
                    try await runtime.run()
                    return nil
                }
                defer { group.cancelAll() }
                do {
                    let result = try await body(runtime, client)
                    if cleanUp { await Self.deleteAll(runtime) }
                    return result
                } catch {
                    if cleanUp { await Self.deleteAll(runtime) }
                    throw error
                }
            }
        }
    }

    static func deleteAll(_ runtime: ContainerRuntime) async {
        for id in runtime.statuses.keys {
            try? await runtime.delete(id)
        }
    }

    func deployment(_ name: String, image: String, cpu: Double = 0.5, memory: String = "64Mi",
                    storage: String = "64Mi", port: Int = 80, env: [String: String] = [:]) throws -> RevisionDeployment {
        RevisionDeployment(
            containerID: UUID().uuidString.lowercased(), name: name, revision: 1,
            spec: RevisionSpec(image: image, cpu: cpu, memory: try Quantity(parsing: memory),
                               ephemeralStorage: try Quantity(parsing: storage), port: port, env: env))
    }

    /// busybox httpd serving /www on `port`, the page saying `page`.
    func pushHTTPD(_ repository: String, page: String = "hello from berth\n", port: Int = 80) async throws -> String {
        let image = TestImage(layers: [.busybox(extraFiles: ["/www/index.html": page])],
                              cmd: ["httpd", "-f", "-p", String(port), "-h", "/www"])
        return try await TestRegistry.push(image, to: env.registry, repository: repository, tag: "1").reference
    }

    func pushShell(_ repository: String, _ script: String) async throws -> String {
        let image = TestImage(layers: [.busybox()], cmd: ["sh", "-c", script])
        return try await TestRegistry.push(image, to: env.registry, repository: repository, tag: "1").reference
    }

    /// The bridge and the namespace folder outlive the runtime; tests remove them at the end.
    func removeBridge() {
        _ = try? runCommand("/sbin/ip", ["link", "delete", network.bridge])
        if let left = try? FileManager.default.contentsOfDirectory(atPath: netnsDirectory), left.isEmpty {
            umount2(netnsDirectory, Int32(MNT_DETACH))
            try? FileManager.default.removeItem(atPath: netnsDirectory)
        }
    }

    final class Counter: @unchecked Sendable {
        private let lock = NSLock()
        private var value = 0
        func next() -> Int {
            lock.lock()
            defer { lock.unlock() }
            value += 1
            return value
        }
    }
}

/// GET http://address:port/ from the host side of the bridge; the body as text.
func httpGet(_ address: String, port: Int = 80) async throws -> String {
    var request = URLRequest(url: URL(string: "http://\(address):\(port)/")!)
    request.timeoutInterval = 5
    let (data, response) = try await URLSession.shared.data(for: request)
    guard (response as? HTTPURLResponse)?.statusCode == 200 else {
        throw TestSupportError("GET http://\(address):\(port)/ answered \(response)")
    }
    return String(decoding: data, as: UTF8.self)
}
