import ContainerdAPI
import Foundation
import OCI
import SwiftProtobuf

/// A mount as containerd's snapshotters return it, in the shape of mount(2).
public struct Mount: Hashable, Sendable, Codable {
    public var type: String
    public var source: String
    public var target: String
    public var options: [String]

    public init(type: String, source: String, target: String = "", options: [String] = []) {
        self.type = type
        self.source = source
        self.target = target
        self.options = options
    }

    init(_ proto: Containerd_Types_Mount) {
        self.init(type: proto.type, source: proto.source, target: proto.target, options: proto.options)
    }

    var proto: Containerd_Types_Mount {
        .with {
            $0.type = type
            $0.source = source
            $0.target = target
            $0.options = options
        }
    }
}

extension Descriptor {
    init(_ proto: Containerd_Types_Descriptor) throws {
        self.init(mediaType: proto.mediaType, digest: try Digest(proto.digest), size: proto.size,
                  annotations: proto.annotations.isEmpty ? nil : proto.annotations)
    }

    var proto: Containerd_Types_Descriptor {
        .with {
            $0.mediaType = mediaType
            $0.digest = digest.description
            $0.size = size
            if let annotations { $0.annotations = annotations }
        }
    }
}

extension Google_Protobuf_Timestamp {
    var dateIfSet: Date? {
        seconds == 0 && nanos == 0 ? nil : date
    }
}

/// Labels containerd's garbage collector reads.
public enum GCLabel {
    /// A lease or object label with an RFC 3339 time after which it may be collected.
    public static let expire = "containerd.io/gc.expire"
    /// On a content blob: keeps the referenced blob. Suffixes order children (".config", ".l.0", ".m.0").
    public static let contentRefPrefix = "containerd.io/gc.ref.content"
    /// On an image config blob: keeps the unpacked snapshot chain in the named snapshotter.
    public static func snapshotRef(_ snapshotter: String) -> String { "containerd.io/gc.ref.snapshot.\(snapshotter)" }
    /// On a layer blob: its uncompressed digest, which containerd's own unpacker also records.
    public static let uncompressed = "containerd.io/uncompressed"
    /// Marks an object as a root: never collected while it exists.
    public static let root = "containerd.io/gc.root"
}
