import BerthModel
import Foundation
import GRDB
@testable import Store
import Synchronization
import XCTest

/// Per-container change events: what each commit reports, at once, and what it costs.
final class ObservationTests: XCTestCase {
    /// Everything the subscriber was told, one array per commit.
    final class Recorder: Sendable {
        let commits = Mutex<[[ContainerChange]]>([])
        func record(_ changes: [ContainerChange]) { commits.withLock { $0.append(changes) } }
        func take() -> [[ContainerChange]] { commits.withLock { commits in let taken = commits; commits = []; return taken } }
    }

    func testEachCommitReportsTheContainersItChangedBeforeTheWriteReturns() throws {
        let db = try BerthDatabase.inMemory()
        let recorder = Recorder()
        let observation = try db.observeContainerChanges { recorder.record($0) }

        let (created, _) = try db.createContainer(name: "web", owner: "alice", spec: try sampleSpec())
        var commits = recorder.take()
        XCTAssertEqual(commits.count, 1, "one event per commit, delivered before createContainer returned")
        XCTAssertEqual(commits.first?.map(\.containerID), [created.id])
        XCTAssertEqual(commits.first?.first?.container, created)
        XCTAssertEqual(commits.first?.first?.serving?.number, 1)

        // A change that touches only revision rows still names the container.
        try db.setImageDigest(containerID: created.id, revision: 1, digest: "sha256:" + String(repeating: "a", count: 64))
        commits = recorder.take()
        XCTAssertEqual(commits.map { $0.map(\.containerID) }, [[created.id]])
        XCTAssertNotNil(commits.first?.first?.serving?.imageDigest)

        _ = try db.addRevision(containerID: created.id, spec: try sampleSpec(image: "registry.test/app:2"))
        try db.promote(containerID: created.id, revision: 2)
        commits = recorder.take()
        XCTAssertEqual(commits.count, 2)
        XCTAssertEqual(commits.last?.first?.serving?.number, 2)
        XCTAssertEqual(commits.last?.first?.serving?.spec.image, "registry.test/app:2")

        // Refused and empty writes report nothing.
        XCTAssertThrowsError(try db.createContainer(name: "web", owner: "bob", spec: try sampleSpec()))
        try db.releaseGPUs(containerID: created.id, revision: nil)
        XCTAssertEqual(recorder.take().count, 0)

        try db.deleteContainer(id: created.id)
        commits = recorder.take()
        XCTAssertEqual(commits.count, 1)
        XCTAssertEqual(commits.first, [ContainerChange(containerID: created.id, container: nil, serving: nil)])

        observation.cancel()
        _ = try db.createContainer(name: "after", owner: "alice", spec: try sampleSpec())
        XCTAssertEqual(recorder.take().count, 0, "a cancelled observation hears nothing")
        XCTAssertEqual(db.containerChanges.subscriberCount, 0)
    }

    /// SQLite hands the largest rowid out again after it is deleted: the deletion must still
    /// name the old container, and the new row the new one.
    func testADeleteAndACreateReusingItsRowidInOneTransactionReportBoth() throws {
        let db = try BerthDatabase.inMemory()
        let (old, _) = try db.createContainer(name: "old", owner: "alice", spec: try sampleSpec())
        let recorder = Recorder()
        try db.observeContainerChanges { recorder.record($0) }
        let spec = try sampleSpec()
        let created = try db.change { db in
            _ = try StoredContainer.deleteOne(db, key: old.id)
            return try BerthDatabase.insertContainer(db, name: "old", owner: "bob", spec: spec, keepWarm: false,
                                                     policy: .unlimited, now: Date()).0
        }
        let commits = recorder.take()
        XCTAssertEqual(commits.count, 1)
        XCTAssertEqual(commits.first?.first, ContainerChange(containerID: old.id, container: nil, serving: nil))
        XCTAssertEqual(commits.first?.last?.container, created)
        XCTAssertEqual(commits.first?.count, 2)
    }

    func testIncludingExistingDeliversEveryContainerOnceFirst() throws {
        let db = try BerthDatabase.inMemory()
        var ids: [String] = []
        for index in 0..<3 {
            ids.append(try db.createContainer(name: "c\(index)", owner: "alice", spec: try sampleSpec()).0.id)
        }
        let recorder = Recorder()
        try db.observeContainerChanges(includingExisting: true) { recorder.record($0) }
        let commits = recorder.take()
        XCTAssertEqual(commits.count, 1)
        XCTAssertEqual(commits.first?.map(\.containerID), ids)
        XCTAssertEqual(commits.first?.compactMap(\.serving).count, 3)
    }

    /// A commit costs point reads of the containers it changed, never a scan of the table.
    func testAChangeReadsOnlyTheChangedContainer() throws {
        let db = try BerthDatabase.inMemory()
        for index in 0..<50 { _ = try db.createContainer(name: "c\(index)", owner: "alice", spec: try sampleSpec()) }
        let statements = Mutex<[String]>([])
        try db.writer.writeWithoutTransaction { connection in
            connection.trace { event in
                if case .statement(let statement) = event { statements.withLock { $0.append(statement.sql) } }
            }
        }
        try db.observeContainerChanges { _ in }
        statements.withLock { $0 = [] }
        let (created, _) = try db.createContainer(name: "new", owner: "alice", spec: try sampleSpec())
        try db.setStatus(containerID: created.id, phase: .running, message: nil)
        try db.deleteContainer(id: created.id)
        let traced = statements.withLock { $0 }
        let reads = traced.filter { $0.uppercased().hasPrefix("SELECT") }
        XCTAssertFalse(reads.isEmpty)
        for sql in reads {
            XCTAssertTrue(sql.uppercased().contains("WHERE") || sql.contains("LIMIT 1"), "a read without a key: \(sql)")
        }
    }

    func testNothingGrowsOverAThousandCreateDeleteCycles() throws {
        let db = try BerthDatabase.inMemory()
        let recorder = Recorder()
        try db.observeContainerChanges { recorder.record($0) }
        for cycle in 0..<1000 {
            let (container, _) = try db.createContainer(name: "cycle-\(cycle % 7)", owner: "alice", spec: try sampleSpec())
            try db.deleteContainer(id: container.id)
            _ = recorder.take()
        }
        XCTAssertEqual(db.containerChanges.knownRowCount, 0)
        XCTAssertEqual(db.containerChanges.subscriberCount, 1)
    }
}
