import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import XCTest

/// The services scripts/test.sh started for this run (see scripts/test-env.sh), read from the
/// BERTH_TEST_* variables.
public struct TestEnvironment: Sendable {
    public var containerdSocket: String
    public var containerdRoot: String
    /// "127.0.0.1:PORT", plain HTTP, anonymous.
    public var registry: String
    public var registryRoot: String
    public var basicAuthRegistry: String
    public var tokenAuthRegistry: String
    public var tokenServer: String
    public var username: String
    public var password: String
    public var scratch: String

    public static let variableNames = [
        "BERTH_TEST_CONTAINERD_SOCKET", "BERTH_TEST_CONTAINERD_ROOT", "BERTH_TEST_REGISTRY",
        "BERTH_TEST_REGISTRY_ROOT", "BERTH_TEST_BASIC_REGISTRY", "BERTH_TEST_TOKEN_REGISTRY",
        "BERTH_TEST_TOKEN_SERVER", "BERTH_TEST_REGISTRY_USER", "BERTH_TEST_REGISTRY_PASSWORD",
        "BERTH_TEST_SCRATCH",
    ]

    /// Reads the BERTH_TEST_* variables. When they are missing: if the CI env var is set, throws
    /// an error whose message says which variable is missing (so the test FAILS); otherwise throws
    /// XCTSkip("... run scripts/test.sh") so a bare `swift test` skips integration tests loudly.
    public static func current() throws -> TestEnvironment {
        try current(ProcessInfo.processInfo.environment)
    }

    static func current(_ environment: [String: String]) throws -> TestEnvironment {
        let missing = variableNames.filter { (environment[$0] ?? "").isEmpty }
        guard missing.isEmpty else {
            let ci = environment["CI"].map { !$0.isEmpty && $0 != "0" && $0.lowercased() != "false" } ?? false
            if ci { throw TestEnvironmentError(missing: missing) }
            throw XCTSkip("integration test skipped: \(TestEnvironmentError.describe(missing)); "
                + "run scripts/test.sh, which starts containerd and the test registries")
        }
        func value(_ name: String) -> String { environment[name]! }
        return TestEnvironment(
            containerdSocket: value("BERTH_TEST_CONTAINERD_SOCKET"),
            containerdRoot: value("BERTH_TEST_CONTAINERD_ROOT"),
            registry: value("BERTH_TEST_REGISTRY"),
            registryRoot: value("BERTH_TEST_REGISTRY_ROOT"),
            basicAuthRegistry: value("BERTH_TEST_BASIC_REGISTRY"),
            tokenAuthRegistry: value("BERTH_TEST_TOKEN_REGISTRY"),
            tokenServer: value("BERTH_TEST_TOKEN_SERVER"),
            username: value("BERTH_TEST_REGISTRY_USER"),
            password: value("BERTH_TEST_REGISTRY_PASSWORD"),
            scratch: value("BERTH_TEST_SCRATCH"))
    }

    public init(containerdSocket: String, containerdRoot: String, registry: String, registryRoot: String,
                basicAuthRegistry: String, tokenAuthRegistry: String, tokenServer: String,
                username: String, password: String, scratch: String) {
        self.containerdSocket = containerdSocket
        self.containerdRoot = containerdRoot
        self.registry = registry
        self.registryRoot = registryRoot
        self.basicAuthRegistry = basicAuthRegistry
        self.tokenAuthRegistry = tokenAuthRegistry
        self.tokenServer = tokenServer
        self.username = username
        self.password = password
        self.scratch = scratch
    }

    public var credentials: (user: String, password: String) { (username, password) }

    /// A fresh unique folder under scratch.
    public func makeTemporaryDirectory(_ prefix: String) throws -> String {
        try makeUniqueDirectory(in: scratch, prefix: prefix)
    }

    /// The number of tokens the fake token server issued so far (GET /stats).
    public func tokenRequestCount() async throws -> Int {
        struct Stats: Decodable { var tokenRequests: Int }
        let url = URL(string: "http://\(tokenServer)/stats")!
        let data: Data = try await withCheckedThrowingContinuation { continuation in
            URLSession.shared.dataTask(with: url) { data, response, error in
                if let error { return continuation.resume(throwing: error) }
                let status = (response as? HTTPURLResponse)?.statusCode ?? 0
                guard status == 200, let data else {
                    return continuation.resume(throwing: TestSupportError("GET \(url) answered \(status)"))
                }
                continuation.resume(returning: data)
            }.resume()
        }
        return try JSONDecoder().decode(Stats.self, from: data).tokenRequests
    }
}

public struct TestEnvironmentError: Error, CustomStringConvertible, Sendable {
    public var missing: [String]

    public var description: String {
        "the integration test environment is missing (\(Self.describe(missing))) and CI is set, "
            + "so this fails instead of skipping: run the tests with scripts/test.sh"
    }

    static func describe(_ missing: [String]) -> String {
        missing.count == TestEnvironment.variableNames.count
            ? "no BERTH_TEST_* variable is set, e.g. \(missing[0])"
            : "\(missing.joined(separator: ", ")) not set"
    }
}

/// A failure in the test helpers themselves, with a message saying what went wrong.
public struct TestSupportError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// mkdtemp under `parent`, which is created first if missing.
func makeUniqueDirectory(in parent: String, prefix: String) throws -> String {
    try FileManager.default.createDirectory(atPath: parent, withIntermediateDirectories: true)
    var template = Array("\(parent)/\(prefix)-XXXXXX".utf8CString)
    guard let result = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
        throw TestSupportError("mkdtemp under \(parent) failed: errno \(errno)")
    }
    return String(cString: result)
}
