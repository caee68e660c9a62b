import Foundation
import OCI

/// Writes an OCI image layout (https://github.com/opencontainers/image-spec/blob/main/image-layout.md):
/// blobs/sha256/<hex>, oci-layout and index.json naming what was written by tag.
struct OCILayoutWriter {
    let root: String
    private let work: String

    init(root: String) throws {
        self.root = root
        self.work = root + ".work"
        try FileManager.default.createDirectory(atPath: root + "/blobs/sha256", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        try Data(#"{"imageLayoutVersion":"1.0.0"}"#.utf8).write(to: URL(fileURLWithPath: root + "/oci-layout"))
    }

    /// Removes the layout and the files it was built from.
    func remove() {
        try? FileManager.default.removeItem(atPath: root)
        try? FileManager.default.removeItem(atPath: work)
    }

    /// Sorted keys and unescaped slashes: the bytes written are the bytes pushed and digested.
    static func encode<Value: Encodable>(_ value: Value) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(value)
    }

    func blobPath(_ digest: Digest) -> String {
        "\(root)/blobs/\(digest.algorithm)/\(digest.encoded)"
    }

    @discardableResult
    func addBlob(_ data: Data, mediaType: String) throws -> Descriptor {
        let digest = Digest.sha256(of: data)
        let path = blobPath(digest)
        if !FileManager.default.fileExists(atPath: path) {
            try data.write(to: URL(fileURLWithPath: path))
        }
        return Descriptor(mediaType: mediaType, digest: digest, size: Int64(data.count))
    }

    /// Builds the image's layers, config and manifest into the layout.
    func addImage(_ image: TestImage) throws -> PushedManifest {
        var layers: [Descriptor] = []
        var diffIDs: [Digest] = []
        for layer in image.layers {
            let built = try layer.build(in: work)
            let path = blobPath(built.descriptor.digest)
            if FileManager.default.fileExists(atPath: path) {
                try FileManager.default.removeItem(atPath: built.blobPath)
            } else {
                try FileManager.default.moveItem(atPath: built.blobPath, toPath: path)
            }
            layers.append(built.descriptor)
            diffIDs.append(built.diffID)
        }
        let configData = try Self.encode(image.configuration(diffIDs: diffIDs))
        let config = try addBlob(configData, mediaType: MediaType.ociConfig)
        let manifestData = try Self.encode(Manifest(mediaType: MediaType.ociManifest, config: config, layers: layers))
        var manifest = try addBlob(manifestData, mediaType: MediaType.ociManifest)
        manifest.platform = image.platform
        return PushedManifest(manifest: manifest, config: config, layers: layers, diffIDs: diffIDs)
    }

    /// An image index over `manifests` (each descriptor carrying its platform).
    func addIndex(_ manifests: [Descriptor]) throws -> Descriptor {
        try addBlob(Self.encode(Index(mediaType: MediaType.ociIndex, manifests: manifests)), mediaType: MediaType.ociIndex)
    }

    /// Writes index.json so that `oci:ROOT:TAG` names `descriptor`.
    func tag(_ descriptor: Descriptor, as tag: String) throws {
        var tagged = descriptor
        tagged.platform = nil
        tagged.annotations = ["org.opencontainers.image.ref.name": tag]
        try Data(Self.encode(Index(mediaType: MediaType.ociIndex, manifests: [tagged]))).write(to: URL(fileURLWithPath: root + "/index.json"))
    }
}
