import ContainerdAPI
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import OCI
import SwiftProtobuf

/// A committed blob in the content store.
public struct ContentInfo: Sendable, Equatable {
    public var digest: Digest
    public var size: Int64
    public var labels: [String: String]
    public var createdAt: Date?
}

extension ContainerdClient {
    var content: Containerd_Services_Content_V1_Content.Client<HTTP2ClientTransport.Posix> {
        .init(wrapping: grpc)
    }

    /// The blob's info, or nil when the store does not have it.
    public func contentInfo(_ digest: Digest) async throws -> ContentInfo? {
        do {
            let info = try await unary("Content.Info") {
                try await content.info(.with { $0.digest = digest.description }, metadata: metadata, options: Self.unaryOptions).info
            }
            return ContentInfo(digest: try Digest(info.digest), size: info.size, labels: info.labels,
                               createdAt: info.createdAt.dateIfSet)
        } catch let error as ContainerdError where error.code == .notFound {
            return nil
        }
    }

    /// Sets (or, with an empty value, removes) the given labels on a committed blob, leaving
    /// its other labels alone.
    public func updateContentLabels(_ digest: Digest, _ labels: [String: String]) async throws {
        _ = try await unary("Content.Update") {
            try await content.update(.with {
                $0.info.digest = digest.description
                $0.info.labels = labels.filter { !$0.value.isEmpty }
                $0.updateMask.paths = labels.keys.sorted().map { "labels.\($0)" }
            }, metadata: metadata, options: Self.unaryOptions)
        }
    }

    public func deleteContent(_ digest: Digest) async throws {
        _ = try await unary("Content.Delete") {
            try await content.delete(.with { $0.digest = digest.description }, metadata: metadata, options: Self.unaryOptions)
        }
    }

    /// Reads a whole (small) blob.
    public func readContent(_ digest: Digest) async throws -> Data {
        try await call("Content.Read") {
            try await content.read(.with { $0.digest = digest.description }, metadata: metadata, options: Self.streamingOptions) { response in
                var data = Data()
                for try await message in response.messages {
                    data.append(message.data)
                }
                return data
            }
        }
    }

    /// The digests of all committed blobs.
    public func listContent() async throws -> [ContentInfo] {
        try await call("Content.List") {
            try await content.list(.init(), metadata: metadata, options: Self.streamingOptions) { response in
                var result: [ContentInfo] = []
                for try await message in response.messages {
                    for info in message.info {
                        result.append(ContentInfo(digest: try Digest(info.digest), size: info.size,
                                                  labels: info.labels, createdAt: info.createdAt.dateIfSet))
                    }
                }
                return result
            }
        }
    }

    /// Writes a small blob, e.g. a manifest, and commits it. Already having the blob counts as
    /// success.
    @discardableResult
    public func writeContent(_ data: Data, descriptor: Descriptor, labels: [String: String] = [:]) async throws -> ContentWriteResult {
        try await writeContent(ref: "berth-\(descriptor.digest.encoded)", descriptor: descriptor, labels: labels) { _, write in
            try await write(data)
        }
    }
}
