import Foundation
import OCI

/// An image to build from files on this machine and push to a test registry.
public struct TestImage: Sendable {
    public var layers: [TestLayer]
    public var platform: Platform
    public var entrypoint: [String]?
    public var cmd: [String]?
    public var env: [String]
    public var workingDir: String?
    public var user: String?
    /// "80/tcp", or "80" for tcp.
    public var exposedPorts: [String]
    public var labels: [String: String]?
    public var stopSignal: String?

    public init(layers: [TestLayer], platform: Platform = .host, entrypoint: [String]? = nil,
                cmd: [String]? = nil, env: [String] = ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
                workingDir: String? = nil, user: String? = nil, exposedPorts: [String] = []) {
        self.layers = layers
        self.platform = platform
        self.entrypoint = entrypoint
        self.cmd = cmd
        self.env = env
        self.workingDir = workingDir
        self.user = user
        self.exposedPorts = exposedPorts
    }

    /// The OCI image configuration for these layers' diff IDs.
    public func configuration(diffIDs: [Digest]) -> ImageConfig {
        var config = ImageConfig.Config()
        config.Entrypoint = entrypoint
        config.Cmd = cmd
        config.Env = env.isEmpty ? nil : env
        config.WorkingDir = workingDir
        config.User = user
        config.Labels = labels
        config.StopSignal = stopSignal
        if !exposedPorts.isEmpty {
            config.ExposedPorts = Dictionary(exposedPorts.map { ($0.contains("/") ? $0 : $0 + "/tcp", [:]) }) { a, _ in a }
        }
        return ImageConfig(platform: platform, config: config, diffIDs: diffIDs)
    }
}

/// What TestRegistry pushed, with the digests exactly as the registry serves them.
public struct PushedImage: Sendable {
    /// "127.0.0.1:PORT/REPO:TAG"
    public var reference: String
    /// Digest of the top manifest or index as the registry serves it.
    public var digest: Digest
    public var mediaType: String
    /// For an index, its children (with platforms); for a manifest, [itself].
    public var manifests: [Descriptor]
    /// Of the first (or only) image.
    public var config: Descriptor
    /// Of the first (or only) image, compressed blobs as pushed.
    public var layers: [Descriptor]
    /// Uncompressed layer digests of the first image.
    public var diffIDs: [Digest]
    /// Every image, in the order given: for an index, one per child manifest.
    public var images: [PushedManifest]

    /// "127.0.0.1:PORT/REPO@sha256:…"
    public var digestReference: String {
        let name = reference.lastIndex(of: ":").flatMap { colon in
            reference[colon...].contains("/") ? nil : String(reference[..<colon])
        } ?? reference
        return "\(name)@\(digest)"
    }
}

/// One image manifest of a push.
public struct PushedManifest: Sendable {
    public var manifest: Descriptor
    public var config: Descriptor
    public var layers: [Descriptor]
    public var diffIDs: [Digest]
}
