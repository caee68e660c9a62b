import ContainerdClient
import Foundation
import Logging
import NIOCore
import OCI
import RegistryClient

/// One pull, step by step as containerd's own client does it: resolve the tag, choose the
/// platform's manifest, fetch the config, stream the layers into the content store under a
/// lease, unpack them into snapshots named by chain ID, label everything for the garbage
/// collector, then point the image record at the result.
struct PullOperation: Sendable {
    let reference: ImageReference
    let containerd: ContainerdClient
    let registry: RegistryClient
    let platform: Platform
    let progress: ProgressTracker
    let maxConcurrentDownloads: Int
    /// On the image record and the pull's lease (`ImagePuller.labels`).
    let labels: [String: String]
    /// This reference's last pull by the same puller, if any: when the tag still resolves to it
    /// and containerd still has it whole, the pull ends there (`stillStored`).
    let previous: PulledImage?
    let logger: Logger

    /// Bytes sent to containerd per Write message: large enough to keep per-message overhead
    /// small, small enough that memory stays flat.
    static let writeChunkSize = 4 << 20

    func run() async throws -> PulledImage {
        let top = try await registry.fetchManifest(reference)
        if let previous, try await stillStored(previous, resolvedTo: top.descriptor.digest) {
            progress.resolved(previous.digest, layers: previous.layers)
            for index in previous.layers.indices { progress.layer(index, state: .alreadyUnpacked) }
            logger.debug("already stored", metadata: ["ref": "\(reference)", "digest": "\(previous.digest)"])
            var image = previous
            image.bytesDownloaded = 0
            return image
        }
        let resolved = try await resolveManifest(top)
        let manifest = resolved.manifest

        // Everything the pull finds already stored is added to its lease before it is used:
        // content and snapshots another pull left unreferenced could otherwise be collected
        // between the check and the use.
        let (config, downloaded, chain) = try await containerd.withLease(labels: labels) { leased in
            let config = try await fetchConfig(manifest.config, using: leased)
            let diffIDs = config.value.rootfs.diff_ids
            guard diffIDs.count == manifest.layers.count else {
                throw PullError.layerCountMismatch(layers: manifest.layers.count, diffIDs: diffIDs.count)
            }
            let chain = ChainID.chain(diffIDs)
            progress.resolved(top.descriptor.digest, layers: manifest.layers)
            logger.debug("resolved", metadata: ["ref": "\(reference)", "digest": "\(top.descriptor.digest)"])

            let downloaded = try await fetchAndUnpackLayers(manifest.layers, diffIDs: diffIDs, chain: chain, using: leased)
            try await store(config.data, as: manifest.config, labels: [
                GCLabel.snapshotRef(leased.snapshotter): chain.last?.description ?? "",
            ], using: leased)
            try await store(resolved.manifestData, as: resolved.manifestDescriptor,
                            labels: Self.childLabels(config: manifest.config, layers: manifest.layers), using: leased)
            if let index = resolved.index {
                try await store(top.data, as: top.descriptor,
                                labels: Self.childLabels(manifests: index.manifests), using: leased)
            }
            try await leased.putImage(ImageRecord(name: reference.description, target: top.descriptor, labels: labels))
            return (config, downloaded, chain)
        }

        return PulledImage(
            name: reference.description,
            reference: reference,
            digest: top.descriptor.digest,
            manifestDigest: resolved.manifestDescriptor.digest,
            config: config.value,
            configDescriptor: manifest.config,
            chainID: chain.last ?? manifest.config.digest,
            size: manifest.layers.reduce(0) { $0 + $1.size },
            bytesDownloaded: downloaded,
            layers: manifest.layers
        )
    }

    /// Whether `previous` is still what the tag names and still whole in containerd: the image
    /// record points at the digest the registry just gave, with this node's labels, and the top
    /// snapshot is there. The record holds the manifests, the config, the layers and through
    /// them the snapshots against the garbage collector, so nothing else needs checking or
    /// labelling again: two containerd calls where a full pass makes a dozen (bench/start: 20 ms
    /// of a start's 150, for an image the node already has).
    private func stillStored(_ previous: PulledImage, resolvedTo digest: Digest) async throws -> Bool {
        guard previous.digest == digest, let record = try await containerd.image(named: previous.name),
              record.target.digest == digest, labels.allSatisfy({ record.labels[$0.key] == $0.value })
        else { return false }
        return try await containerd.statSnapshot(previous.chainID.description) != nil
    }

    // MARK: - Manifests and config

    private struct ResolvedManifest {
        var index: Index?
        var manifest: Manifest
        var manifestDescriptor: Descriptor
        var manifestData: Data
    }

    private func resolveManifest(_ top: FetchedManifest) async throws -> ResolvedManifest {
        let mediaType = top.descriptor.mediaType
        if MediaType.isIndex(mediaType) {
            let index = try Index.decode(top.data)
            let child = try index.manifest(for: platform)
            let fetched = try await registry.fetchManifest(child, in: reference)
            return ResolvedManifest(index: index, manifest: try Manifest.decode(fetched.data, mediaType: child.mediaType),
                                    manifestDescriptor: fetched.descriptor, manifestData: fetched.data)
        }
        guard MediaType.isManifest(mediaType) else { throw PullError.unsupportedManifest(mediaType) }
        return ResolvedManifest(index: nil, manifest: try Manifest.decode(top.data, mediaType: mediaType),
                                manifestDescriptor: top.descriptor, manifestData: top.data)
    }

    /// The config from the content store when a previous pull left it there, else the registry.
    private func fetchConfig(_ descriptor: Descriptor, using client: ContainerdClient) async throws -> (value: ImageConfig, data: Data) {
        let data: Data
        if try await client.storedContent(descriptor.digest) != nil {
            data = try await client.readContent(descriptor.digest)
        } else {
            data = try await registry.fetchBlob(descriptor, in: reference)
            try await client.writeContent(data, descriptor: descriptor)
        }
        return (try ImageConfig.decode(data), data)
    }

    /// Writes a small blob; when the store already has it, sets the labels on it instead, so
    /// the garbage collector follows the references this pull added.
    private func store(_ data: Data, as descriptor: Descriptor, labels: [String: String], using client: ContainerdClient) async throws {
        let labels = labels.filter { !$0.value.isEmpty }
        if try await client.storedContent(descriptor.digest) != nil {
            if !labels.isEmpty { try await client.updateContentLabels(descriptor.digest, labels) }
            return
        }
        try await client.writeContent(data, descriptor: descriptor, labels: labels)
    }

    static func childLabels(config: Descriptor, layers: [Descriptor]) -> [String: String] {
        var labels = ["\(GCLabel.contentRefPrefix).config": config.digest.description]
        for (i, layer) in layers.enumerated() {
            labels["\(GCLabel.contentRefPrefix).l.\(i)"] = layer.digest.description
        }
        return labels
    }

    static func childLabels(manifests: [Descriptor]) -> [String: String] {
        var labels: [String: String] = [:]
        for (i, manifest) in manifests.enumerated() {
            labels["\(GCLabel.contentRefPrefix).m.\(i)"] = manifest.digest.description
        }
        return labels
    }
}
