import Auth
import BerthModel
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import Store

/// The documented container endpoints. It records desired state in the store and tells the
/// backend; it never waits on containers (POST answers 201 with status `pending`).
struct ContainersController<Backend: ContainerBackend> {
    let database: BerthDatabase
    let backend: Backend
    let configuration: APIConfiguration
    let listCache = ListCache()
    let fragments = ContainerFragments()

    func addRoutes(to group: RouterGroup<APIContext>) {
        group.get("containers", use: list)
        group.post("containers", use: create)
        group.get("containers/:id", use: get)
        group.put("containers/:id", use: update)
        group.delete("containers/:id", use: delete)
        group.get("containers/:id/revisions", use: revisions)
        group.get("containers/:id/instances", use: instances)
        group.get("containers/:id/logs", use: LogsEndpoint(database: database, backend: backend).logs)
    }

    @Sendable func list(_ request: Request, context: APIContext) async throws -> Response {
        let caller = try context.caller()
        let owner = try OwnerScope.all(request, caller: caller) ? nil : caller.subject
        if let name = request.uri.queryParameters["name"] {
            // A name lookup: the one container of that name among those the list would show.
            var views: [ContainerView] = []
            if let container = try database.container(named: String(name)), container.phase != .deleting,
               owner == nil || container.owner == owner,
               let serving = try database.revision(containerID: container.id, number: container.revision) {
                views.append(try view(container, serving))
            }
            return try .json(ContainerList(containers: views))
        }
        let scope = owner.map { "owner:" + $0 } ?? "all"
        let page = try ListPage(request, scope: scope)
        // Versions are read before the rows: a write in between makes the body stale at once.
        let version = {
            ListCache.Version(requested: self.database.requestedChangeCount,
                              observed: self.database.changeCount &+ self.backend.instancesVersion, at: .now)
        }
        let key = "\(scope)\n\(page.size)\n\(page.after.map { "\($0.createdAt).\($0.rowID)" } ?? "")"
        let body = try await listCache.body(for: key, arrival: version(), current: version) {
            let rows = try database.containerPage(owner: owner, after: page.after, limit: page.size)
            return try fragments.listBody(try rows.rows.map { try view($0.0, $0.1) },
                                          nextPageToken: rows.next.map { ListPage.token(after: $0, scope: scope) })
        }
        return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: body))
    }

    @Sendable func create(_ request: Request, context: APIContext) async throws -> Response {
        let caller = try context.caller()
        try requireRecovered()
        let parsed = try ContainerRequest.parse(try await Self.body(request, context: context),
                                                configuration: configuration, requireCreateFields: true)
        let spec = try parsed.createSpec(configuration: configuration, node: database.capacityPolicy.node)
        let (container, revision): (StoredContainer, StoredRevision)
        if spec.gpu > 0 {
            let chooser = try await backend.gpuChooser(count: spec.gpu, model: spec.gpuModel)
            (container, revision) = try database.createContainer(name: parsed.name!, owner: caller.subject, spec: spec,
                                                                 keepWarm: spec.scaling.minInstances > 0, choosingGPUs: chooser)
        } else {
            (container, revision) = try database.createContainer(name: parsed.name!, owner: caller.subject, spec: spec,
                                                                 keepWarm: spec.scaling.minInstances > 0)
        }
        backend.apply(container.id)
        return try .json(view(container, revision), status: .created,
                         headers: [.location: "/v1/containers/\(container.id)"])
    }

    @Sendable func get(_ request: Request, context: APIContext) async throws -> Response {
        let (container, serving) = try authorized(context)
        return try .json(view(container, serving))
    }

    func view(_ container: StoredContainer, _ revision: StoredRevision) throws -> ContainerView {
        let instances = backend.instances(of: container)
        var view = ContainerView(container, revision, instances: instances, configuration: configuration)
        view.pull = try pull(of: container, serving: revision, instances: instances)
        return view
    }

    /// The pull of the newest revision whose instance is pulling, if any: a first deploy's, or a
    /// rollout's while the old revision serves.
    func pull(of container: StoredContainer, serving: StoredRevision, instances: ContainerInstances) throws -> PullReport? {
        guard let number = instances.list.filter({ $0.status == "pulling" }).map(\.revision).max() else { return nil }
        let revision = number == serving.number ? serving : try database.revision(containerID: container.id, number: number)
        guard let revision, var report = backend.pullProgress(image: revision.spec.image) else { return nil }
        report.revision = number
        report.image = revision.spec.image
        return report
    }

    @Sendable func update(_ request: Request, context: APIContext) async throws -> Response {
        let (container, _) = try authorized(context)
        try requireRecovered()
        let parsed = try ContainerRequest.parse(try await Self.body(request, context: context),
                                                configuration: configuration, requireCreateFields: false)
        if let name = parsed.name, name != container.name {
            throw APIError.invalid([.init("name", "cannot change: it is the container's hostname")])
        }
        // Fields absent keep the latest recorded value.
        let revision = try await RevisionRecorder(database: database, backend: backend).record(container) {
            try parsed.updatedSpec($0, configuration: configuration, node: database.capacityPolicy.node)
        }
        backend.apply(container.id)
        let updated = try database.container(id: container.id) ?? container
        return try .json(view(updated, revision))
    }

    /// 204 as soon as the deletion is recorded: from then on the container is gone from the API
    /// and the proxy, and its name is free. Its tasks, address, storage and GPUs are torn down in
    /// the background and released only once its tasks are gone.
    @Sendable func delete(_ request: Request, context: APIContext) async throws -> Response {
        let (container, _) = try authorized(context)
        try requireRecovered()
        try database.markDeleting(containerID: container.id)
        backend.apply(container.id)
        return Response(status: .noContent)
    }

    func requireRecovered() throws { try backend.requireRecovered() }

    @Sendable func revisions(_ request: Request, context: APIContext) async throws -> Response {
        let (container, _) = try authorized(context)
        return try .json(RevisionList(revisions: try database.revisions(containerID: container.id).map(RevisionView.init)))
    }

    /// Every instance of the container, the serving revision's first, for its owner or ADMIN.
    @Sendable func instances(_ request: Request, context: APIContext) async throws -> Response {
        let (container, _) = try authorized(context)
        return try .json(InstanceList(instances: backend.instances(of: container).list))
    }

    /// The container named by `:id` and its serving revision, when the caller owns it or is ADMIN.
    func authorized(_ context: APIContext) throws -> (StoredContainer, StoredRevision) {
        try Self.authorized(context, database: database)
    }

    static func authorized(_ context: APIContext, database: BerthDatabase) throws -> (StoredContainer, StoredRevision) {
        let caller = try context.caller()
        let id = context.parameters.get("id") ?? ""
        guard UUID(uuidString: id) != nil, let container = try database.container(id: id.lowercased()),
              container.phase != .deleting,
              let serving = try database.revision(containerID: container.id, number: container.revision)
        else { throw APIError.notFound("no container with id \(id)") }
        guard container.owner == caller.subject || caller.isAdmin else {
            throw APIError.forbidden("the container belongs to another user")
        }
        return (container, serving)
    }

    /// The JSON body, after the content type and size checks.
    static func body(_ request: Request, context: APIContext) async throws -> [UInt8] {
        let type = request.headers[.contentType]?.split(separator: ";").first?.trimmingCharacters(in: .whitespaces).lowercased()
        guard type == "application/json" else { throw APIError.unsupportedMediaType(request.headers[.contentType]) }
        if let length = request.headers[.contentLength].flatMap(Int.init), length > context.maxUploadSize {
            throw APIError.payloadTooLarge(context.maxUploadSize)
        }
        do {
            let buffer = try await request.body.collect(upTo: context.maxUploadSize)
            return Array(buffer.readableBytesView)
        } catch is NIOTooManyBytesError {
            throw APIError.payloadTooLarge(context.maxUploadSize)
        }
    }
}
