import ContainerdAPI
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import OCI

public enum ContentWriteResult: Sendable, Equatable {
    case committed
    /// The store already had the blob; nothing was written.
    case alreadyExists
}

extension ContainerdClient {
    /// Streams a blob into the content store under `ref` and commits it as `descriptor`, as
    /// containerd's own client does: a STAT first, holding the ingest's lock and returning how
    /// much an earlier, interrupted write already stored, so `produce` resumes from there.
    ///
    /// containerd checks the total size and digest at commit; a mismatch fails the write, and
    /// the ingest is aborted so that the next attempt starts clean.
    public func writeContent(
        ref: String,
        descriptor: Descriptor,
        labels: [String: String] = [:],
        produce: @escaping @Sendable (_ resumeAt: Int64, _ write: @Sendable (Data) async throws -> Void) async throws -> Void
    ) async throws -> ContentWriteResult {
        // Each request gets one response carrying the ingest's offset. Like containerd's own
        // client, the producer waits for it before sending more: a write counts only once
        // containerd has stored it, so an interrupted write resumes exactly where it stopped.
        let (acknowledgements, acknowledge) = AsyncStream.makeStream(of: Int64.self)
        let expected = descriptor.digest.description
        let total = descriptor.size
        // gRPC reports a producer that threw as a broken stream; the producer's own error (say,
        // the registry's digest mismatch) is what the caller needs to see.
        let producerFailure = ProducerFailure()
        do {
            return try await call("Content.Write") {
                try await content.write(metadata: metadata, options: Self.streamingOptions, requestProducer: { writer in
                    let session = WriteSession(acknowledgements)
                    try await writer.write(.with {
                        $0.action = .stat
                        $0.ref = ref
                        $0.total = total
                        $0.expected = expected
                    })
                    guard let resumeAt = await session.acknowledged() else { return }
                    if resumeAt < total {
                        try await producerFailure.recording { try await produce(resumeAt) { data in
                            guard !data.isEmpty else { return }
                            let offset = session.offset
                            try await writer.write(.with {
                                $0.action = .write
                                $0.offset = offset
                                $0.data = data
                            })
                            guard let stored = await session.acknowledged(), stored == offset + Int64(data.count) else {
                                throw RPCError(code: .dataLoss, message: "containerd did not acknowledge the write of \(ref) at \(offset)")
                            }
                        } }
                    }
                    try await writer.write(.with {
                        $0.action = .commit
                        $0.offset = session.offset
                        $0.total = total
                        $0.expected = expected
                        $0.labels = labels
                    })
                }, onResponse: { response in
                    defer { acknowledge.finish() }
                    var committed = false
                    for try await message in response.messages {
                        acknowledge.yield(message.offset)
                        if message.action == .commit { committed = true }
                    }
                    guard committed else {
                        throw RPCError(code: .internalError, message: "write of \(expected) ended without a commit")
                    }
                    return ContentWriteResult.committed
                })
            }
        } catch let error as ContainerdError where error.code == .alreadyExists {
            return .alreadyExists
        } catch {
            if let failure = producerFailure.error { throw failure }
            // A failed commit (wrong digest or size) leaves the ingest behind; a broken stream
            // keeps it so that a retry resumes.
            if let error = error as? ContainerdError, error.code == .failedPrecondition {
                try? await abortContent(ref: ref)
            }
            throw error
        }
    }

    /// The bytes an interrupted write of `ref` already stored, or nil when there is no such ingest.
    public func contentWriteStatus(ref: String) async throws -> (offset: Int64, total: Int64)? {
        do {
            let status = try await unary("Content.Status") {
                try await content.status(.with { $0.ref = ref }, metadata: metadata, options: Self.unaryOptions).status
            }
            return (status.offset, status.total)
        } catch let error as ContainerdError where error.code == .notFound {
            return nil
        }
    }

    public func abortContent(ref: String) async throws {
        _ = try await unary("Content.Abort") {
            try await content.abort(.with { $0.ref = ref }, metadata: metadata, options: Self.unaryOptions)
        }
    }
}

/// The error the request producer threw, if any; set once, read after the call ended.
private final class ProducerFailure: @unchecked Sendable {
    private(set) var error: (any Error)?

    func recording(_ body: () async throws -> Void) async throws {
        do { try await body() } catch {
            self.error = error
            throw error
        }
    }
}

/// The producer's view of the ingest: containerd's last acknowledged offset. Only the request
/// producer touches it, one write at a time.
private final class WriteSession: @unchecked Sendable {
    private var responses: AsyncStream<Int64>.AsyncIterator
    private(set) var offset: Int64 = 0

    init(_ acknowledgements: AsyncStream<Int64>) {
        responses = acknowledgements.makeAsyncIterator()
    }

    /// Waits for the response to the last request; nil when the stream ended instead.
    func acknowledged() async -> Int64? {
        guard let next = await responses.next() else { return nil }
        offset = next
        return next
    }
}
