import BerthModel
import Foundation
import GRDB
import Synchronization

// Rows are read by position, from selections built from the same column lists below, so that a
// join can place a container and its revision side by side in one row without name lookups.

extension ContainerPhase: DatabaseValueConvertible {}
extension RevisionPhase: DatabaseValueConvertible {}

extension StoredContainer: FetchableRecord, PersistableRecord {
    public static let databaseTableName = "container"
    static let columns = ["id", "name", "owner", "revision", "latestRevision", "phase", "statusMessage",
                          "keepWarm", "createdAt", "updatedAt"]
    public static var databaseSelection: [any SQLSelectable] { columns.map { Column($0) } }

    public init(row: Row) throws { try self.init(row: row, from: 0) }

    init(row: Row, from i: Int) throws {
        self.init(
            id: try row.decode(atIndex: i),
            name: try row.decode(atIndex: i + 1),
            owner: try row.decode(atIndex: i + 2),
            revision: try row.decode(atIndex: i + 3),
            latestRevision: try row.decode(atIndex: i + 4),
            phase: try decodeRawValue(row, i + 5),
            statusMessage: try row.decode(atIndex: i + 6),
            keepWarm: try row.decode(atIndex: i + 7),
            createdAt: StoredDate.date(try row.decode(atIndex: i + 8)),
            updatedAt: StoredDate.date(try row.decode(atIndex: i + 9)))
    }

    public func encode(to container: inout PersistenceContainer) throws {
        container["id"] = id
        container["name"] = name
        container["owner"] = owner
        container["revision"] = revision
        container["latestRevision"] = latestRevision
        container["phase"] = phase
        container["statusMessage"] = statusMessage
        container["keepWarm"] = keepWarm
        container["createdAt"] = StoredDate.milliseconds(createdAt)
        container["updatedAt"] = StoredDate.milliseconds(updatedAt)
    }
}

extension StoredRevision: FetchableRecord, PersistableRecord {
    public static let databaseTableName = "revision"
    static let columns = ["containerID", "number", "image", "cpu", "memory", "ephemeralStorage", "gpu", "port",
                          "env", "imageDigest", "phase", "message", "createdAt", "gpuModel", "concurrency", "minInstances",
                          "maxInstances", "timeoutSeconds", "secretEnv", "volumes", "secretMounts", "protocol"]
    public static var databaseSelection: [any SQLSelectable] { columns.map { Column($0) } }

    public init(row: Row) throws { try self.init(row: row, from: 0) }

    init(row: Row, from i: Int) throws {
        let containerID: String = try row.decode(atIndex: i)
        let number: Int = try row.decode(atIndex: i + 1)
        let spec = RevisionSpec(
            image: try row.decode(atIndex: i + 2),
            cpu: try row.decode(atIndex: i + 3),
            memory: try StoredSpec.quantity(row.decode(atIndex: i + 4)),
            ephemeralStorage: try StoredSpec.quantity(row.decode(atIndex: i + 5)),
            gpu: try row.decode(atIndex: i + 6),
            gpuModel: try row.decode(atIndex: i + 13),
            port: try row.decode(atIndex: i + 7),
            servingProtocol: try decodeRawValue(row, i + 21),
            env: try StoredSpec.env(row.decode(atIndex: i + 8)),
            secretEnv: try StoredSpec.env(row.decode(atIndex: i + 18)),
            volumes: try StoredSpec.list(row.decode(atIndex: i + 19)),
            secretMounts: try StoredSpec.list(row.decode(atIndex: i + 20)),
            scaling: ScalingPolicy(concurrency: try row.decode(atIndex: i + 14), minInstances: try row.decode(atIndex: i + 15),
                                   maxInstances: try row.decode(atIndex: i + 16), timeoutSeconds: try row.decode(atIndex: i + 17)))
        self.init(
            containerID: containerID,
            number: number,
            spec: spec,
            imageDigest: try row.decode(atIndex: i + 9),
            phase: try decodeRawValue(row, i + 10),
            message: try row.decode(atIndex: i + 11),
            createdAt: StoredDate.date(try row.decode(atIndex: i + 12)))
    }

    public func encode(to container: inout PersistenceContainer) throws {
        container["containerID"] = containerID
        container["number"] = number
        container["image"] = spec.image
        container["cpu"] = spec.cpu
        container["memory"] = spec.memory.text
        container["ephemeralStorage"] = spec.ephemeralStorage.text
        container["gpu"] = spec.gpu
        container["gpuModel"] = spec.gpuModel
        container["port"] = spec.port
        container["protocol"] = spec.servingProtocol.rawValue
        container["env"] = StoredSpec.envText(spec.env)
        container["secretEnv"] = StoredSpec.envText(spec.secretEnv)
        container["volumes"] = try StoredSpec.listText(spec.volumes)
        container["secretMounts"] = try StoredSpec.listText(spec.secretMounts)
        container["concurrency"] = spec.scaling.concurrency
        container["minInstances"] = spec.scaling.minInstances
        container["maxInstances"] = spec.scaling.maxInstances
        container["timeoutSeconds"] = spec.scaling.timeoutSeconds
        container["imageDigest"] = imageDigest
        container["phase"] = phase
        container["message"] = message
        container["createdAt"] = StoredDate.milliseconds(createdAt)
    }
}

extension GPUAllocation: FetchableRecord, PersistableRecord {
    public static let databaseTableName = "gpu_allocation"
    static let columns = ["device", "containerID", "revision", "instance"]
    public static var databaseSelection: [any SQLSelectable] { columns.map { Column($0) } }

    public init(row: Row) throws {
        self.init(deviceID: try row.decode(atIndex: 0), containerID: try row.decode(atIndex: 1),
                  revision: try row.decode(atIndex: 2), instance: try row.decode(atIndex: 3))
    }

    public func encode(to container: inout PersistenceContainer) throws {
        container["device"] = deviceID
        container["containerID"] = containerID
        container["revision"] = revision
        container["instance"] = instance
    }
}

/// Reads an enum (a phase, a protocol) by its raw value directly: GRDB's generic
/// RawRepresentable path costs a metadata lookup per value, visible when listing 1,000
/// containers. A value this version does not know is an error, never a default.
func decodeRawValue<Value: RawRepresentable<String>>(_ row: Row, _ index: Int) throws -> Value {
    let text: String = try row.decode(atIndex: index)
    guard let value = Value(rawValue: text) else {
        throw StoreError.invalidStoredValue("unknown \(Value.self) \"\(text)\"")
    }
    return value
}

/// Dates as whole milliseconds since 1970 (UTC).
enum StoredDate {
    static func milliseconds(_ date: Date) -> Int64 {
        Int64((date.timeIntervalSince1970 * 1000).rounded())
    }

    static func date(_ milliseconds: Int64) -> Date {
        Date(timeIntervalSince1970: Double(milliseconds) / 1000)
    }

    /// The date as it will read back from the database.
    static func stored(_ date: Date) -> Date { self.date(milliseconds(date)) }
}

/// The parts of a spec that are not plain columns: quantities keep the text written
/// ("512Mi" stays "512Mi"), env is a JSON object (see `EnvironmentJSON`).
enum StoredSpec {
    /// Parsed quantities by text: a node uses few distinct ones, and parsing two per row was a
    /// sixth of the time to list 1,000 containers.
    private static let quantities = Mutex<[String: Quantity]>([:])

    static func quantity(_ text: String) throws -> Quantity {
        if let known = quantities.withLock({ $0[text] }) { return known }
        let quantity: Quantity
        do {
            quantity = try Quantity(parsing: text)
        } catch {
            throw StoreError.invalidStoredValue(error.description)
        }
        quantities.withLock { cache in
            if cache.count >= 1024 { cache.removeAll() }
            cache[text] = quantity
        }
        return quantity
    }

    static func env(_ text: String) throws -> [String: String] {
        do {
            return try EnvironmentJSON.decode(text)
        } catch {
            throw StoreError.invalidStoredValue("\(error)")
        }
    }

    static func envText(_ env: [String: String]) -> String { EnvironmentJSON.encode(env) }

    /// Volumes and secret mounts as a JSON array; most revisions have none, read without a decoder.
    static func list<Element: Decodable>(_ text: String) throws -> [Element] {
        if text == "[]" { return [] }
        do {
            return try JSONDecoder().decode([Element].self, from: Data(text.utf8))
        } catch {
            throw StoreError.invalidStoredValue("\(error)")
        }
    }

    static func listText<Element: Encodable>(_ list: [Element]) throws -> String {
        if list.isEmpty { return "[]" }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(list), as: UTF8.self)
    }
}
