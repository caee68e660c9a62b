import Runtime
import Store

extension RevisionDeployment {
    /// What the runtime runs for a stored revision: its spec and the GPUs the store allotted it
    /// when the revision was written. The one place a deployment is made from the store, for the
    /// reconciler's passes and the traffic controller's wakes alike, so the runtime never reads
    /// the store mid-launch.
    public init(_ container: StoredContainer, _ revision: StoredRevision, gpusFrom database: BerthDatabase) throws {
        let gpus = revision.spec.gpu > 0 ? try database.gpuDevices(containerID: container.id, revision: revision.number) : []
        var volumes: [DeployedVolume] = []
        for mount in revision.spec.volumes {
            // The store refuses to delete a volume the serving or latest revision mounts.
            guard let volume = try database.volume(owner: container.owner, name: mount.name) else {
                throw StoreError.notFound("volume \"\(mount.name)\"")
            }
            volumes.append(DeployedVolume(id: volume.id, mountPath: mount.mountPath, readOnly: mount.readOnly))
        }
        let secrets = try database.sealedSecrets(owner: container.owner, names: revision.spec.secretNames).mapValues {
            SealedSecret(owner: $0.owner, name: $0.name, sealed: $0.sealed)
        }
        self.init(containerID: container.id, name: container.name, revision: revision.number, spec: revision.spec,
                  gpuDevices: gpus, volumes: volumes, secrets: secrets)
    }
}
