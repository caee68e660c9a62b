import OCI

/// Failures of a pull that are neither the registry's nor containerd's own.
public enum PullError: Error, Equatable, Sendable, CustomStringConvertible {
    case layerCountMismatch(layers: Int, diffIDs: Int)
    case diffIDMismatch(layer: Digest, expected: Digest, actual: Digest)
    case unsupportedManifest(String)

    public var description: String {
        switch self {
        case .layerCountMismatch(let layers, let diffIDs):
            return "image is inconsistent: \(layers) layers but \(diffIDs) diff IDs in its config"
        case .diffIDMismatch(let layer, let expected, let actual):
            return "layer \(layer.short) unpacked to \(actual), but the image config says \(expected)"
        case .unsupportedManifest(let mediaType):
            return "unsupported manifest media type \(mediaType)"
        }
    }
}
