import ContainerdClient
import Foundation
import OCI

extension ImagePuller {
    /// The image as containerd already has it, unpacked, without asking the registry; nil when
    /// any part is missing. Restarts and re-adoptions use this, so a registry outage does not
    /// stop containers that have their image.
    public func localImage(_ reference: ImageReference) async throws -> PulledImage? {
        guard let record = try await containerd.image(named: reference.description) else { return nil }
        var manifestDescriptor = record.target
        if MediaType.isIndex(record.target.mediaType) {
            guard try await containerd.contentInfo(record.target.digest) != nil else { return nil }
            let index = try Index.decode(try await containerd.readContent(record.target.digest))
            manifestDescriptor = try index.manifest(for: platform)
        }
        guard try await containerd.contentInfo(manifestDescriptor.digest) != nil else { return nil }
        let manifest = try Manifest.decode(try await containerd.readContent(manifestDescriptor.digest),
                                           mediaType: manifestDescriptor.mediaType)
        guard try await containerd.contentInfo(manifest.config.digest) != nil else { return nil }
        let config = try ImageConfig.decode(try await containerd.readContent(manifest.config.digest))
        guard let chainID = ChainID.chain(config.rootfs.diff_ids).last,
              try await containerd.statSnapshot(chainID.description) != nil
        else { return nil }
        return PulledImage(name: record.name, reference: reference, digest: record.target.digest,
                           manifestDigest: manifestDescriptor.digest, config: config,
                           configDescriptor: manifest.config, chainID: chainID,
                           size: manifest.layers.reduce(0) { $0 + $1.size }, bytesDownloaded: 0,
                           layers: manifest.layers)
    }

    /// The local image when it is complete, else a pull: Kubernetes' IfNotPresent. A tag is
    /// resolved once; later starts of the same revision run what was pulled.
    public func pullIfMissing(_ reference: ImageReference, progress: PullProgressHandler? = nil) async throws -> PulledImage {
        if let local = try await localImage(reference) { return local }
        return try await pull(reference, progress: progress)
    }
}
