import Foundation

/// An image manifest: one config and the ordered layers (OCI or Docker schema 2, same shape).
public struct Manifest: Hashable, Sendable, Codable {
    public var schemaVersion: Int
    public var mediaType: String?
    public var config: Descriptor
    public var layers: [Descriptor]
    public var annotations: [String: String]?

    public init(mediaType: String = MediaType.ociManifest, config: Descriptor, layers: [Descriptor],
                annotations: [String: String]? = nil) {
        self.schemaVersion = 2
        self.mediaType = mediaType
        self.config = config
        self.layers = layers
        self.annotations = annotations
    }

    /// Decodes and checks a manifest fetched as `mediaType`.
    public static func decode(_ data: Data, mediaType: String) throws(OCIError) -> Manifest {
        let manifest: Manifest
        do { manifest = try JSONDecoder().decode(Manifest.self, from: data) } catch {
            throw .invalidDocument("manifest is not valid JSON: \(error)")
        }
        guard manifest.schemaVersion == 2 else {
            throw .invalidDocument("manifest schemaVersion \(manifest.schemaVersion), expected 2")
        }
        if let declared = manifest.mediaType, declared != mediaType, MediaType.isIndex(declared) {
            throw .invalidDocument("manifest declares media type \(declared)")
        }
        for layer in manifest.layers where !MediaType.isLayer(layer.mediaType) {
            throw .unsupportedMediaType(layer.mediaType)
        }
        return manifest
    }
}
