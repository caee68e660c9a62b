import API
import Auth
import Foundation
import Hummingbird
import HummingbirdTesting
import Prometheus
import Runtime
import Store
import XCTest

/// The API's router on an in-memory database with a backend that only records what it is asked:
/// for the rules the API itself decides (validation, ownership, problems), no node is needed.
struct InProcessAPI {
    let database: BerthDatabase
    let backend: RecordingBackend
    let router: Router<APIContext>
    private let minter: TokenMinter

    init(configuration: APIConfiguration = APIConfiguration(domain: "localhost", proxyPort: 8081)) async throws {
        let secret = Array(AuthConfiguration.generateSecret().utf8)
        database = try BerthDatabase.inMemory()
        let logs = FileManager.default.temporaryDirectory.appendingPathComponent("berth-inprocess-\(UUID().uuidString)").path
        backend = RecordingBackend(logs: ContainerLogs(configuration: LogConfiguration(directory: logs)))
        let verifier = try await TokenVerifier(configuration: AuthConfiguration(hs256Secret: secret))
        router = buildRouter(configuration: configuration, database: database, backend: backend, verifier: verifier,
                             metrics: APIMetrics(registry: PrometheusCollectorRegistry()))
        minter = await TokenMinter(hs256Secret: secret)
    }

    func token(_ subject: String, roles: [String] = []) async throws -> String {
        try await minter.mint(subject: subject, roles: roles, ttl: .seconds(600))
    }

    /// One request through the router; the reply's body as JSON when it has one.
    func request(_ method: HTTPRequest.Method, _ path: String, token: String?, json: [String: Any]? = nil)
        async throws -> (status: Int, headers: HTTPFields, body: [String: Any]) {
        var fields: HTTPFields = [:]
        if let token { fields[.authorization] = "Bearer \(token)" }
        var buffer: ByteBuffer?
        if let json {
            fields[.contentType] = "application/json"
            buffer = ByteBuffer(data: try JSONSerialization.data(withJSONObject: json))
        }
        let (headers, body) = (fields, buffer)
        let app = Application(router: router)
        let (status, replyHeaders, data) = try await app.test(.router) { client in
            try await client.execute(uri: path, method: method, headers: headers, body: body) { response in
                (Int(response.status.code), response.headers, Data(buffer: response.body))
            }
        }
        let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] ?? [:]
        return (status, replyHeaders, object)
    }
}

/// Records the containers the API asked to converge; has no GPUs.
final class RecordingBackend: ContainerBackend, @unchecked Sendable {
    let logs: ContainerLogs
    private let lock = NSLock()
    private var applied: [String] = []

    init(logs: ContainerLogs) {
        self.logs = logs
    }

    var isReady: Bool { true }
    var appliedIDs: [String] { lock.withLock { applied } }

    func apply(_ containerID: String) {
        lock.withLock { applied.append(containerID) }
    }

    func gpuModels() async throws -> [GPUModel] { [] }

    func gpuChooser(count: Int, model: String?) async throws -> GPUChooser {
        guard count == 0 else { throw APIError.capacity("this node has no GPUs") }
        return { _ in [] }
    }
}
