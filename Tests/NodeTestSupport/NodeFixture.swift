import Auth
import Daemon
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Logging
import ServiceLifecycle
import TestSupport
import XCTest

/// A whole node in this process (store, runtime, reconciler, API) on the test containerd, with
/// its own namespace, data folder, bridge and subnet, and an HTTP client for its API.
public final class NodeFixture: @unchecked Sendable {
    public let env: TestEnvironment
    public let configuration: DaemonConfiguration
    public let secretFile: String
    public private(set) var port = 0
    private var runner: Task<Void, any Error>?
    public private(set) var node: Node?

    static let counter = Counter()

    public init(audience: String? = nil, mutate: (inout DaemonConfiguration) -> Void = { _ in }) throws {
        env = try TestEnvironment.current()
        let n = Self.counter.next()
        let data = try env.makeTemporaryDirectory("api")
        secretFile = data + "/jwt-secret"
        try AuthConfiguration.generateSecret().write(toFile: secretFile, atomically: true, encoding: .utf8)
        var configuration = DaemonConfiguration.defaults
        configuration.containerdSocket = env.containerdSocket
        configuration.namespace = "berth-api-\(UUID().uuidString.prefix(6).lowercased())"
        configuration.dataDirectory = data
        configuration.jwtSecretFile = secretFile
        configuration.jwtAudience = audience
        configuration.insecureRegistries = [env.registry]
        // Unique per process and fixture, and cleared first: a bridge left behind by an earlier
        // run with another subnet would make the CNI bridge plugin refuse every ADD. 10.160–179
        // stays clear of the CNI tests' fixed 10.201.0.0/24 (whose bridge stays) and of the
        // runtime tests' 10.180–199, and the subnet is one no route covers yet: an overlapping
        // route sends probes to the wrong bridge.
        configuration.cniBridge = "bapi\(getpid() % 100_000)n\(n % 1000)"
        _ = try? runCommand("/sbin/ip", ["link", "delete", configuration.cniBridge])
        configuration.cniSubnet = TestSubnet.free(secondOctets: 160..<180, preferred: Int(getpid() % 20) * 256 + n % 256)
        configuration.apiListen = try ListenAddress(parsing: "127.0.0.1:\(try Self.freePort())")
        configuration.proxyListen = try ListenAddress(parsing: "127.0.0.1:\(try Self.freePort())")
        // Scale to zero only where a test asks for it.
        configuration.idlePauseAfter = .zero
        configuration.idleStopAfter = .zero
        configuration.readinessTimeout = .seconds(20)
        configuration.stopGracePeriod = .milliseconds(500)
        // Node tests run several 1-core containers at once on 2-core machines; the capacity rule
        // has tests of its own (StoreTests.CapacityTests, APITests.CapacityAPITests).
        configuration.nodeCPU = 64
        mutate(&configuration)
        self.configuration = configuration
    }

    /// Starts the node and waits until its API serves and recovery is done.
    public func start() async throws {
        let node = try await Node(configuration: configuration)
        self.node = node
        let (ports, portContinuation) = AsyncStream.makeStream(of: Int.self)
        let group = ServiceGroup(configuration: .init(
            services: node.services(onAPIRunning: { port in portContinuation.yield(port ?? 0) })
                .map { ServiceGroupConfiguration.ServiceConfiguration(service: $0) },
            logger: Logger(label: "test")))
        runner = Task { try await group.run() }
        var iterator = ports.makeAsyncIterator()
        port = await iterator.next() ?? 0
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline {
            if (try? await request("GET", "/readyz").status) == 200 { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw TestSupportError("the node did not become ready")
    }

    /// For tests that run berthd as a process of its own.
    public func setPortForExternalNode(_ port: Int) {
        self.port = port
    }

    /// Stops the node as a crash would (containers keep running) unless `cleanUp` deletes them.
    public func stop(cleanUp: Bool = true) async throws {
        if cleanUp, let token = try? await token("cleanup", roles: ["ADMIN"]),
           let list = try? await request("GET", "/v1/containers?all=true&pageSize=1000", token: token).json()["containers"] as? [[String: Any]] {
            for container in list {
                _ = try? await request("DELETE", "/v1/containers/\(container["id"] as! String)", token: token)
            }
            // DELETE answers at once; the teardown runs in the background. The list leaves out
            // containers a test deleted itself just before (phase deleting); cancelling the node
            // in the middle of their teardown would leave their network namespace behind.
            var ids = list.map { $0["id"] as! String }
            ids += (try? node?.database.desiredState().map(\.container.id)) ?? []
            for id in Set(ids) { try? await waitUntilDeleted(id) }
            // Volumes stay mounted until deleted (they outlive berthd by design).
            let volumes = try? await request("GET", "/v1/volumes?all=true", token: token).json()["volumes"] as? [[String: Any]]
            for volume in volumes ?? [] {
                let owner = (volume["owner"] as? String)?.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? ""
                _ = try? await request("DELETE", "/v1/volumes/\(volume["name"] as? String ?? "")?owner=\(owner)", token: token)
            }
        }
        runner?.cancel()
        _ = try? await runner?.value
        _ = try? runCommand("/sbin/ip", ["link", "delete", configuration.cniBridge])
        // The node's iptables chains for its bridge outlive it by design (a restarted berthd
        // finds them in place); a test's bridge is gone now, so its chains go too.
        try? await Node.removeNetworkPolicy(bridge: configuration.cniBridge)
    }

    /// The containerd containers of the node's namespace.
    public func containerdContainers() throws -> [String] {
        try runCommand("/usr/bin/ctr", ["--address", env.containerdSocket, "-n", configuration.namespace, "containers", "ls", "-q"])
            .split(separator: "\n").map(String.init)
    }

    /// Waits until a deleted container's teardown is done: no containerd container of it is
    /// left and (for a node in this process) its record is gone from the store.
    public func waitUntilDeleted(_ id: String, timeout: Duration = .seconds(30)) async throws {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            let left = try containerdContainers().filter { $0.hasPrefix(id + "-r") }
            let recorded = try node?.database.container(id: id) != nil
            if left.isEmpty && !recorded { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw TestSupportError("container \(id) was not torn down within \(timeout)")
    }

    public func token(_ subject: String, roles: [String] = [], ttl: Duration = .seconds(600), audience: String? = nil) async throws -> String {
        let minter = await TokenMinter(hs256Secret: try AuthConfiguration.loadSecret(path: secretFile))
        return try await minter.mint(subject: subject, roles: roles, ttl: ttl, audience: audience ?? configuration.jwtAudience)
    }

    public struct Reply: Sendable {
        public var status: Int
        public var headers: [String: String]
        public var body: Data

        public func json() throws -> [String: Any] {
            guard let object = try JSONSerialization.jsonObject(with: body) as? [String: Any] else {
                throw TestSupportError("not a JSON object: \(String(decoding: body, as: UTF8.self))")
            }
            return object
        }

        public var text: String { String(decoding: body, as: UTF8.self) }
    }

    public func request(_ method: String, _ path: String, token: String? = nil, json: Any? = nil, body: Data? = nil,
                 contentType: String? = "application/json", authorization: String? = nil) async throws -> Reply {
        var request = URLRequest(url: URL(string: "http://127.0.0.1:\(port)\(path)")!)
        request.httpMethod = method
        request.timeoutInterval = 60
        if let token { request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization") }
        if let authorization { request.setValue(authorization, forHTTPHeaderField: "Authorization") }
        if let json {
            request.httpBody = try JSONSerialization.data(withJSONObject: json)
        } else if let body {
            request.httpBody = body
        }
        if request.httpBody != nil, let contentType { request.setValue(contentType, forHTTPHeaderField: "Content-Type") }
        let (data, response) = try await Self.session.data(for: request)
        let http = response as! HTTPURLResponse
        var headers: [String: String] = [:]
        for (key, value) in http.allHeaderFields { headers[String(describing: key).lowercased()] = String(describing: value) }
        return Reply(status: http.statusCode, headers: headers, body: data)
    }

    /// Enough connections for the scaling tests' concurrent clients.
    static let session: URLSession = {
        let configuration = URLSessionConfiguration.ephemeral
        configuration.httpMaximumConnectionsPerHost = 128
        return URLSession(configuration: configuration)
    }()

    /// A request through the invocation proxy for http://<host>/<path>.
    public func invoke(_ host: String, _ path: String = "/", method: String = "GET", body: Data? = nil,
                       timeout: TimeInterval = 60) async throws -> Reply {
        var request = URLRequest(url: URL(string: "http://127.0.0.1:\(configuration.proxyListen.port)\(path)")!)
        request.httpMethod = method
        request.timeoutInterval = timeout
        request.setValue(host, forHTTPHeaderField: "Host")
        request.httpBody = body
        let (data, response) = try await Self.session.data(for: request)
        let http = response as! HTTPURLResponse
        var headers: [String: String] = [:]
        for (key, value) in http.allHeaderFields { headers[String(describing: key).lowercased()] = String(describing: value) }
        return Reply(status: http.statusCode, headers: headers, body: data)
    }

    /// Creates a container and waits until it runs; returns its id.
    public func deploy(_ body: [String: Any], token: String) async throws -> String {
        let created = try await request("POST", "/v1/containers", token: token, json: body)
        guard created.status == 201, let id = try created.json()["id"] as? String else {
            throw TestSupportError("create failed: \(created.status) \(created.text)")
        }
        try await waitFor(id, token: token) { $0["status"] as? String == "running" }
        return id
    }

    /// Polls GET /v1/containers/:id until `condition` holds.
    @discardableResult
    public func waitFor(_ id: String, token: String, timeout: Duration = .seconds(60), _ condition: ([String: Any]) -> Bool) async throws -> [String: Any] {
        let deadline = ContinuousClock.now + timeout
        var last: [String: Any] = [:]
        while ContinuousClock.now < deadline {
            last = try await request("GET", "/v1/containers/\(id)", token: token).json()
            if condition(last) { return last }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw TestSupportError("container \(id) did not reach the expected state; last: \(last)")
    }

    public func pushHTTPD(_ repository: String, page: String = "hello from berth\n", port: Int = 8080, tag: String = "1") async throws -> String {
        let image = TestImage(layers: [.busybox(extraFiles: ["/www/index.html": page])],
                              cmd: ["sh", "-c", "exec httpd -f -p $PORT -h /www"])
        return try await TestRegistry.push(image, to: env.registry, repository: repository, tag: tag).reference
    }

    /// busybox httpd with one CGI, /cgi-bin/work: it sleeps (200 ms, or the microseconds the
    /// query gives: `?1500000`) and answers `at-once=<requests this instance served at that
    /// moment, itself included> instance=<a random id the instance chose on its first request>`.
    public func pushWorkCGI(_ repository: String, tag: String = "1") async throws -> String {
        let script = #"""
            #!/bin/sh
            mkdir -p /tmp/work
            [ -f /tmp/instance ] || echo "$RANDOM$RANDOM" > /tmp/instance
            touch /tmp/work/$$
            n=$(ls /tmp/work | wc -l)
            case "$QUERY_STRING" in ''|*[!0-9]*) pause=200000 ;; *) pause=$QUERY_STRING ;; esac
            usleep $pause
            rm -f /tmp/work/$$
            printf 'Content-Type: text/plain\r\n\r\n'
            echo "at-once=$n instance=$(cat /tmp/instance)"
            """#
        let layer = TestLayer.busybox().adding("/www/cgi-bin/work", contents: script + "\n", mode: 0o755)
        let image = TestImage(layers: [layer], cmd: ["sh", "-c", "exec httpd -f -p $PORT -h /www"])
        return try await TestRegistry.push(image, to: env.registry, repository: repository, tag: tag).reference
    }

    /// A port nothing listens on right now.
    public static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    public final class Counter: @unchecked Sendable {
        private let lock = NSLock()
        private var value = 0
        public func next() -> Int {
            lock.lock()
            defer { lock.unlock() }
            value += 1
            return value
        }
    }
}
