import Foundation
import NIOCore
import NIOHTTP1
import OCI
@testable import RegistryClient
import XCTest

final class ResponseParsingTests: XCTestCase {
    func testErrorBody() {
        let body = Data(#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown","detail":{"Tag":"1"}},{"code":"NAME_UNKNOWN"}]}"#.utf8)
        XCTAssertEqual(RegistryErrorBody.parse(body), [
            .init(code: "MANIFEST_UNKNOWN", message: "manifest unknown"),
            .init(code: "NAME_UNKNOWN", message: nil),
        ])
        XCTAssertEqual(RegistryErrorBody.summary(body), "MANIFEST_UNKNOWN, NAME_UNKNOWN", "codes only, never the messages")
    }

    func testErrorBodyThatIsNotOne() {
        XCTAssertNil(RegistryErrorBody.parse(Data("<html>nope</html>".utf8)))
        XCTAssertNil(RegistryErrorBody.parse(Data(#"{"errors":[]}"#.utf8)))
        XCTAssertNil(RegistryErrorBody.parse(Data()))
        // A body that is not the spec's errors array is never repeated.
        XCTAssertEqual(RegistryErrorBody.summary(Data("<html>\n  <body>Bad\n gateway</body>\n</html>\n".utf8)), "")
        XCTAssertEqual(RegistryErrorBody.summary(Data(String(repeating: "x", count: 1000).utf8)), "")
        XCTAssertEqual(RegistryErrorBody.summary(Data()), "")
        // Codes outside the spec's vocabulary shape (text, links, long strings) are dropped; three at most.
        let odd = Data(#"{"errors":[{"code":"see http://evil"},{"code":"A"},{"code":"B"},{"code":"A"},{"code":"C"},{"code":"D"},{"code":"\#(String(repeating: "X", count: 41))"}]}"#.utf8)
        XCTAssertEqual(RegistryErrorBody.summary(odd), "A, B, C")
    }

    func testErrorMessages() throws {
        XCTAssertEqual(RegistryError.manifestUnknown("docker.io/library/foo:1").description,
                       "docker.io/library/foo:1: manifest unknown (no such tag or digest)")
        XCTAssertEqual(RegistryError.unauthorized(host: "r.example", detail: "no").description, "r.example: unauthorized: no")
        XCTAssertEqual(RegistryError.unreachable(endpoint: "https://r.example", underlying: "connection refused").description,
                       "cannot reach registry https://r.example: connection refused")
        XCTAssertTrue(RegistryError.unexpectedStatus(429, url: "u", body: "").description.contains("rate limited"))
        XCTAssertEqual(RegistryError.manifestTooLarge("x", limit: 4 << 20).description, "x: manifest is larger than 4 MiB; refusing it")
        for error: RegistryError in [.digestMismatch(expected: Digest.sha256(of: [1]), actual: Digest.sha256(of: [2])),
                                     .sizeMismatch(expected: 1, actual: 2), .invalidResponse("x"), .repositoryUnknown("r")] {
            XCTAssertFalse(error.description.contains("\n"))
        }
    }

    func testTokenResponse() throws {
        let now = ContinuousClock.now
        let token = try RegistryClient.decodeToken(Data(#"{"token":"abc","expires_in":300}"#.utf8), from: "realm", now: now)
        XCTAssertEqual(token.value, "abc")
        XCTAssertEqual(token.expires, now + .seconds(290))

        let access = try RegistryClient.decodeToken(Data(#"{"access_token":"xyz"}"#.utf8), from: "realm", now: now)
        XCTAssertEqual(access.value, "xyz")
        XCTAssertEqual(access.expires, now + .seconds(50), "60 s by default, minus the margin")

        let short = try RegistryClient.decodeToken(Data(#"{"token":"t","access_token":"ignored","expires_in":4}"#.utf8), from: "r", now: now)
        XCTAssertEqual(short.value, "t")
        XCTAssertEqual(short.expires, now + .seconds(2))

        XCTAssertThrowsError(try RegistryClient.decodeToken(Data(#"{"token":""}"#.utf8), from: "r"))
        XCTAssertThrowsError(try RegistryClient.decodeToken(Data("nope".utf8), from: "r"))
    }

    func testManifestMediaType() {
        let index = Data(#"{"schemaVersion":2,"manifests":[]}"#.utf8)
        let manifest = Data(#"{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json","config":{}}"#.utf8)
        XCTAssertEqual(RegistryClient.manifestMediaType(contentType: "application/vnd.oci.image.index.v1+json; charset=utf-8", body: manifest),
                       MediaType.ociIndex)
        XCTAssertEqual(RegistryClient.manifestMediaType(contentType: "application/json", body: manifest), MediaType.dockerManifest)
        XCTAssertEqual(RegistryClient.manifestMediaType(contentType: nil, body: index), MediaType.ociIndex)
        XCTAssertEqual(RegistryClient.manifestMediaType(contentType: "text/plain", body: Data(#"{"config":{}}"#.utf8)), MediaType.ociManifest)
    }

    func testVerifiedManifest() throws {
        let body = Data(#"{"schemaVersion":2}"#.utf8)
        let digest = Digest.sha256(of: body)
        let other = Digest.sha256(of: Data("other".utf8))
        var headers = HTTPHeaders([("Content-Type", MediaType.ociManifest), ("Docker-Content-Digest", digest.description)])

        let fetched = try RegistryClient.verifiedManifest(body, headers: headers, expected: digest)
        XCTAssertEqual(fetched.descriptor, Descriptor(mediaType: MediaType.ociManifest, digest: digest, size: Int64(body.count)))
        XCTAssertEqual(fetched.data, body)

        XCTAssertThrowsError(try RegistryClient.verifiedManifest(body, headers: headers, expected: other)) { error in
            XCTAssertEqual(error as? RegistryError, .digestMismatch(expected: other, actual: digest))
        }
        headers.replaceOrAdd(name: "Docker-Content-Digest", value: other.description)
        XCTAssertThrowsError(try RegistryClient.verifiedManifest(body, headers: headers, expected: nil)) { error in
            XCTAssertEqual(error as? RegistryError, .digestMismatch(expected: other, actual: digest))
        }
        headers.replaceOrAdd(name: "Docker-Content-Digest", value: "md5:nonsense")
        XCTAssertThrowsError(try RegistryClient.verifiedManifest(body, headers: headers, expected: nil)) { error in
            guard case RegistryError.invalidResponse = error else { return XCTFail("unexpected \(error)") }
        }
    }

    func testContentRange() {
        XCTAssertEqual(RegistryClient.contentRangeStart("bytes 100-199/200"), 100)
        XCTAssertEqual(RegistryClient.contentRangeStart("bytes */200"), nil)
        XCTAssertEqual(RegistryClient.contentRangeStart("items 1-2/3"), nil)
        XCTAssertEqual(RegistryClient.contentRangeTotal("bytes */200"), 200)
        XCTAssertEqual(RegistryClient.contentRangeTotal("bytes 0-1/*"), nil)
    }

    func testBlobProgressSkipsWhatWasDeliveredAndHashesFromZero() async throws {
        let blob = pseudoRandomBytes(1000)
        let descriptor = blobDescriptor(blob)
        var progress = BlobProgress(size: 1000, delivered: 0)
        var received: [UInt8] = []
        let consume: (ByteBuffer) async throws -> Void = { received.append(contentsOf: $0.readableBytesView) }

        try await progress.accept(ByteBuffer(bytes: blob[0..<300]), at: 0, consume: consume)
        // The connection broke; the server ignores the range and sends from 0 again.
        try await progress.accept(ByteBuffer(bytes: blob[0..<500]), at: 0, consume: consume)
        try await progress.accept(ByteBuffer(bytes: blob[500...]), at: 500, consume: consume)
        XCTAssertEqual(received, blob)
        XCTAssertEqual(progress.verifier?.count, 1000)
        XCTAssertNoThrow(try progress.verify(descriptor))
    }

    func testBlobProgressFromAnOffsetCannotCheckTheDigest() async throws {
        let blob = pseudoRandomBytes(100)
        var progress = BlobProgress(size: 100, delivered: 40)
        try await progress.accept(ByteBuffer(bytes: blob[40...]), at: 40) { _ in }
        XCTAssertNil(progress.verifier)
        XCTAssertNoThrow(try progress.verify(blobDescriptor(pseudoRandomBytes(100, seed: 7))))
    }

    func testBlobProgressRejectsExtraBytes() async throws {
        var progress = BlobProgress(size: 10, delivered: 0)
        do {
            try await progress.accept(ByteBuffer(bytes: [UInt8](repeating: 1, count: 11)), at: 0) { _ in }
            XCTFail("expected a size mismatch")
        } catch {
            XCTAssertEqual(error as? RegistryError, .sizeMismatch(expected: 10, actual: 11))
        }
    }
}
