import BerthModel
import Store

/// Records a new revision derived from a container's latest one (a PUT, or a secret's new
/// value). The write goes through only if no other revision was recorded since the read;
/// otherwise the revision is derived again from the newer one, so no change is lost.
struct RevisionRecorder<Backend: ContainerBackend> {
    let database: BerthDatabase
    let backend: Backend

    /// A write re-derives its revision this many times when other writes land in between.
    static var attempts: Int { 8 }

    /// The recorded revision; `derive` gets the latest recorded spec (the desired template, as in
    /// Cloud Run: the serving one unless a rollout is under way or failed).
    func record(_ container: StoredContainer, derive: (RevisionSpec) throws -> RevisionSpec) async throws -> StoredRevision {
        var container = container
        for attempt in 1...Self.attempts {
            let latest = try database.revision(containerID: container.id, number: container.latestRevision)
                ?? database.revision(containerID: container.id, number: container.revision)
            guard let latest else { throw APIError.notFound("no container with id \(container.id)") }
            let spec = try derive(latest.spec)
            do {
                let keepWarm = spec.scaling.minInstances > 0
                if spec.gpu > 0 {
                    let chooser = try await backend.gpuChooser(count: spec.gpu, model: spec.gpuModel)
                    return try database.addRevision(containerID: container.id, spec: spec, keepWarm: keepWarm,
                                                    choosingGPUs: chooser, expectedLatest: latest.number)
                }
                return try database.addRevision(containerID: container.id, spec: spec, keepWarm: keepWarm,
                                                expectedLatest: latest.number)
            } catch StoreError.concurrentChange where attempt < Self.attempts {
                guard let reread = try database.container(id: container.id), reread.phase != .deleting else {
                    throw APIError.notFound("no container with id \(container.id)")
                }
                container = reread
            }
        }
        throw APIError.conflict("the container kept changing while this change was recorded; try again")
    }
}
