import API
import Auth
import Foundation
import Hummingbird
import HummingbirdTesting
import Prometheus
import Runtime
import Secrets
import Store
import TestSupport
import XCTest

/// The API's router on an in-memory database with a backend that only records what it is asked:
/// for the rules the API itself decides (validation, ownership, problems), no node is needed.
/// Sendable so that tests send requests through it concurrently: its parts are immutable or
/// locked, and the router only reads its routes.
struct InProcessAPI: @unchecked Sendable {
    let database: BerthDatabase
    let backend: RecordingBackend
    let router: Router<APIContext>
    private let minter: TokenMinter
    /// The audience tokens must name (`jwt.audience`); nil accepts tokens without one.
    let audience: String?

    init(configuration: APIConfiguration = APIConfiguration(domain: "localhost", proxyPort: 8081),
         audience: String? = nil) async throws {
        let secret = Array(AuthConfiguration.generateSecret().utf8)
        database = try BerthDatabase.inMemory()
        let logs = FileManager.default.temporaryDirectory.appendingPathComponent("berth-inprocess-\(UUID().uuidString)").path
        backend = RecordingBackend(logs: ContainerLogs(configuration: LogConfiguration(directory: logs)))
        let verifier = try await TokenVerifier(configuration: AuthConfiguration(hs256Secret: secret, audience: audience))
        self.audience = audience
        router = buildRouter(configuration: configuration, database: database, backend: backend, verifier: verifier,
                             metrics: APIMetrics(registry: PrometheusCollectorRegistry()))
        minter = await TokenMinter(hs256Secret: secret)
    }

    /// A token signed with the API's secret, for the configured audience unless another is given;
    /// a negative ttl mints one that has already expired.
    func token(_ subject: String, roles: [String] = [], ttl: Duration = .seconds(600), audience: String? = nil)
        async throws -> String {
        try await minter.mint(subject: subject, roles: roles, ttl: ttl, audience: audience ?? self.audience)
    }

    /// One request through the router; the reply's body as JSON when it has one.
    func request(_ method: HTTPRequest.Method, _ path: String, token: String?, json: [String: Any]? = nil)
        async throws -> (status: Int, headers: HTTPFields, body: [String: Any]) {
        let reply = try await send(method, path, token: token, json: json)
        let object = (try? JSONSerialization.jsonObject(with: reply.body)) as? [String: Any] ?? [:]
        return (reply.status, reply.headers, object)
    }

    /// One request as a client may send it: a bearer `token`, or any `authorization` header
    /// (which wins); a `json` value, or a raw `body` sent with `contentType` (nil: none).
    func send(_ method: HTTPRequest.Method, _ path: String, token: String? = nil, json: Any? = nil, body: Data? = nil,
              contentType: String? = "application/json", authorization: String? = nil) async throws -> InProcessReply {
        var fields: HTTPFields = [:]
        if let token { fields[.authorization] = "Bearer \(token)" }
        if let authorization { fields[.authorization] = authorization }
        let data = try json.map { try JSONSerialization.data(withJSONObject: $0) } ?? body
        if data != nil, let contentType { fields[.contentType] = contentType }
        let (headers, buffer) = (fields, data.map { ByteBuffer(data: $0) })
        let app = Application(router: router)
        return try await app.test(.router) { client in
            try await client.execute(uri: path, method: method, headers: headers, body: buffer) { response in
                InProcessReply(status: Int(response.status.code), headers: response.headers, body: Data(buffer: response.body))
            }
        }
    }
}

/// A reply from the router, its body as sent.
struct InProcessReply: Sendable {
    var status: Int
    var headers: HTTPFields
    var body: Data

    func json() throws -> [String: Any] {
        guard let object = try JSONSerialization.jsonObject(with: body) as? [String: Any] else {
            throw TestSupportError("not a JSON object: \(text)")
        }
        return object
    }

    var text: String { String(decoding: body, as: UTF8.self) }
}

/// Records the containers the API asked to converge; has no GPUs.
final class RecordingBackend: ContainerBackend, @unchecked Sendable {
    let logs: ContainerLogs
    private let lock = NSLock()
    private var applied: [String] = []

    init(logs: ContainerLogs) {
        self.logs = logs
    }

    private var ready = true
    var isReady: Bool { lock.withLock { ready } }
    /// Plain folders stand in for the sized filesystems (no mount privilege needed in process).
    let volumes = VolumeStorage(directory: NSTemporaryDirectory() + "berth-volumes-\(UUID().uuidString)", ownerID: getuid(),
                                sized: false)
    let secretBox = SecretBox.ephemeral()
    /// Until set back to true, the node is still recovering.
    func setReady(_ value: Bool) { lock.withLock { ready = value } }
    var appliedIDs: [String] { lock.withLock { applied } }

    func apply(_ containerID: String) {
        lock.withLock { applied.append(containerID) }
    }

    func gpuModels() async throws -> [GPUModel] { [] }

    func gpuChooser(count: Int, model: String?) async throws -> GPUChooser {
        guard count == 0 else { throw APIError.capacity("this node has no GPUs") }
        return { _ in [] }
    }

    private var reports: [String: ContainerInstances] = [:]
    private var version: UInt64 = 0
    /// What `instances(of:)` answers for the container from now on (nothing runs until set).
    func setInstances(_ instances: ContainerInstances, of containerID: String) {
        lock.withLock {
            reports[containerID] = instances
            version += 1
        }
    }

    func instances(of container: StoredContainer) -> ContainerInstances {
        lock.withLock { reports[container.id] } ?? ContainerInstances(desired: 0, list: [])
    }

    private var pulls: [String: PullReport] = [:]
    /// What `pullProgress(image:)` answers for the image from now on (nil clears it).
    func setPull(_ report: PullReport?, image: String) {
        lock.withLock {
            pulls[image] = report
            version += 1
        }
    }

    func pullProgress(image: String) -> PullReport? {
        lock.withLock { pulls[image] }
    }

    var instancesVersion: UInt64 { lock.withLock { version } }
}
