@testable import ContainerdClient
import Foundation
import OCI
import TestSupport
import XCTest

final class ContainerdClientTests: XCTestCase {
    func testVersionAndNamespaces() async throws {
        let env = try TestEnvironment.current()
        try await withContainerdClient(socketPath: env.containerdSocket, namespace: "berth-t-\(UUID().uuidString.prefix(8).lowercased())") { client in
            let version = try await client.version()
            XCTAssertTrue(version.version.contains("1.") || version.version.contains("2."), version.version)
            try await client.ensureNamespace()
            try await client.ensureNamespace() // already there: not an error
        }
    }

    func testGRPCStatusesAreTyped() async throws {
        let env = try TestEnvironment.current()
        try await withContainerdClient(socketPath: env.containerdSocket, namespace: "berth-t-\(UUID().uuidString.prefix(8).lowercased())") { client in
            try await client.ensureNamespace()
            let missing = Digest.sha256(of: Array(UUID().uuidString.utf8))
            let info = try await client.contentInfo(missing)
            XCTAssertNil(info)
            do {
                try await client.deleteImage(named: "example.com/none:1")
                XCTFail("deleting a missing image succeeded")
            } catch let error as ContainerdError {
                XCTAssertEqual(error.code, .notFound)
                XCTAssertEqual(error.operation, "Images.Delete")
            }
            let lease = try await client.createLease(id: "berth-test-\(UUID().uuidString)")
            do {
                _ = try await client.createLease(id: lease)
                XCTFail("a second lease with the same id was created")
            } catch let error as ContainerdError {
                XCTAssertEqual(error.code, .alreadyExists)
            }
            try await client.deleteLease(lease)
            let leases = try await client.listLeases()
            XCTAssertFalse(leases.contains(lease))
        }
    }

    func testContentWriteResumesFromTheStoredOffsetAndChecksTheDigest() async throws {
        let env = try TestEnvironment.current()
        try await withContainerdClient(socketPath: env.containerdSocket, namespace: "berth-t-\(UUID().uuidString.prefix(8).lowercased())") { client in
            try await client.ensureNamespace()
            let blob = Data((0..<(3 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) })
            let descriptor = Descriptor(mediaType: "application/octet-stream", digest: Digest.sha256(of: blob), size: Int64(blob.count))
            let ref = "test-\(UUID().uuidString)"
            struct Interrupted: Error {}

            try await client.withLease { leased in
                // First attempt: 1 MiB stored, then the "network" breaks.
                do {
                    _ = try await leased.writeContent(ref: ref, descriptor: descriptor) { resumeAt, write in
                        XCTAssertEqual(resumeAt, 0)
                        try await write(blob.prefix(1 << 20))
                        throw Interrupted()
                    }
                    XCTFail("the interrupted write committed")
                } catch is Interrupted {}
                let status = try await leased.contentWriteStatus(ref: ref)
                XCTAssertEqual(status?.offset, 1 << 20)

                // Second attempt resumes where the first stopped.
                let result = try await leased.writeContent(ref: ref, descriptor: descriptor, labels: ["berth.test": "yes"]) { resumeAt, write in
                    XCTAssertEqual(resumeAt, 1 << 20)
                    try await write(blob[Int(resumeAt)...])
                }
                XCTAssertEqual(result, .committed)
                let info = try await leased.contentInfo(descriptor.digest)
                XCTAssertEqual(info?.size, Int64(blob.count))
                XCTAssertEqual(info?.labels["berth.test"], "yes")
                let readBack = try await leased.readContent(descriptor.digest)
                XCTAssertEqual(readBack, blob)

                let again = try await leased.writeContent(ref: "other-\(ref)", descriptor: descriptor) { _, _ in
                    XCTFail("nothing should be produced for a blob the store has")
                }
                XCTAssertEqual(again, .alreadyExists)

                // Bytes that do not hash to the descriptor are refused at commit.
                let liar = Descriptor(mediaType: "application/octet-stream",
                                      digest: Digest.sha256(of: Array("something else".utf8)), size: 5)
                do {
                    _ = try await leased.writeContent(ref: "liar-\(ref)", descriptor: liar) { _, write in
                        try await write(Data("hello".utf8))
                    }
                    XCTFail("a blob with the wrong digest was committed")
                } catch let error as ContainerdError {
                    XCTAssertEqual(error.code, .failedPrecondition, "\(error)")
                }
                let abandoned = try await leased.contentWriteStatus(ref: "liar-\(ref)")
                XCTAssertNil(abandoned, "a failed commit's ingest is aborted")
                let stored = try await leased.contentInfo(liar.digest)
                XCTAssertNil(stored)
                try await leased.deleteContent(descriptor.digest)
            }
        }
    }

    func testTheNextCallAfterAContainerdRestartSucceeds() async throws {
        let env = try TestEnvironment.current()
        let containerd = try ContainerdProcess(directory: try env.makeTemporaryDirectory("restart"))
        try await containerd.start()
        do {
            try await withContainerdClient(socketPath: containerd.socket, namespace: "berth-restart") { client in
                try await client.ensureNamespace()
                let before = try await client.version()
                let firstPid = containerd.pid
                try await containerd.restart()
                XCTAssertNotEqual(containerd.pid, firstPid)
                // Same client, same connection object: it reconnects by itself.
                let after = try await client.version()
                XCTAssertEqual(before, after)
                let lease = try await client.createLease()
                try await client.deleteLease(lease)
            }
            try await containerd.stop()
            containerd.cleanup()
        } catch {
            try? await containerd.stop()
            containerd.cleanup()
            throw error
        }
    }

    func testCallsFailAsUnavailableWhenNothingListens() async throws {
        let env = try TestEnvironment.current()
        let socket = try env.makeTemporaryDirectory("nobody") + "/none.sock"
        try await withContainerdClient(socketPath: socket, namespace: "x") { client in
            do {
                _ = try await client.version(timeout: .milliseconds(300))
                XCTFail("a call to a missing socket succeeded")
            } catch let error as ContainerdError {
                XCTAssertTrue([.unavailable, .deadlineExceeded].contains(error.code), "\(error)")
            }
        }
    }
}
