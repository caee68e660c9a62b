import Foundation
import NIOCore
import OCI
import RegistryClient
import TestSupport
import XCTest

/// Against the real registries scripts/test.sh starts: plain, Basic-auth and token-auth.
final class RegistryIntegrationTests: XCTestCase {
    private var env: TestEnvironment!

    override func setUpWithError() throws {
        env = try TestEnvironment.current()
    }

    private func configuration(credentials: [String: RegistryCredentials] = [:],
                               mirrors: [String: [String]] = [:]) -> RegistryConfiguration {
        // The token registry's realm is another loopback port, allowed as a private token server.
        RegistryConfiguration(insecureHosts: [env.registry, env.basicAuthRegistry, env.tokenAuthRegistry],
                              mirrors: mirrors, credentials: credentials, retry: quickRetries,
                              allowPrivateHosts: [env.tokenServer])
    }

    private var goodCredentials: RegistryCredentials {
        RegistryCredentials(username: env.username, password: env.password)
    }

    private func uniqueRepository() -> String {
        "berth/rc-\(UUID().uuidString.lowercased().prefix(12))"
    }

    private func push(_ layers: [TestLayer], to registry: String? = nil, repository: String? = nil,
                      credentials: (user: String, password: String)? = nil) async throws -> (PushedImage, ImageReference) {
        let registry = registry ?? env.registry
        let repository = repository ?? uniqueRepository()
        let pushed = try await TestRegistry.push(TestImage(layers: layers), to: registry, repository: repository,
                                                 tag: "1", credentials: credentials)
        return (pushed, try ImageReference(parsing: pushed.reference))
    }

    func testManifestByTagAndByDigest() async throws {
        let (pushed, reference) = try await push([.busybox(), .files(["/a.txt": "a"])])
        try await withRegistryClient(configuration()) { client in
            let byTag = try await client.fetchManifest(reference)
            XCTAssertEqual(byTag.descriptor.digest, pushed.digest)
            XCTAssertEqual(byTag.descriptor.mediaType, MediaType.ociManifest)
            XCTAssertEqual(byTag.descriptor.size, Int64(byTag.data.count))
            let manifest = try Manifest.decode(byTag.data, mediaType: byTag.descriptor.mediaType)
            XCTAssertEqual(manifest.config, pushed.config)
            XCTAssertEqual(manifest.layers, pushed.layers)

            let byDigest = try await client.fetchManifest(try ImageReference(parsing: pushed.digestReference))
            XCTAssertEqual(byDigest.data, byTag.data)
            let byDescriptor = try await client.fetchManifest(pushed.manifests[0], in: reference)
            XCTAssertEqual(byDescriptor.descriptor.digest, pushed.digest)
        }
    }

    func testIndexToTheManifestForAPlatform() async throws {
        let arm64 = Platform(os: "linux", architecture: "arm64", variant: "v8")
        let repository = uniqueRepository()
        let pushed = try await TestRegistry.pushIndex(
            [TestImage(layers: [.busybox()], platform: Platform(os: "linux", architecture: "amd64")),
             TestImage(layers: [.files(["/arm": "1"])], platform: arm64)],
            to: env.registry, repository: repository, tag: "multi")
        let reference = try ImageReference(parsing: pushed.reference)
        try await withRegistryClient(configuration()) { client in
            let top = try await client.fetchManifest(reference)
            XCTAssertEqual(top.descriptor.digest, pushed.digest)
            XCTAssertEqual(top.descriptor.mediaType, MediaType.ociIndex)
            let child = try Index.decode(top.data).manifest(for: arm64)
            XCTAssertEqual(child.digest, pushed.images[1].manifest.digest)
            let fetched = try await client.fetchManifest(child, in: reference)
            let manifest = try Manifest.decode(fetched.data, mediaType: fetched.descriptor.mediaType)
            XCTAssertEqual(manifest.layers, pushed.images[1].layers)
        }
    }

    func testStreamLayerAndFetchConfig() async throws {
        let (pushed, reference) = try await push([.busybox(), .random(bytes: 300_000, seed: UInt64.random(in: 1...1_000_000))])
        try await withRegistryClient(configuration()) { client in
            for layer in pushed.layers {
                var verifier = DigestVerifier()
                var chunks = 0
                try await client.streamBlob(layer, in: reference) { chunk in
                    verifier.update(Array(chunk.readableBytesView))
                    chunks += 1
                }
                XCTAssertEqual(verifier.count, layer.size)
                XCTAssertEqual(verifier.finalize(), layer.digest)
                XCTAssertGreaterThan(chunks, 0)
            }
            let config = try ImageConfig.decode(try await client.fetchBlob(pushed.config, in: reference))
            XCTAssertEqual(config.rootfs.diff_ids, pushed.diffIDs)
        }
    }

    func testResumeFromAnOffset() async throws {
        let (pushed, reference) = try await push([.random(bytes: 200_000, seed: UInt64.random(in: 1...1_000_000))])
        let layer = pushed.layers[0]
        try await withRegistryClient(configuration()) { client in
            var whole: [UInt8] = []
            try await streamed(client, layer, in: reference, into: &whole)
            let offset = layer.size / 2
            var rest: [UInt8] = []
            try await streamed(client, layer, in: reference, from: offset, into: &rest)
            XCTAssertEqual(rest, Array(whole[Int(offset)...]))
            var nothing: [UInt8] = []
            try await streamed(client, layer, in: reference, from: layer.size, into: &nothing)
            XCTAssertEqual(nothing, [])
        }
    }

    func testMissingTagAndRepository() async throws {
        let (_, reference) = try await push([.files(["/m": "m"])])
        try await withRegistryClient(configuration()) { client in
            let tag = ImageReference(registry: reference.registry, repository: reference.repository, tag: "nope")
            let missing = await expectRegistryError { try await client.fetchManifest(tag) }
            XCTAssertEqual(missing, .manifestUnknown(tag.description))

            let repository = ImageReference(registry: reference.registry, repository: "berth/does-not-exist", tag: "1")
            let unknown = await expectRegistryError { try await client.fetchManifest(repository) }
            switch unknown {
            case .manifestUnknown(repository.description)?, .repositoryUnknown(repository.description)?: break
            default: XCTFail("unexpected \(String(describing: unknown))")
            }
        }
    }

    func testBasicAuthRegistry() async throws {
        let (pushed, reference) = try await push([.files(["/b": "b"])], to: env.basicAuthRegistry, credentials: env.credentials)
        let anonymous = await expectRegistryError {
            try await withRegistryClient(configuration()) { try await $0.fetchManifest(reference) }
        }
        guard case .unauthorized(env.basicAuthRegistry, _)? = anonymous else { return XCTFail("unexpected \(String(describing: anonymous))") }

        let wrong = configuration(credentials: [env.basicAuthRegistry: RegistryCredentials(username: env.username, password: "wrong")])
        let rejected = await expectRegistryError { try await withRegistryClient(wrong) { try await $0.fetchManifest(reference) } }
        guard case .unauthorized? = rejected else { return XCTFail("unexpected \(String(describing: rejected))") }

        try await withRegistryClient(configuration(credentials: [env.basicAuthRegistry: goodCredentials])) { client in
            let manifest = try await client.fetchManifest(reference)
            XCTAssertEqual(manifest.descriptor.digest, pushed.digest)
            _ = try await client.fetchBlob(pushed.config, in: reference)
        }
    }

    func testTokenRegistryReusesItsToken() async throws {
        let (pushed, reference) = try await push([.files(["/t": "t"])], to: env.tokenAuthRegistry, credentials: env.credentials)
        let before = try await env.tokenRequestCount()
        try await withRegistryClient(configuration(credentials: [env.tokenAuthRegistry: goodCredentials])) { client in
            let manifest = try await client.fetchManifest(reference)
            XCTAssertEqual(manifest.descriptor.digest, pushed.digest)
            let again = try await client.fetchManifest(try ImageReference(parsing: pushed.digestReference))
            XCTAssertEqual(again.data, manifest.data)
            _ = try await client.fetchBlob(pushed.config, in: reference)
            let count = await client.tokenRequestCount()
            XCTAssertEqual(count, 1)
        }
        let after = try await env.tokenRequestCount()
        XCTAssertEqual(after - before, 1)
    }

    /// The real token registry's realm is on another loopback port: without allow_private for
    /// it, the token request is refused, and the fake token server issues nothing.
    func testTokenServerOnAnotherLoopbackPortNeedsAllowPrivate() async throws {
        let (_, reference) = try await push([.files(["/p": "p"])], to: env.tokenAuthRegistry, credentials: env.credentials)
        let before = try await env.tokenRequestCount()
        let configuration = RegistryConfiguration(insecureHosts: [env.registry, env.tokenAuthRegistry],
                                                  credentials: [env.tokenAuthRegistry: goodCredentials], retry: quickRetries)
        let error = await expectRegistryError { try await withRegistryClient(configuration) { try await $0.fetchManifest(reference) } }
        XCTAssertEqual(error, .egressRefused(target: "token realm http://\(env.tokenServer)",
                                             reason: "loopback address not allowed (name the host in registry.allow_private to allow it)"))
        let after = try await env.tokenRequestCount()
        XCTAssertEqual(after, before)
    }

    func testTokenRegistryWithoutOrWithWrongCredentials() async throws {
        let (_, reference) = try await push([.files(["/w": "w"])], to: env.tokenAuthRegistry, credentials: env.credentials)
        let wrong = configuration(credentials: [env.tokenAuthRegistry: RegistryCredentials(username: env.username, password: "wrong")])
        let rejected = await expectRegistryError { try await withRegistryClient(wrong) { try await $0.fetchManifest(reference) } }
        guard case .unauthorized(env.tokenAuthRegistry, let detail)? = rejected else { return XCTFail("unexpected \(String(describing: rejected))") }
        XCTAssertTrue(detail.contains(env.username), detail)

        let anonymous = await expectRegistryError { try await withRegistryClient(configuration()) { try await $0.fetchManifest(reference) } }
        guard case .unauthorized? = anonymous else { return XCTFail("unexpected \(String(describing: anonymous))") }
    }

    func testCorruptedBlobIsADigestMismatch() async throws {
        let (pushed, reference) = try await push([.random(bytes: 50_000, seed: UInt64.random(in: 1...1_000_000))])
        let layer = pushed.layers[0]
        let path = TestRegistry.blobPath(registryRoot: env.registryRoot, digest: layer.digest)
        let original = try Data(contentsOf: URL(fileURLWithPath: path))
        XCTAssertEqual(Int64(original.count), layer.size)
        let garbage = Data(pseudoRandomBytes(original.count, seed: 99))
        try garbage.write(to: URL(fileURLWithPath: path))

        try await withRegistryClient(configuration()) { client in
            var received: [UInt8] = []
            let error = await expectRegistryError { try await streamed(client, layer, in: reference, into: &received) }
            XCTAssertEqual(error, .digestMismatch(expected: layer.digest, actual: Digest.sha256(of: garbage)))
            XCTAssertEqual(received.count, garbage.count, "every chunk is handed over before the mismatch is thrown")
        }
    }

    func testUnreachableRegistry() async throws {
        let port = try await StubServer.closedPort()
        let host = "127.0.0.1:\(port)"
        let configuration = RegistryConfiguration(insecureHosts: [host], retry: quickRetries)
        let error = await expectRegistryError {
            try await withRegistryClient(configuration) { try await $0.fetchManifest(try ImageReference(parsing: "\(host)/berth/x:1")) }
        }
        XCTAssertEqual(error, .unreachable(endpoint: "http://\(host)", underlying: "connection refused"))
    }

    func testMirrorServesAnotherRegistrysName() async throws {
        let repository = uniqueRepository()
        let (pushed, _) = try await push([.files(["/mirror": "m"])], repository: repository)
        let reference = try ImageReference(parsing: "example.invalid/\(repository):1")
        try await withRegistryClient(configuration(mirrors: ["example.invalid": ["http://\(env.registry)"]])) { client in
            let manifest = try await client.fetchManifest(reference)
            XCTAssertEqual(manifest.descriptor.digest, pushed.digest)
            let config = try await client.fetchBlob(pushed.config, in: reference)
            XCTAssertEqual(Digest.sha256(of: config), pushed.config.digest)
        }
        let alone = await expectRegistryError {
            try await withRegistryClient(self.configuration()) { try await $0.fetchManifest(reference) }
        }
        guard case .unreachable? = alone else { return XCTFail("without the mirror: \(String(describing: alone))") }
    }

    func testBrokenFirstMirrorFallsThroughToTheSecond() async throws {
        let repository = uniqueRepository()
        let (pushed, _) = try await push([.files(["/second": "2"])], repository: repository)
        let closed = try await StubServer.closedPort()
        let mirrors = ["example.invalid": ["http://127.0.0.1:\(closed)", "http://\(env.registry)"]]
        try await withRegistryClient(configuration(mirrors: mirrors)) { client in
            let reference = try ImageReference(parsing: "example.invalid/\(repository):1")
            let manifest = try await client.fetchManifest(reference)
            XCTAssertEqual(manifest.descriptor.digest, pushed.digest)
            var layer: [UInt8] = []
            try await streamed(client, pushed.layers[0], in: reference, into: &layer)
            XCTAssertEqual(Int64(layer.count), pushed.layers[0].size)
        }
    }
}
