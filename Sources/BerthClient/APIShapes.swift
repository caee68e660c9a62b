import Foundation
import JSONValue

/// An answer decoded into one of the API's shapes, with the JSON as the node sent it (what
/// `-o json` prints, fields this client does not know included).
public struct Fetched<Value: Decodable & Sendable>: Sendable {
    public var value: Value
    public var json: JSONValue

    public init(_ json: JSONValue) throws {
        self.json = json
        do {
            value = try JSONDecoder().decode(Value.self, from: try json.serialized())
        } catch {
            throw ClientError.badResponse("the node's answer is not a \(Value.self): \(error)")
        }
    }

    static func list(_ json: JSONValue, key: String) throws -> [Fetched<Value>] {
        guard let items = json[key]?.arrayValue else { throw ClientError.badResponse("the node's answer has no \(key) list") }
        return try items.map(Fetched.init)
    }
}

/// The API's Container (see the node's `/openapi.json`).
public struct Container: Decodable, Sendable {
    public struct InstanceCounts: Decodable, Sendable {
        public var desired: Int
        public var ready: Int
        public var starting: Int
    }

    public var id: String
    public var name: String
    public var owner: String
    public var image: String
    public var cpu: Double
    public var ram: String
    public var gpu: Int
    public var gpuModel: String?
    public var ephemeralStorage: String
    public var port: String
    /// The HTTP the container serves on its port: "http1" or "h2c". Absent from nodes older
    /// than the field, which only speak HTTP/1.1 to containers.
    public var `protocol`: String?
    public var env: [String: EnvironmentValue]
    public var concurrency: Int
    public var minInstances: Int
    public var maxInstances: Int
    public var timeoutSeconds: Int
    public var instances: InstanceCounts
    public var revision: Int
    /// Absent from nodes older than the field: then the serving one.
    public var latestRevision: Int?
    public var status: String
    public var statusMessage: String?
    public var pull: PullProgress?
    public var url: String
    public var createdAt: String
    public var updatedAt: String

    public var newestRevision: Int { latestRevision ?? revision }
}

/// The API's PullProgress: where the pull of a revision's image stands.
public struct PullProgress: Decodable, Sendable, Equatable {
    public struct Count: Decodable, Sendable, Equatable {
        public var done: Int64
        public var total: Int64

        public init(done: Int64, total: Int64) {
            self.done = done
            self.total = total
        }
    }

    public var revision: Int
    public var image: String
    public var phase: String
    public var layers: Count
    public var bytes: Count

    public init(revision: Int, image: String, phase: String, layers: Count, bytes: Count) {
        self.revision = revision
        self.image = image
        self.phase = phase
        self.layers = layers
        self.bytes = bytes
    }
}

/// The API's Revision.
public struct Revision: Decodable, Sendable {
    public var revision: Int
    public var image: String
    public var imageDigest: String?
    public var cpu: Double
    public var ram: String
    public var gpu: Int
    public var gpuModel: String?
    public var ephemeralStorage: String
    public var port: String
    /// "http1" or "h2c"; absent from nodes older than the field.
    public var `protocol`: String?
    public var env: [String: EnvironmentValue]
    /// As the API gives them (absent from nodes older than the fields), for a rollback's body.
    public var volumes: JSONValue?
    public var secretMounts: JSONValue?
    public var concurrency: Int
    public var minInstances: Int
    public var maxInstances: Int
    public var timeoutSeconds: Int
    /// pending, active, retired or failed.
    public var status: String
    public var statusMessage: String?
    public var createdAt: String
}

/// The API's Instance.
public struct Instance: Decodable, Sendable {
    public var revision: Int
    public var instance: Int
    public var status: String
    public var since: String?
    public var inFlight: Int

    public init(revision: Int, instance: Int, status: String, since: String? = nil, inFlight: Int = 0) {
        self.revision = revision
        self.instance = instance
        self.status = status
        self.since = since
        self.inFlight = inFlight
    }
}

/// The API's GPUModel.
public struct GPUModel: Decodable, Sendable {
    public var model: String
    public var memory: String
    public var count: Int
    public var available: Int
}

/// An RFC 9457 problem, as the API answers every refusal.
struct Problem: Decodable {
    var title: String?
    var detail: String?
}
