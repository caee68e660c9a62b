import ContainerdAPI
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import SwiftProtobuf

/// A container record: metadata only (spec, rootfs snapshot, labels); the running process is
/// its task.
public struct ContainerRecord: Sendable, Equatable {
    public var id: String
    public var labels: [String: String]
    public var image: String
    public var runtime: String
    /// The OCI runtime spec, JSON.
    public var spec: Data
    public var snapshotter: String
    public var snapshotKey: String
    public var createdAt: Date?
    public var updatedAt: Date?

    public init(id: String, labels: [String: String] = [:], image: String, runtime: String = "io.containerd.runc.v2",
                spec: Data, snapshotter: String, snapshotKey: String) {
        self.id = id
        self.labels = labels
        self.image = image
        self.runtime = runtime
        self.spec = spec
        self.snapshotter = snapshotter
        self.snapshotKey = snapshotKey
    }
}

extension ContainerdClient {
    /// The type URL containerd and runc shims expect for a JSON runtime spec.
    static let specTypeURL = "types.containerd.io/opencontainers/runtime-spec/1/Spec"

    var containers: Containerd_Services_Containers_V1_Containers.Client<HTTP2ClientTransport.Posix> {
        .init(wrapping: grpc)
    }

    public func createContainer(_ record: ContainerRecord) async throws {
        _ = try await unary("Containers.Create") {
            try await containers.create(.with { $0.container = record.proto }, metadata: metadata, options: Self.unaryOptions)
        }
    }

    public func container(id: String) async throws -> ContainerRecord? {
        do {
            let container = try await unary("Containers.Get") {
                try await containers.get(.with { $0.id = id }, metadata: metadata, options: Self.unaryOptions).container
            }
            return ContainerRecord(container)
        } catch let error as ContainerdError where error.code == .notFound {
            return nil
        }
    }

    /// Containers matching any of containerd's filters, e.g. `labels."berth.container"`.
    public func listContainers(filters: [String] = []) async throws -> [ContainerRecord] {
        try await unary("Containers.List") {
            try await containers.list(.with { $0.filters = filters }, metadata: metadata, options: Self.unaryOptions)
                .containers.map(ContainerRecord.init)
        }
    }

    public func deleteContainer(id: String) async throws {
        _ = try await unary("Containers.Delete") {
            try await containers.delete(.with { $0.id = id }, metadata: metadata, options: Self.unaryOptions)
        }
    }
}

extension ContainerRecord {
    init(_ proto: Containerd_Services_Containers_V1_Container) {
        self.init(id: proto.id, labels: proto.labels, image: proto.image, runtime: proto.runtime.name,
                  spec: proto.spec.value, snapshotter: proto.snapshotter, snapshotKey: proto.snapshotKey)
        createdAt = proto.createdAt.dateIfSet
        updatedAt = proto.updatedAt.dateIfSet
    }

    var proto: Containerd_Services_Containers_V1_Container {
        .with {
            $0.id = id
            $0.labels = labels
            $0.image = image
            $0.runtime.name = runtime
            $0.spec = Google_Protobuf_Any.with {
                $0.typeURL = ContainerdClient.specTypeURL
                $0.value = spec
            }
            $0.snapshotter = snapshotter
            $0.snapshotKey = snapshotKey
        }
    }
}
