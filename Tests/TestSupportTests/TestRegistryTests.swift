import Foundation
import OCI
import TestSupport
import XCTest

final class TestRegistryTests: XCTestCase {
    private func busyboxImage(platform: Platform = .host) -> TestImage {
        TestImage(layers: [.busybox(extraFiles: ["/etc/motd": "berth\n"])], platform: platform,
                  entrypoint: ["/bin/httpd", "-f", "-p", "80", "-h", "/www"], exposedPorts: ["80"])
    }

    private func assertServed(_ pushed: PushedImage, credentials: (user: String, password: String)? = nil,
                              file: StaticString = #filePath, line: UInt = #line) async throws {
        let raw = try await TestRegistry.rawManifest(pushed.reference, credentials: credentials)
        XCTAssertEqual(Digest.sha256(of: raw), pushed.digest, file: file, line: line)
        if MediaType.isManifest(pushed.mediaType) {
            let manifest = try Manifest.decode(raw, mediaType: pushed.mediaType)
            XCTAssertEqual(manifest.config, pushed.config, file: file, line: line)
            XCTAssertEqual(manifest.layers, pushed.layers, file: file, line: line)
        }
    }

    func testPushToPlainRegistry() async throws {
        let environment = try TestEnvironment.current()
        let pushed = try await TestRegistry.push(busyboxImage(), to: environment.registry,
                                                 repository: "testsupport/busybox", tag: "plain")
        XCTAssertEqual(pushed.reference, "\(environment.registry)/testsupport/busybox:plain")
        XCTAssertEqual(pushed.mediaType, MediaType.ociManifest)
        XCTAssertEqual(pushed.manifests.map(\.digest), [pushed.digest])
        XCTAssertEqual(pushed.digestReference, "\(environment.registry)/testsupport/busybox@\(pushed.digest)")
        XCTAssertEqual(pushed.layers.map(\.mediaType), [MediaType.ociLayerGzip])
        try await assertServed(pushed)

        let configBytes = try Data(runCommand("skopeo", ["inspect", "--config", "--raw", "--tls-verify=false",
                                                         "docker://\(pushed.reference)"]).utf8)
        XCTAssertEqual(Digest.sha256(of: configBytes), pushed.config.digest)
        let config = try ImageConfig.decode(configBytes)
        XCTAssertEqual(config.rootfs.diff_ids, pushed.diffIDs)
        XCTAssertEqual(config.config?.Entrypoint, ["/bin/httpd", "-f", "-p", "80", "-h", "/www"])
        XCTAssertEqual(config.config?.ExposedPorts, ["80/tcp": [:]])
        XCTAssertEqual(config.platform, Platform.host)

        let blob = TestRegistry.blobPath(registryRoot: environment.registryRoot, digest: pushed.layers[0].digest)
        let stored = try XCTUnwrap(FileManager.default.contents(atPath: blob))
        XCTAssertEqual(Digest.sha256(of: stored), pushed.layers[0].digest)
        let listing = try runCommand("sh", ["-c", "tar -tvzf \"$0\"", blob])
        XCTAssertTrue(listing.contains("-rwxr-xr-x 0/0"), listing)
        XCTAssertTrue(listing.contains("bin/sh -> busybox"), listing)
        XCTAssertTrue(listing.contains("drwxrwxrwt 0/0"), listing)
    }

    func testSameInputGivesSameDigests() async throws {
        let environment = try TestEnvironment.current()
        let first = try await TestRegistry.push(busyboxImage(), to: environment.registry,
                                                repository: "testsupport/determinism", tag: "one")
        let second = try await TestRegistry.push(busyboxImage(), to: environment.registry,
                                                 repository: "testsupport/determinism", tag: "two")
        XCTAssertEqual(first.digest, second.digest)
        XCTAssertEqual(first.diffIDs, second.diffIDs)
    }

    func testCompressionsAndRandomLayers() async throws {
        let environment = try TestEnvironment.current()
        let image = TestImage(layers: [
            .random(bytes: 3 * 1024 * 1024 + 17, seed: 7).compressed(.zstd),
            .random(bytes: 4096, path: "/data/other", seed: 8).compressed(.none),
            .files(["/etc/app.conf": "key=value\n"]),
            .random(bytes: 3 * 1024 * 1024 + 17, seed: 9).compressed(.zstd),
        ], cmd: ["/bin/true"])
        let pushed = try await TestRegistry.push(image, to: environment.registry,
                                                 repository: "testsupport/layers", tag: "mixed")
        XCTAssertEqual(pushed.layers.map(\.mediaType),
                       [MediaType.ociLayerZstd, MediaType.ociLayer, MediaType.ociLayerGzip, MediaType.ociLayerZstd])
        XCTAssertEqual(pushed.layers[1].digest, pushed.diffIDs[1], "an uncompressed layer's digest is its diff ID")
        XCTAssertNotEqual(pushed.diffIDs[0], pushed.diffIDs[3], "different seeds give different bytes")
        // Random bytes do not compress: the blob is about as large as the data.
        XCTAssertGreaterThan(pushed.layers[0].size, 3 * 1024 * 1024)
        try await assertServed(pushed)

        let blob = TestRegistry.blobPath(registryRoot: environment.registryRoot, digest: pushed.layers[0].digest)
        let uncompressed = try runCommand("sh", ["-c", "zstd -dc \"$0\" | sha256sum", blob])
        XCTAssertEqual(String(uncompressed.prefix(64)), pushed.diffIDs[0].encoded)

        let again = try await TestRegistry.push(TestImage(layers: [.random(bytes: 3 * 1024 * 1024 + 17, seed: 7).compressed(.zstd)]),
                                                to: environment.registry, repository: "testsupport/layers", tag: "again")
        XCTAssertEqual(again.diffIDs[0], pushed.diffIDs[0], "the same seed gives the same bytes")
    }

    func testPushToBasicAuthRegistry() async throws {
        let environment = try TestEnvironment.current()
        let pushed = try await TestRegistry.push(busyboxImage(), to: environment.basicAuthRegistry,
                                                 repository: "testsupport/basic", tag: "v1",
                                                 credentials: environment.credentials)
        try await assertServed(pushed, credentials: environment.credentials)
    }

    func testPushToBasicAuthRegistryWithoutCredentialsFails() async throws {
        let environment = try TestEnvironment.current()
        do {
            _ = try await TestRegistry.push(busyboxImage(), to: environment.basicAuthRegistry,
                                            repository: "testsupport/basic", tag: "anonymous")
            XCTFail("an anonymous push to the Basic-auth registry succeeded")
        } catch let error as CommandError {
            XCTAssertTrue(error.stderr.contains("unauthorized") || error.stderr.contains("authentication required"),
                          error.description)
        }
        do {
            _ = try await TestRegistry.push(busyboxImage(), to: environment.basicAuthRegistry,
                                            repository: "testsupport/basic", tag: "wrong",
                                            credentials: (environment.username, "wrong-password"))
            XCTFail("a push with a wrong password succeeded")
        } catch is CommandError {}
    }

    func testPushToTokenAuthRegistryIssuesTokens() async throws {
        let environment = try TestEnvironment.current()
        let before = try await environment.tokenRequestCount()
        let pushed = try await TestRegistry.push(busyboxImage(), to: environment.tokenAuthRegistry,
                                                 repository: "testsupport/token", tag: "v1",
                                                 credentials: environment.credentials)
        let afterPush = try await environment.tokenRequestCount()
        XCTAssertGreaterThan(afterPush, before)
        try await assertServed(pushed, credentials: environment.credentials)
        let afterInspect = try await environment.tokenRequestCount()
        XCTAssertGreaterThan(afterInspect, afterPush)
    }

    func testTokenServerRefusesWrongPassword() async throws {
        let environment = try TestEnvironment.current()
        let before = try await environment.tokenRequestCount()
        do {
            _ = try await TestRegistry.rawManifest("\(environment.tokenAuthRegistry)/testsupport/token:v1",
                                                   credentials: (environment.username, "wrong-password"))
            XCTFail("the token server issued a token for a wrong password")
        } catch is CommandError {}
        let after = try await environment.tokenRequestCount()
        XCTAssertEqual(after, before)
    }

    func testPushIndexListsEveryPlatform() async throws {
        let environment = try TestEnvironment.current()
        let amd64 = Platform(os: "linux", architecture: "amd64")
        let arm64 = Platform(os: "linux", architecture: "arm64", variant: "v8")
        for (registry, credentials) in [(environment.registry, nil), (environment.tokenAuthRegistry, environment.credentials)] {
            let pushed = try await TestRegistry.pushIndex([busyboxImage(platform: amd64), busyboxImage(platform: arm64)],
                                                          to: registry, repository: "testsupport/multi", tag: "v1",
                                                          credentials: credentials)
            XCTAssertEqual(pushed.mediaType, MediaType.ociIndex)
            try await assertServed(pushed, credentials: credentials)
            let index = try Index.decode(try await TestRegistry.rawManifest(pushed.reference, credentials: credentials))
            XCTAssertEqual(index.manifests.compactMap(\.platform), [amd64, arm64])
            XCTAssertEqual(index.manifests, pushed.manifests)
            XCTAssertEqual(try index.manifest(for: arm64).digest, pushed.images[1].manifest.digest)
            XCTAssertEqual(pushed.config, pushed.images[0].config)
            for child in pushed.images {
                let raw = try await TestRegistry.rawManifest("\(registry)/testsupport/multi@\(child.manifest.digest)",
                                                             credentials: credentials)
                XCTAssertEqual(Digest.sha256(of: raw), child.manifest.digest)
            }
        }
    }

    func testBlobPath() throws {
        let digest = try Digest("sha256:" + String(repeating: "ab", count: 32))
        XCTAssertEqual(TestRegistry.blobPath(registryRoot: "/r", digest: digest),
                       "/r/docker/registry/v2/blobs/sha256/ab/\(digest.encoded)/data")
    }
}
