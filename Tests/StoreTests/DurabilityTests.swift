import Foundation
import Store
import XCTest

final class DurabilityTests: XCTestCase {
    func testFileSettings() throws {
        let folder = try makeTemporaryFolder(self).appendingPathComponent("data/nested")
        let db = try BerthDatabase(dataFolder: folder.path)
        let path = folder.appendingPathComponent("berth.sqlite").path
        XCTAssertEqual(db.path, path)
        XCTAssertTrue(FileManager.default.fileExists(atPath: path))

        let settings = try db.settings()
        XCTAssertEqual(settings.journalMode, "wal")
        XCTAssertEqual(settings.synchronous, 2, "FULL: each commit is fsynced before it returns")
        XCTAssertTrue(settings.foreignKeys)
        XCTAssertEqual(Array(settings.migrations.prefix(3)),
                       ["v1 containers, revisions, GPU allocations", "v2 revision gpuModel", "v3 node identity"])

        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        XCTAssertEqual((attributes[.posixPermissions] as? NSNumber)?.intValue, 0o600, "env may hold secrets")
        let folderAttributes = try FileManager.default.attributesOfItem(atPath: folder.path)
        XCTAssertEqual((folderAttributes[.posixPermissions] as? NSNumber)?.intValue, 0o700)
    }

    func testInMemorySettings() throws {
        let settings = try BerthDatabase.inMemory().settings()
        XCTAssertTrue(settings.foreignKeys)
        XCTAssertGreaterThanOrEqual(settings.migrations.count, 3)
        XCTAssertNil(try BerthDatabase.inMemory().path)
    }

    func testEverythingSurvivesACrash() throws {
        let folder = try makeTemporaryFolder(self)
        let path = folder.appendingPathComponent("berth.sqlite").path
        var first: BerthDatabase? = try BerthDatabase(path: path)
        let written = try Self.writeSomeState(try XCTUnwrap(first))
        let expected = try XCTUnwrap(first).desiredState()

        // What a killed process leaves behind: the main file and the WAL, never checkpointed.
        let walSize = try XCTUnwrap(FileManager.default.attributesOfItem(atPath: path + "-wal")[.size] as? NSNumber)
        XCTAssertGreaterThan(walSize.intValue, 0, "the changes are in the WAL, not yet in the main file")
        let crashed = try makeTemporaryFolder(self)
        for suffix in ["", "-wal"] {
            try FileManager.default.copyItem(atPath: path + suffix,
                                             toPath: crashed.appendingPathComponent("berth.sqlite").path + suffix)
        }
        let recovered = try BerthDatabase(dataFolder: crashed.path)
        try Self.assertSameState(recovered, expected, written)

        // A second database on the live file, the first still open, then the first dropped unclosed.
        let second = try BerthDatabase(path: path)
        try Self.assertSameState(second, expected, written)
        first = nil
        let third = try BerthDatabase(path: path)
        try Self.assertSameState(third, expected, written)
        XCTAssertNotNil(second.path)
    }

    func testReopenAfterCloseKeepsEverything() throws {
        let path = try makeTemporaryFolder(self).appendingPathComponent("berth.sqlite").path
        let db = try BerthDatabase(path: path)
        let written = try Self.writeSomeState(db)
        let expected = try db.desiredState()
        try db.close()
        XCTAssertThrowsError(try db.containerCount(), "a closed database refuses work")
        try Self.assertSameState(try BerthDatabase(path: path), expected, written)
    }

    func testNewerSchemaIsRefused() throws {
        let path = try makeTemporaryFolder(self).appendingPathComponent("berth.sqlite").path
        try BerthDatabase(path: path).close()
        try sqlite3(path, "INSERT INTO grdb_migrations VALUES ('v99 from the future')")
        XCTAssertThrowsStoreError(try BerthDatabase(path: path), .newerSchema(["v99 from the future"]))
    }

    struct Written {
        var ids: [String]
        var gpus: [GPUAllocation]
    }

    static func writeSomeState(_ db: BerthDatabase) throws -> Written {
        let (a, _) = try db.createContainer(name: "alpha", owner: "alice", spec: try sampleSpec(env: ["K": "välue"]))
        let (b, _) = try db.createContainer(name: "beta", owner: "bob", spec: try sampleSpec(), keepWarm: true)
        let (c, _) = try db.createContainer(name: "gamma", owner: "bob", spec: try sampleSpec())
        try db.promote(containerID: a.id, revision: 1)
        try db.setImageDigest(containerID: a.id, revision: 1, digest: "sha256:" + String(repeating: "1", count: 64))
        try db.setStatus(containerID: a.id, phase: .running, message: nil)
        _ = try db.addRevision(containerID: a.id, spec: try sampleSpec(image: "docker.io/library/alpha:2"))
        try db.allocateGPUs(["gpu0", "gpu1"], containerID: a.id, revision: 2)
        try db.failRevision(containerID: b.id, revision: 1, message: "pull failed")
        try db.markDeleting(containerID: c.id)
        return Written(ids: [a.id, b.id, c.id], gpus: try db.gpuAllocations())
    }

    static func assertSameState(_ db: BerthDatabase, _ expected: [(container: StoredContainer, revisions: [StoredRevision])],
                                _ written: Written, file: StaticString = #filePath, line: UInt = #line) throws {
        let state = try db.desiredState()
        XCTAssertEqual(state.map(\.container), expected.map(\.container), file: file, line: line)
        XCTAssertEqual(state.map(\.revisions), expected.map(\.revisions), file: file, line: line)
        XCTAssertEqual(state.map(\.container.id), written.ids, file: file, line: line)
        XCTAssertEqual(state.map { $0.revisions.map(\.number) }, [[1, 2], [1], [1]], file: file, line: line)
        XCTAssertEqual(try db.gpuAllocations(), written.gpus, file: file, line: line)
        XCTAssertEqual(written.gpus.count, 2, file: file, line: line)
        XCTAssertEqual(try db.revisions(containerID: written.ids[0]).count, 2, file: file, line: line)
    }
}
