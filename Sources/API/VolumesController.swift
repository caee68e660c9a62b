import BerthModel
import Foundation
import HTTPTypes
import Hummingbird
import JSONValue
import Logging
import NIOCore
import Store

/// The volume endpoints. A volume's record comes first and its filesystem second, so a crash in
/// between leaves a record that the next start mounts (`VolumeStorage.recover`); a delete removes
/// the record first, and a start removes the filesystem of a record that is gone.
struct VolumesController<Backend: ContainerBackend> {
    let database: BerthDatabase
    let backend: Backend
    let logger = Logger(label: "berth.api.volumes")

    /// The smallest volume: ext4 with a journal needs a few MiB of its own.
    static var minimumBytes: Int64 { 16 << 20 }

    func addRoutes(to group: RouterGroup<APIContext>) {
        group.get("volumes", use: list)
        group.post("volumes", use: create)
        group.get("volumes/:name", use: get)
        group.delete("volumes/:name", use: delete)
        let files = VolumeFilesEndpoint(database: database, backend: backend)
        group.put("volumes/:name/files/**", use: files.upload)
        group.get("volumes/:name/files/**", use: files.download)
    }

    @Sendable func list(_ request: Request, context: APIContext) async throws -> Response {
        let owner = try OwnerScope.listOwner(request, context: context)
        let views = try database.volumes(owner: owner).map(view)
        return try .json(VolumeList(volumes: views))
    }

    @Sendable func create(_ request: Request, context: APIContext) async throws -> Response {
        let owner = try OwnerScope.owner(request, context: context)
        try requireRecovered()
        let body = try await ContainersController<Backend>.body(request, context: context)
        let (name, size) = try Self.parse(body)
        let volume = try database.createVolume(name: name, owner: owner, size: size)
        do {
            try await backend.volumes.prepare(id: volume.id, bytes: volume.size.bytes)
        } catch {
            // Nothing half-made stays: the record goes, and what was made of the filesystem.
            try? database.deleteVolume(volume)
            try? await backend.volumes.remove(id: volume.id)
            logger.error("cannot make the filesystem of volume \(volume.id): \(error)")
            throw APIError.unavailable("cannot make the volume's filesystem on this node: \(error)")
        }
        return try .json(view(volume), status: .created,
                         headers: [.location: "/v1/volumes/\(volume.name)" + OwnerScope.query(volume.owner, context: context)])
    }

    @Sendable func get(_ request: Request, context: APIContext) async throws -> Response {
        try .json(view(try authorized(request, context: context)))
    }

    /// 204 once the record is gone; the filesystem follows at once, or at the next start if its
    /// unmount fails now.
    @Sendable func delete(_ request: Request, context: APIContext) async throws -> Response {
        let volume = try authorized(request, context: context)
        try requireRecovered()
        try database.deleteVolume(volume)
        do {
            try await backend.volumes.remove(id: volume.id)
        } catch {
            logger.error("volume \(volume.id) deleted, but its filesystem stays until the next start: \(error)")
        }
        return Response(status: .noContent)
    }

    func authorized(_ request: Request, context: APIContext) throws -> StoredVolume {
        try Self.authorized(request, context: context, database: database)
    }

    static func authorized(_ request: Request, context: APIContext, database: BerthDatabase) throws -> StoredVolume {
        let owner = try OwnerScope.owner(request, context: context)
        let name = context.parameters.get("name") ?? ""
        guard let volume = try database.volume(owner: owner, name: name) else {
            throw APIError.notFound("no volume named \"\(name)\"")
        }
        return volume
    }

    func requireRecovered() throws { try backend.requireRecovered() }

    func view(_ volume: StoredVolume) throws -> VolumeView {
        let usage = backend.volumes.usage(id: volume.id)
        let users = try database.volumeUsers(volume)
        return VolumeView(name: volume.name, owner: volume.owner, size: volume.size.text, sizeBytes: volume.size.bytes,
                          usedBytes: usage?.used, availableBytes: usage.map { min($0.available, volume.size.bytes) },
                          mountedBy: users.map { .init(id: $0.containerID, name: $0.containerName, readOnly: $0.readOnly) },
                          createdAt: volume.createdAt)
    }

    static func parse(_ body: [UInt8]) throws(APIError) -> (name: String, size: Quantity) {
        let object = try JSONBody.object(body)
        var errors = JSONBody.unknownFields(object, known: ["name", "size"])
        let name = JSONBody.name(object, errors: &errors)
        let size = ContainerRequest.quantity(object["size"], field: "size", minimum: minimumBytes, maximum: Int64(1) << 60,
                                             errors: &errors)
        if object["size"] == nil { errors.append(.init("size", "required: a quantity such as \"10Gi\"")) }
        guard errors.isEmpty, let name, let size else { throw .invalid(errors) }
        return (name, size)
    }
}

/// The contract's Volume.
struct VolumeView: Encodable, Sendable {
    struct Mounter: Encodable, Sendable {
        var id: String
        var name: String
        var readOnly: Bool
    }

    var name: String
    var owner: String
    var size: String
    var sizeBytes: Int64
    /// Bytes in use (filesystem metadata included); nil while the filesystem is not mounted.
    var usedBytes: Int64?
    var availableBytes: Int64?
    /// Containers whose serving or latest revision mounts it.
    var mountedBy: [Mounter]
    var createdAt: Date
}

struct VolumeList: Encodable, Sendable {
    var volumes: [VolumeView]
}
