import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import OCI

extension RegistryClient {
    /// Streams a blob from `offset`, handing each chunk to `consume` in order and reading no
    /// further until it returns. The total size is checked against the descriptor, and so is the
    /// sha256 when the bytes were seen from the start (always when `offset` is 0). A mismatch is
    /// thrown after the last chunk was handed over: the caller must discard what it wrote.
    ///
    /// A connection that breaks mid-blob is resumed with a `Range` request from the bytes already
    /// delivered, on the same endpoint or, failing that, the next one.
    public func streamBlob(_ descriptor: Descriptor, in reference: ImageReference, from offset: Int64 = 0,
                           consume: (ByteBuffer) async throws -> Void) async throws {
        let name = "\(reference.name)@\(descriptor.digest)"
        guard descriptor.digest.algorithm == "sha256" else {
            throw RegistryError.invalidResponse("\(name): only sha256 digests can be verified")
        }
        guard offset >= 0, offset <= descriptor.size else {
            throw RegistryError.sizeMismatch(expected: descriptor.size, actual: offset)
        }
        var progress = BlobProgress(size: descriptor.size, delivered: offset)
        do {
            if offset < descriptor.size {
                let endpoints = configuration.endpoints(for: reference.registry)
                for (index, endpoint) in endpoints.enumerated() {
                    do {
                        try await streamBlob(descriptor, name: name, repository: reference.repository,
                                             from: endpoint, progress: &progress, consume: consume)
                        break
                    } catch let error as RegistryError where index < endpoints.count - 1 && !error.isIntegrityFailure {
                        logger.info("mirror \(endpoint) failed: \(error); trying the next endpoint")
                    }
                }
            }
        } catch let failure as ConsumerFailure {
            throw failure.underlying
        }
        try progress.verify(descriptor)
    }

    /// Streams from one endpoint, resuming after broken connections while the policy allows.
    /// Progress since the last failure restores the attempts, so a long download over a flaky
    /// link is not failed for hiccups spread over an hour.
    private func streamBlob(_ descriptor: Descriptor, name: String, repository: String, from endpoint: RegistryEndpoint,
                            progress: inout BlobProgress, consume: (ByteBuffer) async throws -> Void) async throws {
        let policy = retryPolicy(for: endpoint)
        var attempt = 1
        while true {
            let before = progress.delivered
            do {
                try await streamOnce(descriptor, name: name, repository: repository, from: endpoint,
                                     progress: &progress, consume: consume)
                return
            } catch let failure as TransportFailure {
                if progress.delivered > before { attempt = 1 }
                guard attempt < policy.maxAttempts else { throw failure.registryError }
                let delay = policy.delay(afterAttempt: attempt, retryAfter: failure.retryAfter)
                logger.debug("\(name) from \(endpoint): \(failure.registryError); resuming at byte \(progress.delivered) in \(delay)")
                try await Task.sleep(for: delay)
                attempt += 1
            }
        }
    }

    private func streamOnce(_ descriptor: Descriptor, name: String, repository: String, from endpoint: RegistryEndpoint,
                            progress: inout BlobProgress, consume: (ByteBuffer) async throws -> Void) async throws {
        let url = endpoint.url(repository: repository, kind: "blobs", reference: descriptor.digest.description)
        var headers = HTTPHeaders()
        if progress.delivered > 0 {
            headers.add(name: "Range", value: "bytes=\(progress.delivered)-")
        }
        let response = try await send(RegistryRequest(url: url, headers: headers, endpoint: endpoint,
                                                      scope: Self.pullScope(repository)))
        var position: Int64
        switch response.status.code {
        case 200:
            // The server ignored the range: the bytes already delivered are skipped below.
            position = 0
        case 206:
            guard let range = response.headers.first(name: "Content-Range"),
                  let start = Self.contentRangeStart(range), start <= progress.delivered
            else {
                await discard(response)
                throw RegistryError.invalidResponse(
                    "\(name): partial content without a usable Content-Range for bytes=\(progress.delivered)-")
            }
            position = start
        case 404:
            await discard(response)
            throw RegistryError.blobUnknown(name)
        case 416:
            let total = response.headers.first(name: "Content-Range").flatMap(Self.contentRangeTotal)
            await discard(response)
            throw RegistryError.sizeMismatch(expected: descriptor.size, actual: total ?? progress.delivered)
        default:
            throw await statusError(response, url: url)
        }
        if let length = Self.contentLength(response), position + length != descriptor.size {
            throw RegistryError.sizeMismatch(expected: descriptor.size, actual: position + length)
        }
        do {
            for try await chunk in response.body {
                try await progress.accept(chunk, at: position, consume: consume)
                position += Int64(chunk.readableBytes)
            }
        } catch {
            throw transportFailure(error, endpoint: endpoint.description)
        }
    }

    /// The first byte of `bytes START-END/TOTAL`.
    static func contentRangeStart(_ header: String) -> Int64? {
        let value = header.trimmingCharacters(in: .whitespaces)
        guard value.lowercased().hasPrefix("bytes ") else { return nil }
        return value.dropFirst(6).split(separator: "-").first.flatMap { Int64($0.trimmingCharacters(in: .whitespaces)) }
    }

    /// The TOTAL of `bytes START-END/TOTAL` or `bytes */TOTAL`.
    static func contentRangeTotal(_ header: String) -> Int64? {
        header.split(separator: "/").last.flatMap { Int64($0.trimmingCharacters(in: .whitespaces)) }
    }
}

/// Where a blob transfer stands: bytes delivered, and the hash of the blob from byte 0.
struct BlobProgress {
    let size: Int64
    /// Bytes handed to the consumer, counted from the start of the blob.
    var delivered: Int64
    /// Nil once the bytes from 0 can no longer be seen (the transfer started at an offset that
    /// the server honoured), so the digest cannot be checked.
    var verifier: DigestVerifier? = DigestVerifier()

    init(size: Int64, delivered: Int64) {
        self.size = size
        self.delivered = delivered
    }

    /// Takes the chunk found at `position` of the blob: hashes what the verifier has not seen and
    /// hands over what the consumer has not had.
    mutating func accept(_ chunk: ByteBuffer, at position: Int64,
                         consume: (ByteBuffer) async throws -> Void) async throws {
        let count = Int64(chunk.readableBytes)
        guard count > 0 else { return }
        let end = position + count
        guard end <= size else {
            throw RegistryError.sizeMismatch(expected: size, actual: end)
        }
        if var hasher = verifier {
            if hasher.count < position {
                verifier = nil
            } else if hasher.count < end {
                let skip = Int(hasher.count - position)
                chunk.withUnsafeReadableBytes { bytes in
                    hasher.update(UnsafeRawBufferPointer(rebasing: bytes[skip...]))
                }
                verifier = hasher
            }
        }
        guard end > delivered else { return }
        let skip = Int(delivered - position)
        guard skip >= 0, let slice = chunk.getSlice(at: chunk.readerIndex + skip, length: Int(count) - skip) else {
            throw RegistryError.invalidResponse("the registry skipped bytes \(delivered)..<\(position)")
        }
        do {
            try await consume(slice)
        } catch {
            throw ConsumerFailure(underlying: error)
        }
        delivered = end
    }

    func verify(_ descriptor: Descriptor) throws {
        guard delivered == size else {
            throw RegistryError.sizeMismatch(expected: size, actual: delivered)
        }
        if let verifier, verifier.count == size {
            let actual = verifier.finalize()
            guard actual == descriptor.digest else {
                throw RegistryError.digestMismatch(expected: descriptor.digest, actual: actual)
            }
        }
    }
}

extension RegistryError {
    /// Failures about content already handed to a consumer, which another endpoint cannot undo.
    var isIntegrityFailure: Bool {
        switch self {
        case .digestMismatch, .sizeMismatch: return true
        default: return false
        }
    }
}
