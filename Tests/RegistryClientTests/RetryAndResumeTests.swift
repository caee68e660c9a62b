import Foundation
import NIOCore
import OCI
import RegistryClient
import XCTest

/// Retries, resumption and verification against a scripted local server.
final class RetryAndResumeTests: XCTestCase {
    private func configuration(_ servers: StubServer..., retry: RetryPolicy = quickRetries) -> RegistryConfiguration {
        RegistryConfiguration(insecureHosts: Set(servers.map(\.host)), retry: retry)
    }

    private func reference(_ server: StubServer, _ rest: String = "r:1") throws -> ImageReference {
        try ImageReference(parsing: "\(server.host)/\(rest)")
    }

    func testRetries503ThenSucceeds() async throws {
        try await withStub({ _, number in number <= 2 ? .respond(status: 503) : manifestReply() }) { server in
            let manifest = try await withRegistryClient(configuration(server)) { client in
                try await client.fetchManifest(try reference(server))
            }
            XCTAssertEqual(manifest.descriptor.digest, Digest.sha256(of: stubManifest))
            XCTAssertEqual(manifest.descriptor.mediaType, MediaType.ociManifest)
            XCTAssertEqual(server.requests.count, 3)
        }
    }

    func testGivesUpAfterMaxAttempts() async throws {
        try await withStub({ _, _ in .respond(status: 502, body: Array("bad gateway".utf8)) }) { server in
            let error = await expectRegistryError {
                try await withRegistryClient(configuration(server)) { try await $0.fetchManifest(try reference(server)) }
            }
            guard case .unexpectedStatus(502, let url, let body)? = error else { return XCTFail("unexpected \(String(describing: error))") }
            XCTAssertEqual(url, "http://\(server.host)/v2/r/manifests/1")
            XCTAssertEqual(body, "", "a body that is not the spec's errors array is never repeated")
            XCTAssertEqual(server.requests.count, 3)
        }
    }

    func testRetryAfterReplacesTheBackoff() async throws {
        let slow = RetryPolicy(maxAttempts: 2, initialDelay: .seconds(30), maxDelay: .seconds(30))
        try await withStub({ _, number in
            number == 1 ? .respond(status: 429, headers: [("Retry-After", "0")]) : manifestReply()
        }) { server in
            let start = ContinuousClock.now
            _ = try await withRegistryClient(configuration(server, retry: slow)) { try await $0.fetchManifest(try reference(server)) }
            XCTAssertLessThan(ContinuousClock.now - start, .seconds(10))
            XCTAssertEqual(server.requests.count, 2)
        }
    }

    func testNotFoundIsNotRetried() async throws {
        try await withStub({ request, _ in
            request.path.contains("/missing/")
                ? .respond(status: 404, body: registryErrorJSON("NAME_UNKNOWN", "repository name not known to registry"))
                : .respond(status: 404, body: registryErrorJSON("MANIFEST_UNKNOWN", "manifest unknown"))
        }) { server in
            try await withRegistryClient(configuration(server)) { client in
                let tag = try reference(server, "r:nope")
                let error = await expectRegistryError { try await client.fetchManifest(tag) }
                XCTAssertEqual(error, .manifestUnknown("\(server.host)/r:nope"))
                XCTAssertEqual(error?.description, "\(server.host)/r:nope: manifest unknown (no such tag or digest)")
                let repository = try reference(server, "missing/r:1")
                let other = await expectRegistryError { try await client.fetchManifest(repository) }
                XCTAssertEqual(other, .repositoryUnknown("\(server.host)/missing/r:1"))
            }
            XCTAssertEqual(server.requests.count, 2)
        }
    }

    func testManifestByDigestIsVerified() async throws {
        let served = stubManifest + Array(" ".utf8)
        try await withStub({ _, _ in .respond(status: 200, headers: [("Content-Type", MediaType.ociManifest)], body: served) }) { server in
            let wanted = Digest.sha256(of: stubManifest)
            let error = await expectRegistryError {
                try await withRegistryClient(configuration(server)) { try await $0.fetchManifest(try reference(server, "r@\(wanted)")) }
            }
            XCTAssertEqual(error, .digestMismatch(expected: wanted, actual: Digest.sha256(of: served)))
            XCTAssertEqual(server.requests.count, 1, "a wrong digest is not a transient failure")
        }
    }

    func testManifestTooLarge() async throws {
        let huge = [UInt8](repeating: UInt8(ascii: " "), count: (4 << 20) + 1)
        try await withStub({ _, _ in .respond(status: 200, body: huge) }) { server in
            let error = await expectRegistryError {
                try await withRegistryClient(configuration(server)) { try await $0.fetchManifest(try reference(server)) }
            }
            guard case .manifestTooLarge? = error else { return XCTFail("unexpected \(String(describing: error))") }
        }
    }

    func testResumesAfterTheConnectionBreaksMidBody() async throws {
        let blob = pseudoRandomBytes(256 << 10)
        try await withStub({ request, number in
            number == 1 ? .truncate(body: blob, sending: 100 << 10) : blobReply(blob, to: request)
        }) { server in
            var received: [UInt8] = []
            var chunks = 0
            try await withRegistryClient(configuration(server)) { client in
                try await client.streamBlob(blobDescriptor(blob), in: try reference(server)) { chunk in
                    received.append(contentsOf: chunk.readableBytesView)
                    chunks += 1
                }
            }
            XCTAssertEqual(received, blob)
            XCTAssertGreaterThan(chunks, 1)
            XCTAssertEqual(server.requests.count, 2)
            XCTAssertNil(server.requests[0].range)
            let resumedAt = server.requests[1].range.flatMap { Int($0.dropFirst("bytes=".count).dropLast()) }
            XCTAssertNotNil(resumedAt)
            XCTAssertGreaterThan(resumedAt ?? 0, 0)
            XCTAssertLessThanOrEqual(resumedAt ?? .max, 100 << 10)
        }
    }

    func testResumesWhenTheServerIgnoresRanges() async throws {
        let blob = pseudoRandomBytes(200 << 10)
        try await withStub({ _, number in
            number == 1 ? .truncate(body: blob, sending: 64 << 10) : .respond(status: 200, body: blob)
        }) { server in
            var received: [UInt8] = []
            try await withRegistryClient(configuration(server)) { client in
                try await streamed(client, blobDescriptor(blob), in: try reference(server), into: &received)
            }
            XCTAssertEqual(received, blob)
            XCTAssertNotNil(server.requests[1].range)
        }
    }

    func testStreamsFromAnOffset() async throws {
        let blob = pseudoRandomBytes(10_000)
        try await withStub({ request, _ in blobReply(blob, to: request) }) { server in
            var received: [UInt8] = []
            try await withRegistryClient(configuration(server)) { client in
                try await streamed(client, blobDescriptor(blob), in: try reference(server), from: 4000, into: &received)
            }
            XCTAssertEqual(received, Array(blob[4000...]))
            XCTAssertEqual(server.requests.map(\.range), ["bytes=4000-"])
        }
    }

    func testOffsetOnAServerWithoutRangesStillChecksTheDigest() async throws {
        let blob = pseudoRandomBytes(10_000)
        let corrupted = blob.enumerated().map { $0.offset == 10 ? $0.element ^ 0xff : $0.element }
        try await withStub({ _, _ in .respond(status: 200, body: corrupted) }) { server in
            var received: [UInt8] = []
            let error = await expectRegistryError {
                try await withRegistryClient(configuration(server)) { client in
                    try await streamed(client, blobDescriptor(blob), in: try reference(server), from: 4000, into: &received)
                }
            }
            XCTAssertEqual(error, .digestMismatch(expected: Digest.sha256(of: blob), actual: Digest.sha256(of: corrupted)))
            XCTAssertEqual(received, Array(blob[4000...]), "only the bytes from the offset are handed over")
        }
    }

    func testDigestMismatchIsThrownAfterTheLastChunk() async throws {
        let blob = pseudoRandomBytes(50_000)
        let garbage = pseudoRandomBytes(50_000, seed: 9)
        try await withStub({ _, _ in .respond(status: 200, body: garbage) }) { server in
            var received: [UInt8] = []
            let error = await expectRegistryError {
                try await withRegistryClient(configuration(server)) { client in
                    try await streamed(client, blobDescriptor(blob), in: try reference(server), into: &received)
                }
            }
            XCTAssertEqual(error, .digestMismatch(expected: Digest.sha256(of: blob), actual: Digest.sha256(of: garbage)))
            XCTAssertEqual(received.count, garbage.count)
            XCTAssertEqual(server.requests.count, 1)
        }
    }

    func testSizeMismatch() async throws {
        let blob = pseudoRandomBytes(1000)
        try await withStub({ _, _ in .respond(status: 200, body: Array(blob.prefix(999))) }) { server in
            let error = await expectRegistryError {
                try await withRegistryClient(configuration(server)) { client in
                    try await client.fetchBlob(blobDescriptor(blob), in: try reference(server))
                }
            }
            XCTAssertEqual(error, .sizeMismatch(expected: 1000, actual: 999))
        }
    }

    func testConsumerErrorsPassThroughUnchanged() async throws {
        struct DiskFull: Error {}
        let blob = pseudoRandomBytes(1000)
        try await withStub({ _, _ in .respond(status: 200, body: blob) }) { server in
            let error = await expectError {
                try await withRegistryClient(configuration(server)) { client in
                    try await client.streamBlob(blobDescriptor(blob), in: try reference(server)) { _ in throw DiskFull() }
                }
            }
            XCTAssertTrue(error is DiskFull, "\(String(describing: error))")
            XCTAssertEqual(server.requests.count, 1)
        }
    }

    func testBlobUnknown() async throws {
        let blob = pseudoRandomBytes(10)
        try await withStub({ _, _ in .respond(status: 404, body: registryErrorJSON("BLOB_UNKNOWN", "blob unknown")) }) { server in
            let error = await expectRegistryError {
                try await withRegistryClient(configuration(server)) { try await $0.fetchBlob(blobDescriptor(blob), in: try reference(server)) }
            }
            XCTAssertEqual(error, .blobUnknown("\(server.host)/r@\(Digest.sha256(of: blob))"))
        }
    }

    func testUnreachableAfterRetries() async throws {
        let port = try await StubServer.closedPort()
        let configuration = RegistryConfiguration(insecureHosts: ["127.0.0.1:\(port)"], retry: quickRetries)
        let start = ContinuousClock.now
        let error = await expectRegistryError {
            try await withRegistryClient(configuration) { try await $0.fetchManifest(try ImageReference(parsing: "127.0.0.1:\(port)/r:1")) }
        }
        guard case .unreachable(let endpoint, let underlying)? = error else { return XCTFail("unexpected \(String(describing: error))") }
        XCTAssertEqual(endpoint, "http://127.0.0.1:\(port)")
        XCTAssertEqual(underlying, "connection refused")
        XCTAssertGreaterThanOrEqual(ContinuousClock.now - start, .milliseconds(30), "two pauses of 10 and 20 ms")
    }
}
