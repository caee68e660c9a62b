import ContainerdAPI
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2

public struct SnapshotInfo: Sendable, Equatable {
    public enum Kind: Sendable { case view, active, committed, unknown }
    public var name: String
    public var parent: String
    public var kind: Kind
    public var labels: [String: String]
}

extension ContainerdClient {
    var snapshots: Containerd_Services_Snapshots_V1_Snapshots.Client<HTTP2ClientTransport.Posix> {
        .init(wrapping: grpc)
    }

    /// The snapshot's info, or nil when it does not exist.
    public func statSnapshot(_ key: String) async throws -> SnapshotInfo? {
        do {
            let info = try await unary("Snapshots.Stat") {
                try await snapshots.stat(.with {
                    $0.snapshotter = snapshotter
                    $0.key = key
                }, metadata: metadata, options: Self.unaryOptions).info
            }
            return SnapshotInfo(info)
        } catch let error as ContainerdError where error.code == .notFound {
            return nil
        }
    }

    /// An active (writable) snapshot on top of `parent`; returns the mounts that assemble it.
    public func prepareSnapshot(_ key: String, parent: String?, labels: [String: String] = [:]) async throws -> [Mount] {
        try await unary("Snapshots.Prepare") {
            try await snapshots.prepare(.with {
                $0.snapshotter = snapshotter
                $0.key = key
                $0.parent = parent ?? ""
                $0.labels = labels
            }, metadata: metadata, options: Self.unaryOptions).mounts.map(Mount.init)
        }
    }

    public func snapshotMounts(_ key: String) async throws -> [Mount] {
        try await unary("Snapshots.Mounts") {
            try await snapshots.mounts(.with {
                $0.snapshotter = snapshotter
                $0.key = key
            }, metadata: metadata, options: Self.unaryOptions).mounts.map(Mount.init)
        }
    }

    public func commitSnapshot(name: String, key: String, labels: [String: String] = [:]) async throws {
        _ = try await unary("Snapshots.Commit") {
            try await snapshots.commit(.with {
                $0.snapshotter = snapshotter
                $0.name = name
                $0.key = key
                $0.labels = labels
            }, metadata: metadata, options: Self.unaryOptions)
        }
    }

    public func removeSnapshot(_ key: String) async throws {
        _ = try await unary("Snapshots.Remove") {
            try await snapshots.remove(.with {
                $0.snapshotter = snapshotter
                $0.key = key
            }, metadata: metadata, options: Self.unaryOptions)
        }
    }

    public func listSnapshots() async throws -> [SnapshotInfo] {
        try await call("Snapshots.List") {
            try await snapshots.list(.with { $0.snapshotter = snapshotter }, metadata: metadata, options: Self.streamingOptions) { response in
                var result: [SnapshotInfo] = []
                for try await message in response.messages {
                    result += message.info.map(SnapshotInfo.init)
                }
                return result
            }
        }
    }

    /// Bytes and inodes the snapshot uses (for an active one, what the container wrote).
    public func snapshotUsage(_ key: String) async throws -> (bytes: Int64, inodes: Int64) {
        let usage = try await unary("Snapshots.Usage") {
            try await snapshots.usage(.with {
                $0.snapshotter = snapshotter
                $0.key = key
            }, metadata: metadata, options: Self.unaryOptions)
        }
        return (usage.size, usage.inodes)
    }
}

extension SnapshotInfo {
    init(_ proto: Containerd_Services_Snapshots_V1_Info) {
        let kind: Kind
        switch proto.kind {
        case .view: kind = .view
        case .active: kind = .active
        case .committed: kind = .committed
        default: kind = .unknown
        }
        self.init(name: proto.name, parent: proto.parent, kind: kind, labels: proto.labels)
    }
}

extension ContainerdClient {
    /// A read-only snapshot of `parent`, e.g. an image's layers for a container to use as lower
    /// layers; returns its mounts.
    public func viewSnapshot(_ key: String, parent: String, labels: [String: String] = [:]) async throws -> [Mount] {
        try await unary("Snapshots.View") {
            try await snapshots.view(.with {
                $0.snapshotter = snapshotter
                $0.key = key
                $0.parent = parent
                $0.labels = labels
            }, metadata: metadata, options: Self.unaryOptions).mounts.map(Mount.init)
        }
    }
}
