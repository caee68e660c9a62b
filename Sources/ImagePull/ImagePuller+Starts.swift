import ContainerdClient
import OCI

extension ImagePuller {
    /// The image for one start of a revision. `resolved` is what an earlier start of the same
    /// revision got, nil for its first start.
    ///
    /// The first start always asks the registry (Kubernetes' `AlwaysPullImages`): the tag is
    /// resolved with a manifest request made with the node's credentials even when containerd
    /// already has the image, and only blobs and snapshots that are missing are fetched. So an
    /// image another owner's container pulled earlier is never handed to a new revision that the
    /// registry would refuse now (access revoked, tag deleted, credentials removed): a registry
    /// that denies access denies it to every owner alike. Later starts of the revision (restarts
    /// after a crash, wakes from idle) run the content the first one resolved, without the
    /// registry, so an outage does not stop a revision that started once.
    public func imageForStart(_ reference: ImageReference, resolved: PulledImage?) async throws -> PulledImage {
        if let resolved, try await containerd.statSnapshot(resolved.chainID.description) != nil {
            return resolved
        }
        return try await pull(reference)
    }
}
