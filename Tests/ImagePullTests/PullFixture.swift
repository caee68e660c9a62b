import ContainerdClient
import Foundation
import ImagePull
import OCI
import RegistryClient
import TestSupport
import XCTest

/// A containerd namespace of its own for one test, a registry client, and helpers to look at
/// the result through `ctr`, containerd's own client.
struct PullFixture {
    let env: TestEnvironment
    let namespace = "berth-pull-\(UUID().uuidString.prefix(8).lowercased())"

    init() throws {
        env = try TestEnvironment.current()
    }

    func configuration(credentials: [String: RegistryCredentials] = [:], mirrors: [String: [String]] = [:]) -> RegistryConfiguration {
        RegistryConfiguration(
            insecureHosts: [env.registry, env.basicAuthRegistry, env.tokenAuthRegistry],
            mirrors: mirrors,
            credentials: credentials,
            retry: RetryPolicy(maxAttempts: 2, initialDelay: .milliseconds(50), maxDelay: .milliseconds(100)),
            // The token registry's realm is on another loopback port: allowed as a deployment
            // with a private token server would allow it.
            allowPrivateHosts: [env.tokenServer]
        )
    }

    /// Runs `body` with a puller on the shared test containerd, then removes what the test
    /// pulled so that namespaces do not pile up.
    func withPuller<T: Sendable>(
        socket: String? = nil,
        configuration: RegistryConfiguration? = nil,
        _ body: (ImagePuller, ContainerdClient) async throws -> T
    ) async throws -> T {
        let registry = RegistryClient(configuration: configuration ?? self.configuration())
        do {
            let result = try await withContainerdClient(socketPath: socket ?? env.containerdSocket, namespace: namespace) { client in
                try await client.ensureNamespace()
                return try await body(ImagePuller(containerd: client, registry: registry), client)
            }
            try await registry.shutdown()
            return result
        } catch {
            try? await registry.shutdown()
            throw error
        }
    }

    @discardableResult
    func ctr(_ arguments: [String], socket: String? = nil) throws -> String {
        try runCommand("/usr/bin/ctr", ["--address", socket ?? env.containerdSocket, "-n", namespace] + arguments)
    }

    /// Runs a command in a throwaway container of `image` with `ctr run --rm` and returns its output.
    func ctrRun(_ image: String, _ command: [String], socket: String? = nil) throws -> String {
        try ctr(["run", "--rm", image, "berth-ctr-\(UUID().uuidString.prefix(8).lowercased())"] + command, socket: socket)
    }

    func removeEverything() throws {
        for line in try ctr(["images", "ls", "-q"]).split(separator: "\n") {
            try ctr(["images", "rm", "--sync", String(line)])
        }
    }
}

extension XCTestCase {
    /// Fails unless `body` throws an error for which `check` returns true.
    func assertThrows<T>(_ body: () async throws -> T, _ message: String = "", file: StaticString = #filePath, line: UInt = #line,
                         _ check: (any Error) -> Bool) async {
        do {
            _ = try await body()
            XCTFail("expected an error. \(message)", file: file, line: line)
        } catch {
            XCTAssertTrue(check(error), "unexpected error: \(error). \(message)", file: file, line: line)
        }
    }
}
