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
            return "unsupported manifest media type \(Self.printable(mediaType, limit: 100))"
        }
    }

    /// A pull failure as the revision's status shows it to the container's owner: one line of
    /// printable text, at most `limit` characters. Registry errors carry no foreign bodies (only
    /// status codes and the spec's error codes); this also bounds what a hostile manifest or
    /// index can put into a status through the names it declares.
    public static func statusText(_ error: any Error, limit: Int = 400) -> String {
        printable(String(describing: error), limit: limit)
    }

    static func printable(_ text: String, limit: Int) -> String {
        var result = ""
        for scalar in text.unicodeScalars {
            if result.unicodeScalars.count >= limit {
                result += "…"
                break
            }
            result.unicodeScalars.append((0x20...0x7e).contains(scalar.value) ? scalar : "?")
        }
        return result
    }
}
