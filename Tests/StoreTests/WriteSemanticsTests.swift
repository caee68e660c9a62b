import BerthModel
import Foundation
import GRDB
@testable import Store
import XCTest

/// Read-modify-write without lost updates, a full disk that writes nothing, a deletion that is
/// gone from every listing at once, and the idle record the traffic controller keeps.
final class WriteSemanticsTests: XCTestCase {
    func testARevisionDerivedFromAStaleReadIsRefusedAndNothingIsWritten() throws {
        let db = try BerthDatabase.inMemory()
        let (container, _) = try db.createContainer(name: "a", owner: "o", spec: try sampleSpec())
        _ = try db.addRevision(containerID: container.id, spec: try sampleSpec(image: "docker.io/library/a:2"), expectedLatest: 1)
        XCTAssertThrowsStoreError(
            try db.addRevision(containerID: container.id, spec: try sampleSpec(image: "docker.io/library/a:3"), expectedLatest: 1),
            .concurrentChange(container.id))
        XCTAssertEqual(try db.revisions(containerID: container.id).map(\.number), [2, 1])
        XCTAssertEqual(try db.container(id: container.id)?.latestRevision, 2)
    }

    func testAFullDiskIsDiskFullAndLeavesNothingHalfWritten() throws {
        let db = try BerthDatabase.inMemory()
        let (first, _) = try db.createContainer(name: "first", owner: "o", spec: try sampleSpec())
        // No page beyond what the database holds now: the next write that needs one fails.
        try db.writer.writeWithoutTransaction { db in
            let pages = try Int.fetchOne(db, sql: "PRAGMA page_count") ?? 0
            try db.execute(sql: "PRAGMA max_page_count = \(pages)")
        }
        let bigEnv = Dictionary(uniqueKeysWithValues: (0..<200).map { ("KEY_\($0)", String(repeating: "v", count: 200)) })
        var refused = false
        for n in 0..<50 {
            do {
                _ = try db.createContainer(name: "c\(n)", owner: "o", spec: try sampleSpec(env: bigEnv))
            } catch let error as StoreError {
                XCTAssertEqual(error, .diskFull)
                refused = true
                break
            }
        }
        XCTAssertTrue(refused, "the disk filled up")
        let names = try db.containers(owner: nil).map(\.name)
        for name in names {
            let container = try XCTUnwrap(db.container(named: name))
            XCTAssertFalse(try db.revisions(containerID: container.id).isEmpty, "no container without its revision")
        }
        XCTAssertEqual(try db.container(id: first.id)?.name, "first", "what was written before is intact")
    }

    func testADeletingContainerLeavesListingsAndFreesItsName() throws {
        let db = try BerthDatabase.inMemory()
        let (old, _) = try db.createContainer(name: "web", owner: "o", spec: try sampleSpec())
        try db.markDeleting(containerID: old.id)
        XCTAssertEqual(try db.containersWithServingRevision(owner: nil).count, 0)
        XCTAssertEqual(try db.containersWithServingRevision(owner: "o").count, 0)
        let (new, _) = try db.createContainer(name: "web", owner: "o", spec: try sampleSpec())
        XCTAssertEqual(try db.containersWithServingRevision(owner: nil).map(\.0.id), [new.id])
        XCTAssertEqual(try db.container(id: old.id)?.phase, .deleting, "the old record stays until its teardown is done")
        XCTAssertThrowsStoreError(try db.addRevision(containerID: old.id, spec: try sampleSpec()), .deleting(old.id))
        try db.deleteContainer(id: old.id)
        XCTAssertNil(try db.container(id: old.id))
    }

    func testIdleCountsForTheServingRevisionOnly() throws {
        let db = try BerthDatabase.inMemory()
        let (container, _) = try db.createContainer(name: "idle", owner: "o", spec: try sampleSpec())
        try db.promote(containerID: container.id, revision: 1)
        try db.markIdle(containerID: container.id, revision: 1)
        XCTAssertEqual(try db.idleRevisions(), [container.id: 1])
        XCTAssertTrue(try db.isIdle(containerID: container.id, revision: 1))
        _ = try db.addRevision(containerID: container.id, spec: try sampleSpec(image: "docker.io/library/idle:2"))
        try db.promote(containerID: container.id, revision: 2)
        XCTAssertEqual(try db.idleRevisions(), [:], "a rollout since serves another revision, which runs")
        try db.markIdle(containerID: container.id, revision: 2)
        try db.markAwake(containerID: container.id)
        XCTAssertFalse(try db.isIdle(containerID: container.id, revision: 2))
        try db.markIdle(containerID: container.id, revision: 2)
        try db.markDeleting(containerID: container.id)
        try db.deleteContainer(id: container.id)
        XCTAssertEqual(try db.idleRevisions(), [:], "gone with the container")
    }
}
