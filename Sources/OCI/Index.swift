import Foundation

/// An OCI image index or Docker manifest list: one manifest per platform.
public struct Index: Hashable, Sendable, Codable {
    public var schemaVersion: Int
    public var mediaType: String?
    public var manifests: [Descriptor]
    public var annotations: [String: String]?

    public init(mediaType: String = MediaType.ociIndex, manifests: [Descriptor]) {
        self.schemaVersion = 2
        self.mediaType = mediaType
        self.manifests = manifests
    }

    public static func decode(_ data: Data) throws(OCIError) -> Index {
        do {
            let index = try JSONDecoder().decode(Index.self, from: data)
            guard index.schemaVersion == 2 else {
                throw OCIError.invalidDocument("index schemaVersion \(index.schemaVersion), expected 2")
            }
            return index
        } catch let error as OCIError {
            throw error
        } catch {
            throw .invalidDocument("index is not valid JSON: \(error)")
        }
    }

    /// The manifest for `platform`: an exact variant match first, then one without a variant
    /// where the platform allows it (as containerd's default matcher does).
    public func manifest(for platform: Platform) throws(OCIError) -> Descriptor {
        let candidates = manifests.filter { MediaType.isManifest($0.mediaType) && $0.platform != nil }
        if let exact = candidates.first(where: { $0.platform!.normalized == platform.normalized }) {
            return exact
        }
        if let compatible = candidates.first(where: { platform.accepts($0.platform!) }) {
            return compatible
        }
        throw .noMatchingPlatform(wanted: platform, available: candidates.compactMap(\.platform))
    }
}
