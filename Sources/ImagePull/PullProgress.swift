import OCI

/// Where one layer of a pull stands.
public struct LayerProgress: Sendable, Equatable {
    public enum State: Sendable, Equatable {
        case waiting
        case downloading
        /// The content store already had the blob.
        case alreadyPresent
        case downloaded
        case unpacking
        case unpacked
        /// A snapshot with this layer's chain ID already existed.
        case alreadyUnpacked
    }

    public var digest: Digest
    public var mediaType: String
    public var total: Int64
    public var done: Int64
    public var state: State
}

/// A snapshot of a pull, handed to progress callbacks after every change.
public struct PullProgress: Sendable, Equatable {
    public var reference: ImageReference
    /// The manifest (or index) digest the tag resolved to; nil while resolving.
    public var resolvedDigest: Digest?
    public var layers: [LayerProgress]

    public var totalBytes: Int64 { layers.reduce(0) { $0 + $1.total } }
    public var doneBytes: Int64 { layers.reduce(0) { $0 + $1.done } }
}

public typealias PullProgressHandler = @Sendable (PullProgress) -> Void
