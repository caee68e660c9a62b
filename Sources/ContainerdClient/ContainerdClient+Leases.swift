import BerthModel
import ContainerdAPI
import Foundation
import GRPCCore
import OCI
import GRPCNIOTransportHTTP2

extension ContainerdClient {
    var leases: Containerd_Services_Leases_V1_Leases.Client<HTTP2ClientTransport.Posix> {
        .init(wrapping: grpc)
    }

    /// Creates a lease that expires on its own after `expiry`, so a crash mid-pull leaves
    /// nothing pinned forever. Returns its id.
    public func createLease(id: String? = nil, expiry: Duration = .seconds(3600), labels: [String: String] = [:]) async throws -> String {
        let expires = Date().addingTimeInterval(TimeInterval(expiry.components.seconds))
        var allLabels = labels
        allLabels[GCLabel.expire] = RFC3339.format(expires)
        let labels = allLabels
        let response = try await unary("Leases.Create") {
            try await leases.create(.with {
                $0.id = id ?? "berth-\(UUID().uuidString.lowercased())"
                $0.labels = labels
            }, metadata: metadata, options: Self.unaryOptions)
        }
        return response.lease.id
    }

    public func deleteLease(_ id: String, sync: Bool = false) async throws {
        _ = try await unary("Leases.Delete") {
            try await leases.delete(.with {
                $0.id = id
                $0.sync = sync
            }, metadata: metadata, options: Self.unaryOptions)
        }
    }

    public func listLeases() async throws -> [String] {
        try await listLeaseLabels().map(\.id)
    }

    /// Every lease of the namespace with its labels.
    public func listLeaseLabels() async throws -> [(id: String, labels: [String: String])] {
        try await unary("Leases.List") {
            try await leases.list(.init(), metadata: metadata, options: Self.unaryOptions).leases.map { ($0.id, $0.labels) }
        }
    }

    /// Every lease with its labels and when it was made.
    public func listLeaseRecords() async throws -> [(id: String, labels: [String: String], createdAt: Date)] {
        try await unary("Leases.List") {
            try await leases.list(.init(), metadata: metadata, options: Self.unaryOptions).leases.map {
                ($0.id, $0.labels, $0.createdAt.date)
            }
        }
    }

    /// Adds an existing resource to this client's lease, so the garbage collector keeps it
    /// while the lease lives. Adding one that does not exist is harmless.
    public func addToLease(id: String, type: String) async throws {
        guard let lease else { return }
        _ = try await unary("Leases.AddResource") {
            try await leases.addResource(.with {
                $0.id = lease
                $0.resource.id = id
                $0.resource.type = type
            }, metadata: metadata, options: Self.unaryOptions)
        }
    }

    /// The blob's info, once it is protected by this client's lease (if any).
    public func storedContent(_ digest: Digest) async throws -> ContentInfo? {
        try await addToLease(id: digest.description, type: "content")
        return try await contentInfo(digest)
    }

    /// The snapshot's info, once it is protected by this client's lease (if any).
    public func storedSnapshot(_ key: String) async throws -> SnapshotInfo? {
        try await addToLease(id: key, type: "snapshots/\(snapshotter)")
        return try await statSnapshot(key)
    }

    /// Runs `body` with a client whose calls carry a fresh lease, then deletes the lease
    /// whether `body` succeeded or not.
    public func withLease<T: Sendable>(expiry: Duration = .seconds(3600), labels: [String: String] = [:],
                                       _ body: (ContainerdClient) async throws -> T) async throws -> T {
        let id = try await createLease(expiry: expiry, labels: labels)
        let result: T
        do {
            result = try await body(leased(id))
        } catch {
            try? await unleased().deleteLease(id)
            throw error
        }
        try await unleased().deleteLease(id)
        return result
    }
}
