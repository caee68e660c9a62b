import ContainerdAPI
import Foundation
import GRPCCore
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
        allLabels[GCLabel.expire] = ISO8601DateFormatter().string(from: expires)
        let response = try await call("Leases.Create") {
            try await leases.create(.with {
                $0.id = id ?? "berth-\(UUID().uuidString.lowercased())"
                $0.labels = allLabels
            }, metadata: metadata, options: Self.unaryOptions)
        }
        return response.lease.id
    }

    public func deleteLease(_ id: String, sync: Bool = false) async throws {
        _ = try await call("Leases.Delete") {
            try await leases.delete(.with {
                $0.id = id
                $0.sync = sync
            }, metadata: metadata, options: Self.unaryOptions)
        }
    }

    public func listLeases() async throws -> [String] {
        try await call("Leases.List") {
            try await leases.list(.init(), metadata: metadata, options: Self.unaryOptions).leases.map(\.id)
        }
    }

    /// Runs `body` with a client whose calls carry a fresh lease, then deletes the lease
    /// whether `body` succeeded or not.
    public func withLease<T: Sendable>(expiry: Duration = .seconds(3600), _ body: (ContainerdClient) async throws -> T) async throws -> T {
        let id = try await createLease(expiry: expiry)
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
