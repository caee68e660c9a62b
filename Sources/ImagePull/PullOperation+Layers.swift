import ContainerdClient
import Foundation
import NIOCore
import OCI
import RegistryClient

extension PullOperation {
    /// Downloads missing layers, a few at a time, while unpacking them in order as soon as each
    /// one and all below it are in the store. Returns the bytes fetched from the registry.
    func fetchAndUnpackLayers(_ layers: [Descriptor], diffIDs: [Digest], chain: [Digest],
                              using client: ContainerdClient) async throws -> Int64 {
        let (completed, completion) = AsyncStream.makeStream(of: Int.self)
        return try await withThrowingTaskGroup(of: Int64.self) { group in
            group.addTask {
                defer { completion.finish() }
                return try await withThrowingTaskGroup(of: (Int, Int64).self) { downloads in
                    var next = 0
                    var total: Int64 = 0
                    func startNext() {
                        guard next < layers.count else { return }
                        let i = next
                        next += 1
                        downloads.addTask { (i, try await download(i, layers[i], diffID: diffIDs[i], using: client)) }
                    }
                    for _ in 0..<maxConcurrentDownloads { startNext() }
                    while let (i, bytes) = try await downloads.next() {
                        total += bytes
                        completion.yield(i)
                        startNext()
                    }
                    return total
                }
            }

            var ready = Set<Int>()
            var nextToUnpack = 0
            for await i in completed {
                ready.insert(i)
                while ready.contains(nextToUnpack) {
                    try await unpack(nextToUnpack, layers[nextToUnpack], diffID: diffIDs[nextToUnpack], chain: chain, using: client)
                    nextToUnpack += 1
                }
            }
            // The download task's error, if it stopped early, surfaces here.
            let downloaded = try await group.next() ?? 0
            try Task.checkCancellation()
            precondition(nextToUnpack == layers.count, "every layer downloaded was unpacked")
            return downloaded
        }
    }

    /// Streams one layer from the registry into the content store, resuming an interrupted
    /// ingest. Returns the bytes fetched.
    private func download(_ i: Int, _ layer: Descriptor, diffID: Digest, using client: ContainerdClient) async throws -> Int64 {
        let ref = "berth-pull-\(layer.digest.encoded)"
        var lockedRetries = 0
        while true {
            if try await client.storedContent(layer.digest) != nil {
                progress.layer(i, state: .alreadyPresent, done: layer.size)
                return 0
            }
            do {
                let registry = self.registry
                let reference = self.reference
                let progress = self.progress
                let chunkSize = Self.writeChunkSize
                let fetched = FetchedBytes()
                _ = try await client.writeContent(ref: ref, descriptor: layer, labels: [GCLabel.uncompressed: diffID.description]) { resumeAt, write in
                    progress.layer(i, state: .downloading, done: resumeAt)
                    var pending = Data()
                    pending.reserveCapacity(chunkSize)
                    try await registry.streamBlob(layer, in: reference, from: resumeAt) { buffer in
                        buffer.withUnsafeReadableBytes { pending.append(contentsOf: $0) }
                        fetched.add(Int64(buffer.readableBytes))
                        progress.layer(i, advancedBy: Int64(buffer.readableBytes))
                        if pending.count >= chunkSize {
                            try await write(pending)
                            pending.removeAll(keepingCapacity: true)
                        }
                    }
                    if !pending.isEmpty { try await write(pending) }
                }
                progress.layer(i, state: .downloaded, done: layer.size)
                return fetched.total
            } catch let error as ContainerdError where error.code == .unavailable && error.message.contains("locked") && lockedRetries < 600 {
                // Another pull holds this blob's ingest: wait for it to commit.
                lockedRetries += 1
                try await Task.sleep(for: .milliseconds(200))
            } catch let error as RegistryError {
                switch error {
                case .digestMismatch, .sizeMismatch:
                    try? await client.abortContent(ref: ref)
                default: break
                }
                throw error
            }
        }
    }

    /// Applies a layer on top of its parent chain and commits it under its chain ID, unless a
    /// snapshot of that chain exists already.
    private func unpack(_ i: Int, _ layer: Descriptor, diffID: Digest, chain: [Digest], using client: ContainerdClient) async throws {
        let name = chain[i].description
        if try await client.storedSnapshot(name) != nil {
            progress.layer(i, state: .alreadyUnpacked)
            return
        }
        progress.layer(i, state: .unpacking)
        let key = "extract-\(UUID().uuidString.lowercased()) \(name)"
        let mounts = try await client.prepareSnapshot(key, parent: i > 0 ? chain[i - 1].description : nil)
        do {
            let applied = try await client.applyLayer(layer, to: mounts)
            guard applied == diffID else {
                throw PullError.diffIDMismatch(layer: layer.digest, expected: diffID, actual: applied)
            }
            do {
                try await client.commitSnapshot(name: name, key: key)
            } catch let error as ContainerdError where error.code == .alreadyExists {
                // Another pull committed the same chain first; ours is redundant.
                try? await client.removeSnapshot(key)
            }
        } catch {
            try? await client.removeSnapshot(key)
            throw error
        }
        progress.layer(i, state: .unpacked)
    }
}

/// Counts the bytes one download fetched; only its own stream's callback adds to it.
private final class FetchedBytes: @unchecked Sendable {
    private(set) var total: Int64 = 0
    func add(_ count: Int64) { total += count }
}
