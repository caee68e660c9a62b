import ContainerdClient
import Foundation
import ImagePull
import OCI
import RegistryClient
import TestSupport
import XCTest

final class ImagePullTests: XCTestCase {
    func testMultiLayerImageIsStoredUnpackedAndRunsWithCtr() async throws {
        let f = try PullFixture()
        let pushed = try await TestRegistry.push(TestImage(layers: [
            .busybox(),
            .files(["/etc/berth/one.txt": "layer one\n"]),
            .files(["/etc/berth/two.txt": "layer two\n"]).compressed(.none),
            .files(["/etc/berth/three.txt": "layer three\n"]).compressed(.zstd),
        ], cmd: ["sh"]), to: f.env.registry, repository: "berth/multilayer", tag: "1")
        let reference = try ImageReference(parsing: pushed.reference)

        let (pulled, updates) = try await f.withPuller { puller, client in
            let updates = UpdateLog()
            let pulled = try await puller.pull(reference) { updates.append($0) }
            // The lease is gone and the records are where ctr looks for them.
            let leases = try await client.listLeases()
            XCTAssertEqual(leases, [])
            let record = try await client.image(named: reference.description)
            XCTAssertEqual(record?.target.digest, pushed.digest)
            let top = try await client.statSnapshot(pulled.chainID.description)
            XCTAssertEqual(top?.kind, .committed)
            return (pulled, updates)
        }
        XCTAssertEqual(pulled.digest, pushed.digest)
        XCTAssertEqual(pulled.chainID, ChainID.chain(pushed.diffIDs).last)
        // The busybox layer may already be in containerd's shared content store from another
        // test's namespace; every other layer is this test's own and must have been fetched.
        let total = pushed.layers.reduce(0) { $0 + $1.size }
        XCTAssertGreaterThanOrEqual(pulled.bytesDownloaded, total - pushed.layers[0].size)
        XCTAssertLessThanOrEqual(pulled.bytesDownloaded, total)
        let last = try XCTUnwrap(updates.last)
        XCTAssertEqual(last.layers.count, 4)
        XCTAssertTrue(last.layers.allSatisfy { $0.state == .unpacked && $0.done == $0.total }, "\(last.layers)")

        XCTAssertTrue(try f.ctr(["images", "ls", "-q"]).contains(reference.description))
        let output = try f.ctrRun(reference.description, ["cat", "/etc/berth/one.txt", "/etc/berth/two.txt", "/etc/berth/three.txt"])
        XCTAssertEqual(output, "layer one\nlayer two\nlayer three\n")

        // Garbage collection keeps everything the image references, snapshots included.
        try f.ctr(["content", "prune", "references"])
        try f.ctr(["images", "check"])
        XCTAssertEqual(try f.ctrRun(reference.description, ["cat", "/etc/berth/one.txt"]), "layer one\n")
        try f.removeEverything()
    }

    /// containerd shares a blob another namespace already has instead of writing it again; the
    /// second namespace's image must still hold its layers and snapshots once the pull's lease is
    /// gone and the garbage collector has run.
    func testAnImageSharedWithAnotherNamespaceSurvivesGarbageCollection() async throws {
        let first = try PullFixture()
        let second = try PullFixture()
        let pushed = try await TestRegistry.push(TestImage(layers: [.busybox(), .files(["/shared": "s\n"])]),
                                                 to: first.env.registry, repository: "berth/shared-ns", tag: "1")
        let reference = try ImageReference(parsing: pushed.reference)
        _ = try await first.withPuller { puller, _ in try await puller.pull(reference) }
        let pulled = try await second.withPuller { puller, _ in try await puller.pull(reference) }

        // A synchronous collection, as any delete with --sync causes.
        let lease = try second.ctr(["leases", "create"]).trimmingCharacters(in: .whitespacesAndNewlines)
        try second.ctr(["leases", "delete", "--sync", lease])

        try second.ctr(["images", "check"])
        XCTAssertTrue(try second.ctr(["snapshots", "ls"]).contains(pulled.chainID.description))
        XCTAssertEqual(try second.ctrRun(reference.description, ["cat", "/shared"]), "s\n")
        try first.removeEverything()
        try second.removeEverything()
    }

    func testRepeatedPullDownloadsNothing() async throws {
        let f = try PullFixture()
        let pushed = try await TestRegistry.push(TestImage(layers: [.busybox(), .random(bytes: 2 << 20, seed: .random(in: 1...UInt64.max))]),
                                                 to: f.env.registry, repository: "berth/repeat", tag: "1")
        let reference = try ImageReference(parsing: pushed.reference)
        try await f.withPuller { puller, _ in
            let first = try await puller.pull(reference)
            XCTAssertGreaterThan(first.bytesDownloaded, 2 << 20)
            let updates = UpdateLog()
            let second = try await puller.pull(reference) { updates.append($0) }
            XCTAssertEqual(second.bytesDownloaded, 0)
            XCTAssertEqual(second.chainID, first.chainID)
            XCTAssertEqual(updates.last?.layers.map(\.state), [.alreadyUnpacked, .alreadyUnpacked])
        }
        try f.removeEverything()
    }

    /// A pull of a reference this puller pulled before asks the registry, then only checks that
    /// containerd still has that image whole; anything missing, or a tag that moved, means a
    /// full pull again.
    func testARepeatedPullChecksWhatItPulledBefore() async throws {
        let f = try PullFixture()
        let first = try await TestRegistry.push(TestImage(layers: [.busybox(), .files(["/v": "1\n"])]),
                                                to: f.env.registry, repository: "berth/recheck", tag: "1")
        let reference = try ImageReference(parsing: first.reference)
        try await f.withPuller { puller, client in
            let pulled = try await puller.pull(reference)
            let record = try await client.image(named: reference.description)
            XCTAssertNotNil(record?.updatedAt)

            // Unchanged tag, image whole: the record is not written again.
            let again = try await puller.pull(reference)
            XCTAssertEqual(again.digest, pulled.digest)
            XCTAssertEqual(again.layers, pulled.layers)
            XCTAssertEqual(again.bytesDownloaded, 0)
            let recordAfter = try await client.image(named: reference.description)
            XCTAssertEqual(recordAfter?.updatedAt, record?.updatedAt)

            // The record gone: a full pull puts it back.
            try f.ctr(["images", "rm", "--sync", reference.description])
            let restored = try await puller.pull(reference)
            XCTAssertEqual(restored.digest, pulled.digest)
            let restoredRecord = try await client.image(named: reference.description)
            XCTAssertEqual(restoredRecord?.target.digest, pulled.digest)
            XCTAssertEqual(try f.ctrRun(reference.description, ["cat", "/v"]), "1\n")

            // The tag moved: the new image.
            _ = try await TestRegistry.push(TestImage(layers: [.busybox(), .files(["/v": "2\n"])]),
                                            to: f.env.registry, repository: "berth/recheck", tag: "1")
            let moved = try await puller.pull(reference)
            XCTAssertNotEqual(moved.digest, pulled.digest)
            let movedRecord = try await client.image(named: reference.description)
            XCTAssertEqual(movedRecord?.target.digest, moved.digest)
            XCTAssertEqual(try f.ctrRun(reference.description, ["cat", "/v"]), "2\n")
        }
        try f.removeEverything()
    }

    func testIndexPullsTheHostPlatformOnly() async throws {
        let f = try PullFixture()
        let other = Platform.host.architecture == "arm64"
            ? Platform(os: "linux", architecture: "amd64") : Platform(os: "linux", architecture: "arm64", variant: "v8")
        let pushed = try await TestRegistry.pushIndex([
            TestImage(layers: [.busybox(extraFiles: ["/platform": "host\n"])]),
            TestImage(layers: [.files(["/platform": "other\n"])], platform: other),
        ], to: f.env.registry, repository: "berth/multiarch", tag: "1")
        XCTAssertTrue(MediaType.isIndex(pushed.mediaType))
        let reference = try ImageReference(parsing: pushed.reference)
        let hostManifest = try XCTUnwrap(pushed.manifests.first { $0.platform.map(Platform.host.accepts) ?? false })
        let otherManifest = try XCTUnwrap(pushed.manifests.first { $0.platform?.normalized == other.normalized })

        let pulled = try await f.withPuller { puller, client in
            let pulled = try await puller.pull(reference)
            let hostStored = try await client.contentInfo(hostManifest.digest)
            XCTAssertNotNil(hostStored)
            let otherStored = try await client.contentInfo(otherManifest.digest)
            XCTAssertNil(otherStored, "the other platform's manifest is not fetched")
            return pulled
        }
        XCTAssertEqual(pulled.digest, pushed.digest)
        XCTAssertEqual(pulled.manifestDigest, hostManifest.digest)
        XCTAssertEqual(try f.ctrRun(reference.description, ["cat", "/platform"]), "host\n")
        try f.removeEverything()
    }

    func testConcurrentPullsOfOneReferenceShareOneTransfer() async throws {
        let f = try PullFixture()
        let pushed = try await TestRegistry.push(TestImage(layers: [.busybox(), .random(bytes: 8 << 20, seed: .random(in: 1...UInt64.max))]),
                                                 to: f.env.registry, repository: "berth/shared", tag: "1")
        let reference = try ImageReference(parsing: pushed.reference)
        try await f.withPuller { puller, _ in
            let a = UpdateLog()
            let b = UpdateLog()
            async let first = puller.pull(reference) { a.append($0) }
            async let second = puller.pull(reference) { b.append($0) }
            let (one, two) = try await (first, second)
            // Had the second caller run a pull of its own, it would have found every blob
            // present and reported 0 bytes downloaded.
            XCTAssertEqual(one, two)
            XCTAssertGreaterThanOrEqual(one.bytesDownloaded, pushed.layers[1].size)
            XCTAssertFalse(a.isEmpty)
            XCTAssertFalse(b.isEmpty)
            let stillPulling = await puller.isPulling(reference)
            XCTAssertFalse(stillPulling)
        }
        try f.removeEverything()
    }

    func testMissingTagAndUnknownRepository() async throws {
        let f = try PullFixture()
        _ = try await TestRegistry.push(TestImage(layers: [.files(["/x": "x"])]), to: f.env.registry, repository: "berth/tags", tag: "1")
        try await f.withPuller { puller, client in
            await assertThrows({ try await puller.pull(try ImageReference(parsing: "\(f.env.registry)/berth/tags:2")) }) {
                if case .manifestUnknown = $0 as? RegistryError { return true }
                return false
            }
            await assertThrows({ try await puller.pull(try ImageReference(parsing: "\(f.env.registry)/berth/nothing-here:1")) }) {
                switch $0 as? RegistryError {
                case .manifestUnknown, .repositoryUnknown: return true
                default: return false
                }
            }
            let images = try await client.listImages()
            XCTAssertEqual(images, [])
        }
    }

    func testBasicAuthRegistryNeedsCredentials() async throws {
        let f = try PullFixture()
        let pushed = try await TestRegistry.push(TestImage(layers: [.files(["/secret": "s\n"])]), to: f.env.basicAuthRegistry,
                                                 repository: "berth/private", tag: "1", credentials: f.env.credentials)
        let reference = try ImageReference(parsing: pushed.reference)
        try await f.withPuller { puller, _ in
            await assertThrows({ try await puller.pull(reference) }) {
                if case .unauthorized = $0 as? RegistryError { return true }
                return false
            }
        }
        let credentials = [f.env.basicAuthRegistry: RegistryCredentials(username: f.env.username, password: f.env.password)]
        let pulled = try await f.withPuller(configuration: f.configuration(credentials: credentials)) { puller, _ in
            try await puller.pull(reference)
        }
        XCTAssertEqual(pulled.digest, pushed.digest)
        try f.removeEverything()
    }

    func testTokenAuthRegistry() async throws {
        let f = try PullFixture()
        let pushed = try await TestRegistry.push(TestImage(layers: [.files(["/t": "t\n"]), .files(["/u": "u\n"])]), to: f.env.tokenAuthRegistry,
                                                 repository: "berth/token", tag: "1", credentials: f.env.credentials)
        let credentials = [f.env.tokenAuthRegistry: RegistryCredentials(username: f.env.username, password: f.env.password)]
        let before = try await f.env.tokenRequestCount()
        let pulled = try await f.withPuller(configuration: f.configuration(credentials: credentials)) { puller, _ in
            try await puller.pull(try ImageReference(parsing: pushed.reference))
        }
        XCTAssertEqual(pulled.digest, pushed.digest)
        let after = try await f.env.tokenRequestCount()
        XCTAssertEqual(after - before, 1, "one token serves every request of the pull")
        try f.removeEverything()
    }

    func testCorruptedBlobIsRejectedAndNothingIsRecorded() async throws {
        let f = try PullFixture()
        let pushed = try await TestRegistry.push(TestImage(layers: [.busybox(), .random(bytes: 1 << 20, seed: .random(in: 1...UInt64.max))]),
                                                 to: f.env.registry, repository: "berth/corrupt", tag: "1")
        let layer = pushed.layers[1]
        let path = TestRegistry.blobPath(registryRoot: f.env.registryRoot, digest: layer.digest)
        let original = try Data(contentsOf: URL(fileURLWithPath: path))
        var corrupted = original
        corrupted[corrupted.count / 2] ^= 0xff
        try corrupted.write(to: URL(fileURLWithPath: path))
        defer { try? original.write(to: URL(fileURLWithPath: path)) }

        let reference = try ImageReference(parsing: pushed.reference)
        try await f.withPuller { puller, client in
            await assertThrows({ try await puller.pull(reference) }) {
                if case .digestMismatch = $0 as? RegistryError { return true }
                return false
            }
            let record = try await client.image(named: reference.description)
            XCTAssertNil(record, "no image record for a failed pull")
            let stored = try await client.contentInfo(layer.digest)
            XCTAssertNil(stored, "the corrupted bytes never become content")
            let ingest = try await client.contentWriteStatus(ref: "berth-pull-\(layer.digest.encoded)")
            XCTAssertNil(ingest, "the corrupted ingest is aborted")

            try original.write(to: URL(fileURLWithPath: path))
            let pulled = try await puller.pull(reference)
            XCTAssertEqual(pulled.digest, pushed.digest)
        }
        try f.removeEverything()
    }

    func testPullsSurviveAContainerdRestartBetweenCalls() async throws {
        let f = try PullFixture()
        let containerd = try ContainerdProcess(directory: try f.env.makeTemporaryDirectory("pull-restart"))
        try await containerd.start()
        defer { containerd.cleanup() }
        let one = try await TestRegistry.push(TestImage(layers: [.busybox()]), to: f.env.registry, repository: "berth/restart-a", tag: "1")
        let two = try await TestRegistry.push(TestImage(layers: [.busybox(), .files(["/b": "b\n"])]), to: f.env.registry, repository: "berth/restart-b", tag: "1")
        do {
            try await f.withPuller(socket: containerd.socket) { puller, client in
                _ = try await puller.pull(try ImageReference(parsing: one.reference))
                try await containerd.restart()
                let pulled = try await puller.pull(try ImageReference(parsing: two.reference))
                XCTAssertEqual(pulled.digest, two.digest)
                let images = try await client.listImages()
                XCTAssertEqual(Set(images.map(\.name)), [one.reference, two.reference])
            }
            XCTAssertEqual(try f.ctrRun(two.reference, ["cat", "/b"], socket: containerd.socket), "b\n")
        } catch {
            try? await containerd.stop()
            throw error
        }
        try await containerd.stop()
    }
}

/// Collects progress snapshots from a pull's callback.
final class UpdateLog: @unchecked Sendable {
    private let lock = NSLock()
    private var updates: [PullProgress] = []

    func append(_ update: PullProgress) {
        lock.lock()
        updates.append(update)
        lock.unlock()
    }

    var last: PullProgress? {
        lock.lock()
        defer { lock.unlock() }
        return updates.last
    }

    var isEmpty: Bool { last == nil }
}
