import Foundation

/// The image configuration blob: what to run, and the uncompressed layer digests (diff IDs).
public struct ImageConfig: Hashable, Sendable, Codable {
    public struct Config: Hashable, Sendable, Codable {
        public var User: String?
        public var Env: [String]?
        public var Entrypoint: [String]?
        public var Cmd: [String]?
        public var WorkingDir: String?
        public var ExposedPorts: [String: [String: String]]?
        public var Labels: [String: String]?
        public var StopSignal: String?

        public init() {}
    }

    public struct RootFS: Hashable, Sendable, Codable {
        public var type: String
        public var diff_ids: [Digest]

        public init(diffIDs: [Digest]) {
            self.type = "layers"
            self.diff_ids = diffIDs
        }
    }

    public var architecture: String
    public var os: String
    public var variant: String?
    public var config: Config?
    public var rootfs: RootFS

    public init(platform: Platform, config: Config?, diffIDs: [Digest]) {
        self.architecture = platform.architecture
        self.os = platform.os
        self.variant = platform.variant
        self.config = config
        self.rootfs = RootFS(diffIDs: diffIDs)
    }

    public static func decode(_ data: Data) throws(OCIError) -> ImageConfig {
        do { return try JSONDecoder().decode(ImageConfig.self, from: data) } catch {
            throw .invalidDocument("image config: \(error)")
        }
    }

    public var platform: Platform { Platform(os: os, architecture: architecture, variant: variant) }
}
