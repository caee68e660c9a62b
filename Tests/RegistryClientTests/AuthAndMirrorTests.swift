import Foundation
import NIOCore
import OCI
import RegistryClient
import XCTest

/// Authentication, redirects and mirrors against scripted local servers.
final class AuthAndMirrorTests: XCTestCase {
    private let user = RegistryCredentials(username: "alice", password: "secret")
    private var basicHeader: String { "Basic " + Data("alice:secret".utf8).base64EncodedString() }

    /// A registry whose token server (on the same port) issues "t1", "t2", …, and accepts the
    /// tokens in `valid`.
    private func tokenRegistry(valid: Locked<Set<String>>, issued: Locked<Int>) -> StubServer.Handler {
        { request, _ in
            let host = request.headers.first(name: "Host") ?? ""
            if request.path == "/token" {
                let number = issued.update { count -> Int in
                    count += 1
                    return count
                }
                return .json(#"{"token":"t\#(number)","expires_in":300}"#)
            }
            if let authorization = request.authorization, authorization.hasPrefix("Bearer "),
               valid.value.contains(String(authorization.dropFirst(7))) {
                return request.path.contains("/blobs/") ? .respond(status: 200, body: [1, 2, 3]) : manifestReply()
            }
            return .respond(status: 401, headers: [("WWW-Authenticate", #"Bearer realm="http://\#(host)/token",service="stub""#)],
                            body: registryErrorJSON("UNAUTHORIZED", "authentication required"))
        }
    }

    func testBearerTokenIsFetchedOnceAndReused() async throws {
        let valid = Locked<Set<String>>(["t1"])
        let issued = Locked(0)
        try await withStub(tokenRegistry(valid: valid, issued: issued)) { server in
            let configuration = RegistryConfiguration(insecureHosts: [server.host], credentials: [server.host: user])
            try await withRegistryClient(configuration) { client in
                let reference = try ImageReference(parsing: "\(server.host)/team/app:1")
                _ = try await client.fetchManifest(reference)
                _ = try await client.fetchManifest(reference)
                let blob = try await client.fetchBlob(blobDescriptor([1, 2, 3]), in: reference)
                XCTAssertEqual(blob, Data([1, 2, 3]))
                let count = await client.tokenRequestCount()
                XCTAssertEqual(count, 1)
            }
            XCTAssertEqual(issued.value, 1)
            let tokenRequest = try XCTUnwrap(server.requests(matching: "/token").first)
            XCTAssertEqual(tokenRequest.authorization, basicHeader)
            XCTAssertTrue(tokenRequest.uri.contains("service=stub"), tokenRequest.uri)
            XCTAssertTrue(tokenRequest.uri.contains("scope=repository:team/app:pull"), tokenRequest.uri)
            // One 401 for the first request only: anonymous, token, then the cached token.
            XCTAssertEqual(server.requests.filter { $0.path.hasPrefix("/v2/") }.map { $0.authorization == nil },
                           [true, false, false, false])
        }
    }

    func testConcurrentRequestsShareOneTokenRequest() async throws {
        let valid = Locked<Set<String>>(["t1"])
        let issued = Locked(0)
        try await withStub(tokenRegistry(valid: valid, issued: issued)) { server in
            try await withRegistryClient(RegistryConfiguration(insecureHosts: [server.host])) { client in
                let reference = try ImageReference(parsing: "\(server.host)/app:1")
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for _ in 0..<8 {
                        group.addTask { _ = try await client.fetchManifest(reference) }
                    }
                    try await group.waitForAll()
                }
            }
            XCTAssertEqual(issued.value, 1)
        }
    }

    func testRejectedCachedTokenIsReplacedOnce() async throws {
        let valid = Locked<Set<String>>(["t1"])
        let issued = Locked(0)
        try await withStub(tokenRegistry(valid: valid, issued: issued)) { server in
            try await withRegistryClient(RegistryConfiguration(insecureHosts: [server.host])) { client in
                let reference = try ImageReference(parsing: "\(server.host)/app:1")
                _ = try await client.fetchManifest(reference)
                valid.value = ["t2"]
                _ = try await client.fetchManifest(reference)
                valid.value = []
                let error = await expectRegistryError { try await client.fetchManifest(reference) }
                guard case .unauthorized(let host, let detail)? = error else { return XCTFail("unexpected \(String(describing: error))") }
                XCTAssertEqual(host, server.host)
                XCTAssertTrue(detail.contains("no credentials are configured"), detail)
                let count = await client.tokenRequestCount()
                XCTAssertEqual(count, 3)
            }
        }
    }

    func testBasicAuth() async throws {
        let basicHeader = self.basicHeader
        try await withStub({ request, _ in
            request.authorization == basicHeader
                ? manifestReply()
                : .respond(status: 401, headers: [("WWW-Authenticate", #"Basic realm="stub""#)])
        }) { server in
            let reference = try ImageReference(parsing: "\(server.host)/app:1")
            let anonymous = await expectRegistryError {
                try await withRegistryClient(RegistryConfiguration(insecureHosts: [server.host])) { try await $0.fetchManifest(reference) }
            }
            guard case .unauthorized(server.host, let detail)? = anonymous else { return XCTFail("unexpected \(String(describing: anonymous))") }
            XCTAssertTrue(detail.contains("no credentials"), detail)

            let wrong = RegistryConfiguration(insecureHosts: [server.host],
                                              credentials: [server.host: RegistryCredentials(username: "alice", password: "nope")])
            let rejected = await expectRegistryError { try await withRegistryClient(wrong) { try await $0.fetchManifest(reference) } }
            guard case .unauthorized(_, let why)? = rejected else { return XCTFail("unexpected \(String(describing: rejected))") }
            XCTAssertTrue(why.contains("alice"), why)

            let before = server.requests.count
            let good = RegistryConfiguration(insecureHosts: [server.host], credentials: [server.host: user])
            try await withRegistryClient(good) { client in
                _ = try await client.fetchManifest(reference)
                _ = try await client.fetchManifest(reference)
            }
            XCTAssertEqual(server.requests.count - before, 3, "the second request sends the credentials right away")
        }
    }

    func testRedirectToStorageDropsAuthorization() async throws {
        let blob = pseudoRandomBytes(5000)
        let basicHeader = self.basicHeader
        try await withStub({ request, _ in blobReply(blob, to: request) }) { storage in
            let storageHost = storage.host
            try await withStub({ request, _ in
                guard request.authorization == basicHeader else {
                    return .respond(status: 401, headers: [("WWW-Authenticate", #"Basic realm="stub""#)])
                }
                return .respond(status: 307, headers: [("Location", "http://\(storageHost)/storage/blob?signature=s3cr3t")])
            }) { registry in
                // Storage on loopback too: allowed by name, as an operator would list it.
                let configuration = RegistryConfiguration(insecureHosts: [registry.host], credentials: [registry.host: user],
                                                          allowPrivateHosts: [storageHost])
                var received: [UInt8] = []
                try await withRegistryClient(configuration) { client in
                    try await streamed(client, blobDescriptor(blob), in: try ImageReference(parsing: "\(registry.host)/app:1"),
                                       from: 100, into: &received)
                }
                XCTAssertEqual(received, Array(blob[100...]))
                XCTAssertEqual(storage.requests.count, 1)
                XCTAssertNil(storage.requests[0].authorization)
                XCTAssertEqual(storage.requests[0].uri, "/storage/blob?signature=s3cr3t")
                XCTAssertEqual(storage.requests[0].range, "bytes=100-", "the range survives the redirect")
            }
        }
    }

    func testMirrorServesAnUnreachableRegistry() async throws {
        try await withStub({ _, _ in manifestReply() }) { mirror in
            let configuration = RegistryConfiguration(mirrors: ["example.invalid": ["http://\(mirror.host)"]], retry: quickRetries)
            let manifest = try await withRegistryClient(configuration) { client in
                try await client.fetchManifest(try ImageReference(parsing: "example.invalid/berth/x:1"))
            }
            XCTAssertEqual(manifest.descriptor.digest, Digest.sha256(of: stubManifest))
            XCTAssertEqual(mirror.requests.map(\.path), ["/v2/berth/x/manifests/1"])
        }
    }

    func testBrokenMirrorFallsThroughToTheNext() async throws {
        let closed = try await StubServer.closedPort()
        try await withStub({ _, _ in manifestReply() }) { mirror in
            let configuration = RegistryConfiguration(
                mirrors: ["example.invalid": ["http://127.0.0.1:\(closed)", "http://\(mirror.host)"]], retry: quickRetries)
            _ = try await withRegistryClient(configuration) { client in
                try await client.fetchManifest(try ImageReference(parsing: "example.invalid/berth/x:1"))
            }
            XCTAssertEqual(mirror.requests.count, 1)
        }
    }

    func testMirrorWithoutTheImageFallsThroughToTheRegistry() async throws {
        try await withStub({ _, _ in .respond(status: 404, body: registryErrorJSON("MANIFEST_UNKNOWN", "unknown")) }) { mirror in
            try await withStub({ _, _ in manifestReply() }) { upstream in
                let configuration = RegistryConfiguration(insecureHosts: [upstream.host],
                                                          mirrors: [upstream.host: ["http://\(mirror.host)"]], retry: quickRetries)
                _ = try await withRegistryClient(configuration) { client in
                    try await client.fetchManifest(try ImageReference(parsing: "\(upstream.host)/app:1"))
                }
                XCTAssertEqual(mirror.requests.count, 1, "a 404 is not retried")
                XCTAssertEqual(upstream.requests.count, 1)
            }
        }
    }

    func testAllEndpointsFailingReportsTheRegistry() async throws {
        try await withStub({ _, _ in .respond(status: 404) }) { mirror in
            let configuration = RegistryConfiguration(mirrors: ["example.invalid": ["http://\(mirror.host)"]], retry: .none)
            let error = await expectRegistryError {
                try await withRegistryClient(configuration) { try await $0.fetchManifest(try ImageReference(parsing: "example.invalid/x:1")) }
            }
            guard case .unreachable(let endpoint, _)? = error else { return XCTFail("unexpected \(String(describing: error))") }
            XCTAssertEqual(endpoint, "https://example.invalid")
        }
    }

    func testBlobResumesOnTheNextEndpointWhenAMirrorBreaks() async throws {
        let blob = pseudoRandomBytes(300 << 10)
        try await withStub({ _, number in
            number == 1 ? .truncate(body: blob, sending: 100 << 10) : .respond(status: 500)
        }) { mirror in
            try await withStub({ request, _ in blobReply(blob, to: request) }) { upstream in
                let configuration = RegistryConfiguration(insecureHosts: [upstream.host],
                                                          mirrors: [upstream.host: ["http://\(mirror.host)"]], retry: quickRetries)
                var received: [UInt8] = []
                try await withRegistryClient(configuration) { client in
                    try await streamed(client, blobDescriptor(blob), in: try ImageReference(parsing: "\(upstream.host)/app:1"), into: &received)
                }
                XCTAssertEqual(received, blob)
                XCTAssertEqual(mirror.requests.count, 2, "one resume on the mirror, then on to the registry")
                XCTAssertEqual(upstream.requests.count, 1)
                XCTAssertNotNil(upstream.requests[0].range)
            }
        }
    }
}
