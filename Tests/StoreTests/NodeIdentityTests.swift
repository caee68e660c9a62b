import Foundation
import GRDB
@testable import Store
import XCTest

/// The node identity row (migration "v3 node identity") and the rule that tells a new, empty
/// database from one in use.
final class NodeIdentityTests: XCTestCase {
    func testANewDatabaseHasARandomIdentityAndHasNeverRecordedAContainer() throws {
        let db = try BerthDatabase.inMemory()
        let record = try db.nodeIdentityRecord()
        XCTAssertNotNil(UUID(uuidString: record.identity), record.identity)
        XCTAssertEqual(record.identity, record.identity.lowercased(), "label values are lowercase")
        XCTAssertEqual(try db.nodeIdentity, record.identity)
        XCTAssertFalse(record.hasRecordedContainers)
        XCTAssertFalse(record.adoptsUnlabelled)
        XCTAssertLessThan(abs(record.createdAt.timeIntervalSinceNow), 60)
        XCTAssertNotEqual(try BerthDatabase.inMemory().nodeIdentity, record.identity, "each database its own")
    }

    func testTheFirstContainerMarksTheDatabaseInUseForGood() throws {
        let folder = try makeTemporaryFolder(self)
        let path = folder.appendingPathComponent("berth.sqlite").path
        var db: BerthDatabase? = try BerthDatabase(path: path)
        let identity = try XCTUnwrap(db).nodeIdentity
        let (container, _) = try XCTUnwrap(db).createContainer(name: "first", owner: "alice", spec: try sampleSpec(), now: sampleDate)
        XCTAssertEqual(try XCTUnwrap(db).nodeIdentityRecord().firstContainerAt, sampleDate)
        _ = try XCTUnwrap(db).createContainer(name: "second", owner: "alice", spec: try sampleSpec(),
                                              now: sampleDate.addingTimeInterval(5))
        try XCTUnwrap(db).deleteContainer(id: container.id)
        try XCTUnwrap(db).close()
        db = nil

        let reopened = try BerthDatabase(path: path)
        let record = try reopened.nodeIdentityRecord()
        XCTAssertEqual(record.identity, identity, "the identity survives a restart")
        XCTAssertEqual(record.firstContainerAt, sampleDate, "the first container's time, kept after deletes")
        XCTAssertTrue(record.hasRecordedContainers)
    }

    func testADatabaseFromBeforeIdentitiesWithContainersAdoptsUnlabelledObjects() throws {
        let record = try upgradedRecord(containers: 2)
        XCTAssertTrue(record.adoptsUnlabelled)
        XCTAssertTrue(record.hasRecordedContainers)
        XCTAssertEqual(record.firstContainerAt, sampleDate, "the oldest container's creation")
        XCTAssertNotNil(UUID(uuidString: record.identity))
    }

    func testADatabaseFromBeforeIdentitiesWithoutContainersIsNew() throws {
        let record = try upgradedRecord(containers: 0)
        XCTAssertFalse(record.adoptsUnlabelled)
        XCTAssertFalse(record.hasRecordedContainers)
    }

    /// A database made by a Berth before v3 (migrated up to v2 only, with `containers` rows),
    /// then opened by this one.
    private func upgradedRecord(containers: Int) throws -> NodeIdentityRecord {
        let path = try makeTemporaryFolder(self).appendingPathComponent("berth.sqlite").path
        do {
            let old = try DatabaseQueue(path: path)
            try Migrations.migrator.migrate(old, upTo: "v2 revision gpuModel")
            try old.write { db in
                for i in 0..<containers {
                    try db.execute(sql: """
                        INSERT INTO container (id, name, owner, revision, latestRevision, phase, createdAt, updatedAt)
                        VALUES (?, ?, 'alice', 1, 1, 'running', ?, ?)
                        """, arguments: [UUID().uuidString.lowercased(), "c\(i)",
                                         StoredDate.milliseconds(sampleDate) + Int64(i), StoredDate.milliseconds(sampleDate)])
                }
            }
            try old.close()
        }
        let db = try BerthDatabase(path: path)
        XCTAssertTrue(try db.settings().migrations.contains("v3 node identity"))
        return try db.nodeIdentityRecord()
    }
}
