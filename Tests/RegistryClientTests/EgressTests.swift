import Foundation
import NIOCore
import NIOHTTP1
import OCI
@testable import RegistryClient
import XCTest

/// The egress policy against scripted servers on loopback: the registry stubs are allowed by
/// configuration (insecure, as every test registry is), the "forbidden" listeners are not, and
/// they count the connections they accept to prove that a refusal opens none.
final class EgressTests: XCTestCase {
    private func reference(_ server: StubServer) throws -> ImageReference {
        try ImageReference(parsing: "\(server.host)/team/app:1")
    }

    func testRedirectToAnotherLoopbackListenerOpensNoConnection() async throws {
        try await withStub({ _, _ in manifestReply() }) { forbidden in
            let forbiddenPort = forbidden.port
            try await withStub({ _, _ in
                .respond(status: 307, headers: [("Location", "http://127.0.0.1:\(forbiddenPort)/v2/team/app/manifests/1")])
            }) { registry in
                let error = await expectRegistryError {
                    try await withRegistryClient(RegistryConfiguration(insecureHosts: [registry.host], retry: quickRetries)) {
                        try await $0.fetchManifest(try self.reference(registry))
                    }
                }
                XCTAssertEqual(error, .egressRefused(target: "registry redirect to http://127.0.0.1:\(forbiddenPort)",
                                                     reason: "loopback address not allowed (name the host in registry.allow_private to allow it)"))
                XCTAssertEqual(error?.description.contains("registry redirect to http://127.0.0.1:\(forbiddenPort) refused: loopback address not allowed"), true,
                               error?.description ?? "")
                XCTAssertEqual(registry.requests.count, 1, "a refusal is not retried")
            }
            XCTAssertEqual(forbidden.acceptedConnections, 0)
        }
    }

    func testRedirectToAHostInAllowPrivateIsFollowed() async throws {
        try await withStub({ _, _ in manifestReply() }) { storage in
            let storageHost = storage.host
            try await withStub({ _, _ in
                .respond(status: 307, headers: [("Location", "http://\(storageHost)/v2/team/app/manifests/1")])
            }) { registry in
                let configuration = RegistryConfiguration(insecureHosts: [registry.host], retry: quickRetries,
                                                          allowPrivateHosts: [storageHost])
                let manifest = try await withRegistryClient(configuration) { try await $0.fetchManifest(try self.reference(registry)) }
                XCTAssertEqual(manifest.descriptor.digest, Digest.sha256(of: stubManifest))
            }
            XCTAssertEqual(storage.requests.count, 1)
        }
    }

    func testTokenRealmsOfOtherSchemesOrForbiddenAddressesAreRefusedWithoutConnecting() async throws {
        try await withStub({ _, _ in .json(#"{"token":"t"}"#) }) { forbidden in
            let cases: [(realm: String, target: String, reason: String)] = [
                ("http+unix://%2Fvar%2Frun%2Fdocker.sock/token", "token realm http+unix://", "only http and https URLs are allowed"),
                ("file:///etc/shadow", "token realm file:///etc/shadow", "not an http or https URL"),
                ("http://169.254.169.254/latest/meta-data/iam", "token realm http://169.254.169.254", "link-local address not allowed"),
                ("http://127.0.0.1:\(forbidden.port)/token", "token realm http://127.0.0.1:\(forbidden.port)", "loopback address not allowed"),
                ("http://[::ffff:127.0.0.1]:\(forbidden.port)/token", "token realm http://[::ffff:127.0.0.1]:\(forbidden.port)",
                 "loopback address not allowed"),
                ("http://127.1:\(forbidden.port)/token", "token realm http://127.1:\(forbidden.port)",
                 "it resolves to 127.0.0.1, a loopback address, not allowed"),
            ]
            for (realm, target, reason) in cases {
                try await withStub({ _, _ in
                    .respond(status: 401, headers: [("WWW-Authenticate", "Bearer realm=\"\(realm)\",service=\"stub\"")])
                }) { registry in
                    let error = await expectRegistryError {
                        try await withRegistryClient(RegistryConfiguration(insecureHosts: [registry.host], retry: quickRetries)) {
                            try await $0.fetchManifest(try self.reference(registry))
                        }
                    }
                    guard case .egressRefused(let refused, let why)? = error else {
                        return XCTFail("\(realm): unexpected \(String(describing: error))")
                    }
                    XCTAssertTrue(refused.hasPrefix(target), "\(realm): \(refused)")
                    XCTAssertTrue(why.contains(reason), "\(realm): \(why)")
                }
            }
            XCTAssertEqual(forbidden.acceptedConnections, 0)
        }
    }

    func testImageReferenceNamingALoopbackHostIsRefused() async throws {
        try await withStub({ _, _ in manifestReply() }) { forbidden in
            // localhost resolves to loopback; over HTTPS, so the scheme is not what refuses it.
            let error = await expectRegistryError {
                try await withRegistryClient(RegistryConfiguration(retry: quickRetries)) {
                    try await $0.fetchManifest(try ImageReference(parsing: "localhost:\(forbidden.port)/app:1"))
                }
            }
            guard case .egressRefused(let target, let reason)? = error else { return XCTFail("unexpected \(String(describing: error))") }
            XCTAssertEqual(target, "registry https://localhost:\(forbidden.port)")
            XCTAssertTrue(reason.hasPrefix("it resolves to "), reason)
            XCTAssertTrue(reason.contains("a loopback address, not allowed"), reason)
            XCTAssertEqual(forbidden.acceptedConnections, 0)

            // Named insecure, the same name connects, to the checked address, with its own Host.
            let configuration = RegistryConfiguration(insecureHosts: ["localhost:\(forbidden.port)"], retry: quickRetries)
            _ = try await withRegistryClient(configuration) {
                try await $0.fetchManifest(try ImageReference(parsing: "localhost:\(forbidden.port)/app:1"))
            }
            XCTAssertEqual(forbidden.requests.last?.headers.first(name: "Host"), "localhost:\(forbidden.port)")
        }
    }

    /// The connection goes to the address that was checked, not to a second lookup's answer:
    /// this name resolves only through the client's own resolver, so a connection made any
    /// other way could not reach the stub at all.
    func testConnectionGoesToTheCheckedAddress() async throws {
        try await withStub({ _, _ in manifestReply() }) { server in
            let host = "registry.rebind.invalid:\(server.port)"
            let reference = try ImageReference(parsing: "\(host)/app:1")
            let allowed = RegistryClient(configuration: RegistryConfiguration(insecureHosts: [host], retry: quickRetries),
                                         resolve: { _ in [IPAddressBytes("127.0.0.1")!] })
            _ = try await allowed.fetchManifest(reference)
            XCTAssertEqual(server.requests.first?.headers.first(name: "Host"), host, "the name is kept as Host")
            XCTAssertEqual(allowed.connector.pinnedCount, 1)
            try await allowed.shutdown()

            // A name with one public and one loopback address is refused, whichever comes first.
            let mixed = RegistryClient(configuration: RegistryConfiguration(retry: quickRetries),
                                       resolve: { _ in [IPAddressBytes("93.184.216.34")!, IPAddressBytes("127.0.0.1")!] })
            let error = await expectRegistryError { try await mixed.fetchManifest(reference) }
            XCTAssertEqual(error?.description,
                           "registry https://\(host) refused: it resolves to 127.0.0.1, a loopback address, not allowed (name the host in registry.allow_private to allow it)")
            try await mixed.shutdown()
            XCTAssertEqual(server.acceptedConnections, 1, "only the allowed client connected")
        }
    }

    /// Error bodies are a foreign server's words: none of them reaches an error's description,
    /// only the status and the spec's error codes.
    func testForeignBodiesNeverReachTheDescription() async throws {
        let secret = "SECRET-BODY-TEXT"
        let json = Array(#"{"errors":[{"code":"DENIED","message":"\#(secret)","detail":"\#(secret)"},{"code":"\#(secret) see http://x"}]}"#.utf8)
        let replies: [(StubServer.Reply, String)] = [
            (.respond(status: 400, body: Array("<html>\(secret)</html>".utf8)), "registry answered 400 for http://"),
            (.respond(status: 400, headers: [("Content-Type", "application/json")], body: json), "(DENIED)"),
            (.respond(status: 403, headers: [("Content-Type", "application/json")], body: json), "access denied (DENIED)"),
            (.respond(status: 404, body: registryErrorJSON("NAME_UNKNOWN", secret)), "repository unknown"),
            (.respond(status: 500, body: Array(secret.utf8)), "registry answered 500"),
            (.respond(status: 302, headers: [("Location", "http://[\(secret)")]), "invalid location"),
            (.respond(status: 401, headers: [("WWW-Authenticate", "\(secret)x realm=\"\(secret)\"")]), "other than Basic or Bearer"),
        ]
        for (reply, expected) in replies {
            try await withStub({ _, _ in reply }) { registry in
                let error = await expectRegistryError {
                    try await withRegistryClient(RegistryConfiguration(insecureHosts: [registry.host], retry: .none)) {
                        try await $0.fetchManifest(try self.reference(registry))
                    }
                }
                let description = error?.description ?? ""
                XCTAssertTrue(description.contains(expected), description)
                XCTAssertFalse(description.contains(secret), description)
            }
        }
    }
}
