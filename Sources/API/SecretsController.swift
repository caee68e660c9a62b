import Foundation
import HTTPTypes
import Hummingbird
import JSONValue
import Store

/// The secret endpoints. A value is write-only: it is sealed with the node's key (bound to its
/// owner and name) before the store sees it, and no response ever carries it.
struct SecretsController<Backend: ContainerBackend> {
    let database: BerthDatabase
    let backend: Backend

    /// Secrets are tokens, keys and small files, not data: 64 KiB holds any of them.
    static var maximumValueBytes: Int { 64 << 10 }

    func addRoutes(to group: RouterGroup<APIContext>) {
        group.get("secrets", use: list)
        group.post("secrets", use: create)
        group.get("secrets/:name", use: get)
        group.put("secrets/:name", use: replace)
        group.delete("secrets/:name", use: delete)
    }

    @Sendable func list(_ request: Request, context: APIContext) async throws -> Response {
        let owner = try OwnerScope.listOwner(request, context: context)
        return try .json(SecretList(secrets: try database.secrets(owner: owner).map(SecretView.init)))
    }

    @Sendable func create(_ request: Request, context: APIContext) async throws -> Response {
        let owner = try OwnerScope.owner(request, context: context)
        let (name, value) = try Self.parse(try await ContainersController<Backend>.body(request, context: context), named: true)
        let sealed = try backend.secretBox.seal(value, owner: owner, name: name!)
        let secret = try database.createSecret(owner: owner, name: name!, sealed: sealed, size: value.count)
        return try .json(SecretView(secret), status: .created,
                         headers: [.location: "/v1/secrets/\(secret.name)" + OwnerScope.query(secret.owner, context: context)])
    }

    @Sendable func get(_ request: Request, context: APIContext) async throws -> Response {
        let owner = try OwnerScope.owner(request, context: context)
        let name = context.parameters.get("name") ?? ""
        guard let secret = try database.secret(owner: owner, name: name) else { throw APIError.notFound("no secret named \"\(name)\"") }
        return try .json(SecretView(secret))
    }

    /// A new value, then a new revision of every container whose latest revision uses it: its
    /// instances only read secrets when they start, so a rollout is what carries the value there.
    @Sendable func replace(_ request: Request, context: APIContext) async throws -> Response {
        let owner = try OwnerScope.owner(request, context: context)
        try backend.requireRecovered()
        let name = context.parameters.get("name") ?? ""
        let (_, value) = try Self.parse(try await ContainersController<Backend>.body(request, context: context), named: false)
        let sealed = try backend.secretBox.seal(value, owner: owner, name: name)
        let (secret, users) = try database.replaceSecret(owner: owner, name: name, sealed: sealed, size: value.count)
        let recorder = RevisionRecorder(database: database, backend: backend)
        var rolled: [String] = []
        for id in users {
            guard let container = try database.container(id: id), container.phase != .deleting else { continue }
            _ = try await recorder.record(container) { $0 }
            backend.apply(id)
            rolled.append(id)
        }
        var view = SecretView(secret)
        view.rolledContainers = rolled
        return try .json(view)
    }

    @Sendable func delete(_ request: Request, context: APIContext) async throws -> Response {
        let owner = try OwnerScope.owner(request, context: context)
        try database.deleteSecret(owner: owner, name: context.parameters.get("name") ?? "")
        return Response(status: .noContent)
    }

    /// `{"name", "value"}` (create) or `{"value"}` (replace).
    static func parse(_ body: [UInt8], named: Bool) throws(APIError) -> (name: String?, value: [UInt8]) {
        let object = try JSONBody.object(body)
        var errors = JSONBody.unknownFields(object, known: named ? ["name", "value"] : ["value"])
        let name = named ? JSONBody.name(object, errors: &errors) : nil
        var value: [UInt8]?
        if case .string(let given)? = object["value"] {
            if given.utf8.count > maximumValueBytes {
                errors.append(.init("value", "must be at most \(maximumValueBytes) bytes"))
            } else if given.contains("\0") {
                // It could not be an environment variable: the kernel ends a variable at NUL.
                errors.append(.init("value", "must not contain NUL bytes"))
            } else {
                value = Array(given.utf8)
            }
        } else {
            errors.append(.init("value", "required: the secret's value, a string"))
        }
        guard errors.isEmpty, let value else { throw .invalid(errors) }
        return (name, value)
    }
}

/// The contract's Secret: everything but the value.
struct SecretView: Encodable, Sendable {
    var name: String
    var owner: String
    /// Bytes of the value.
    var size: Int
    var version: Int
    var createdAt: Date
    var updatedAt: Date
    /// On a replace: the containers rolled to a new revision to take the new value.
    var rolledContainers: [String]?

    init(_ secret: StoredSecret) {
        name = secret.name
        owner = secret.owner
        size = secret.size
        version = secret.version
        createdAt = secret.createdAt
        updatedAt = secret.updatedAt
    }
}

struct SecretList: Encodable, Sendable {
    var secrets: [SecretView]
}
