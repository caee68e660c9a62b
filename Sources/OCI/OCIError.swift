/// Errors in OCI data: references, digests, and documents that are not what they claim.
public enum OCIError: Error, Equatable, Sendable, CustomStringConvertible {
    case invalidDigest(String)
    case invalidReference(String, reason: String)
    case missingTagOrDigest(String)
    case invalidDocument(String)
    case unsupportedMediaType(String)
    case noMatchingPlatform(wanted: Platform, available: [Platform])

    public var description: String {
        switch self {
        case .invalidDigest(let string):
            return "invalid digest \"\(string)\": expected sha256:<64 hex digits>"
        case .invalidReference(let string, let reason):
            return "invalid image reference \"\(string)\": \(reason)"
        case .missingTagOrDigest(let string):
            return "image reference \"\(string)\" has no tag or digest: add one, e.g. \"\(string):1.0\" (the tag is never latest by default)"
        case .invalidDocument(let reason):
            return "invalid image document: \(reason)"
        case .unsupportedMediaType(let mediaType):
            return "unsupported media type \(mediaType)"
        case .noMatchingPlatform(let wanted, let available):
            let list = available.map(\.description).joined(separator: ", ")
            return "no image for platform \(wanted) (the index has: \(list.isEmpty ? "none" : list))"
        }
    }
}
