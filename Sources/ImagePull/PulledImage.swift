import OCI

/// What a finished pull stored in containerd.
public struct PulledImage: Sendable, Equatable {
    /// The containerd image name: the fully qualified reference.
    public var name: String
    public var reference: ImageReference
    /// The digest the reference resolved to (the index's, for a multi-platform image).
    public var digest: Digest
    /// The platform-specific manifest that was unpacked.
    public var manifestDigest: Digest
    public var config: ImageConfig
    public var configDescriptor: Descriptor
    /// The snapshot holding all layers; containers' root filesystems are prepared on it.
    public var chainID: Digest
    /// Compressed bytes of all layers.
    public var size: Int64
    /// Bytes actually fetched from the registry by this pull (0 when everything was present).
    public var bytesDownloaded: Int64
    /// The platform manifest's layers, bottom first.
    public var layers: [Descriptor]
}
