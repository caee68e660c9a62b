import BerthModel
import Foundation
import Store
import XCTest

final class ContainerTests: XCTestCase {
    func testCreateThenRead() throws {
        let db = try BerthDatabase.inMemory()
        let spec = try sampleSpec()
        let (container, revision) = try db.createContainer(name: "hello-world", owner: "alice", spec: spec, now: sampleDate)

        XCTAssertNotNil(UUID(uuidString: container.id))
        XCTAssertEqual(container.id, container.id.lowercased())
        XCTAssertEqual(container.name, "hello-world")
        XCTAssertEqual(container.owner, "alice")
        XCTAssertEqual(container.revision, 1)
        XCTAssertEqual(container.latestRevision, 1)
        XCTAssertEqual(container.phase, .pending)
        XCTAssertNil(container.statusMessage)
        XCTAssertFalse(container.keepWarm)
        XCTAssertEqual(container.createdAt, sampleDate)
        XCTAssertEqual(container.updatedAt, sampleDate)
        XCTAssertEqual(revision, StoredRevision(containerID: container.id, number: 1, spec: spec, phase: .pending, createdAt: sampleDate))

        XCTAssertEqual(try db.container(id: container.id), container)
        XCTAssertEqual(try db.container(named: "hello-world"), container)
        XCTAssertEqual(try db.revision(containerID: container.id, number: 1), revision)
        XCTAssertEqual(try db.revisions(containerID: container.id), [revision])
        XCTAssertNil(try db.container(id: UUID().uuidString.lowercased()))
        XCTAssertNil(try db.container(id: "not-a-uuid"))
        XCTAssertNil(try db.container(named: "nope"))
        XCTAssertNil(try db.revision(containerID: container.id, number: 2))
        XCTAssertEqual(try db.containerCount(), 1)
    }

    func testDatesWithSubMillisecondsReadBackAsReturned() throws {
        let db = try BerthDatabase.inMemory()
        let now = Date(timeIntervalSince1970: 1_750_000_000.123456789)
        let (container, revision) = try db.createContainer(name: "a", owner: "o", spec: try sampleSpec(), now: now)
        XCTAssertEqual(container.createdAt.timeIntervalSince1970, now.timeIntervalSince1970, accuracy: 0.001)
        XCTAssertEqual(try db.container(id: container.id), container)
        XCTAssertEqual(try db.revisions(containerID: container.id), [revision])
    }

    func testTakenNameWritesNothing() throws {
        let db = try BerthDatabase.inMemory()
        let (first, _) = try db.createContainer(name: "web", owner: "alice", spec: try sampleSpec())
        XCTAssertThrowsStoreError(try db.createContainer(name: "web", owner: "bob", spec: try sampleSpec()), .nameTaken("web"))
        XCTAssertEqual(try db.containerCount(), 1)
        XCTAssertEqual(try db.containers(owner: "bob"), [])
        XCTAssertEqual(try db.containers(owner: nil), [first])
        XCTAssertEqual(try db.revisions(containerID: first.id).count, 1)
    }

    func testContainersByOwnerOldestFirst() throws {
        let db = try BerthDatabase.inMemory()
        let c = try db.createContainer(name: "c", owner: "alice", spec: try sampleSpec(), now: sampleDate.addingTimeInterval(2)).0
        let a = try db.createContainer(name: "a", owner: "alice", spec: try sampleSpec(), now: sampleDate).0
        let b = try db.createContainer(name: "b", owner: "bob", spec: try sampleSpec(), now: sampleDate.addingTimeInterval(1)).0
        // Same instant: insertion order.
        let d = try db.createContainer(name: "d", owner: "alice", spec: try sampleSpec(), now: sampleDate.addingTimeInterval(2)).0

        XCTAssertEqual(try db.containers(owner: "alice").map(\.name), ["a", "c", "d"])
        XCTAssertEqual(try db.containers(owner: "bob"), [b])
        XCTAssertEqual(try db.containers(owner: "carol"), [])
        XCTAssertEqual(try db.containers(owner: nil), [a, b, c, d])
        XCTAssertEqual(try db.containerCount(), 4)
    }

    func testKeepWarmSetAtCreateAndByRevision() throws {
        let db = try BerthDatabase.inMemory()
        let (container, _) = try db.createContainer(name: "warm", owner: "o", spec: try sampleSpec(), keepWarm: true)
        XCTAssertTrue(container.keepWarm)
        _ = try db.addRevision(containerID: container.id, spec: try sampleSpec())
        XCTAssertEqual(try db.container(id: container.id)?.keepWarm, true)
        _ = try db.addRevision(containerID: container.id, spec: try sampleSpec(), keepWarm: false)
        XCTAssertEqual(try db.container(id: container.id)?.keepWarm, false)
    }

    func testStatusWritesOnlyChanges() throws {
        let db = try BerthDatabase.inMemory()
        let (container, _) = try db.createContainer(name: "s", owner: "o", spec: try sampleSpec(), now: sampleDate)
        let later = sampleDate.addingTimeInterval(5)

        try db.setStatus(containerID: container.id, phase: .pending, message: nil, now: later)
        XCTAssertEqual(try db.container(id: container.id), container, "an unchanged status is not written")

        try db.setStatus(containerID: container.id, phase: .pulling, message: "pulling docker.io/nginxdemos/hello:0.4", now: later)
        var read = try XCTUnwrap(try db.container(id: container.id))
        XCTAssertEqual(read.phase, .pulling)
        XCTAssertEqual(read.statusMessage, "pulling docker.io/nginxdemos/hello:0.4")
        XCTAssertEqual(read.updatedAt, later)

        try db.setStatus(containerID: container.id, phase: .pulling, message: nil, now: later.addingTimeInterval(1))
        read = try XCTUnwrap(try db.container(id: container.id))
        XCTAssertNil(read.statusMessage, "a changed message alone is written")
        XCTAssertEqual(read.updatedAt, later.addingTimeInterval(1))

        try db.setStatus(containerID: container.id, phase: .running, message: nil, now: later.addingTimeInterval(2))
        XCTAssertEqual(try db.container(id: container.id)?.phase, .running)
        XCTAssertThrowsStoreError(try db.setStatus(containerID: "missing", phase: .running, message: nil), .notFound("container missing"))
    }

    func testDeletingIsStickyAndKeepsTheContainerUntilDeleted() throws {
        let db = try BerthDatabase.inMemory()
        let (container, _) = try db.createContainer(name: "d", owner: "o", spec: try sampleSpec())
        try db.markDeleting(containerID: container.id)
        try db.setStatus(containerID: container.id, phase: .running, message: "late report")
        let read = try XCTUnwrap(try db.container(id: container.id))
        XCTAssertEqual(read.phase, .deleting)
        XCTAssertNil(read.statusMessage)
        XCTAssertThrowsStoreError(try db.addRevision(containerID: container.id, spec: try sampleSpec()), .deleting(container.id))
        XCTAssertEqual(try db.desiredState().map(\.container.phase), [.deleting])
        XCTAssertThrowsStoreError(try db.markDeleting(containerID: "missing"), .notFound("container missing"))

        try db.deleteContainer(id: container.id)
        XCTAssertNil(try db.container(id: container.id))
        XCTAssertThrowsStoreError(try db.deleteContainer(id: container.id), .notFound("container \(container.id)"))
    }

    func testDeleteCascadesToRevisionsAndGPUs() throws {
        let db = try BerthDatabase.inMemory()
        let (gone, _) = try db.createContainer(name: "gone", owner: "o", spec: try sampleSpec())
        let (kept, _) = try db.createContainer(name: "kept", owner: "o", spec: try sampleSpec())
        _ = try db.addRevision(containerID: gone.id, spec: try sampleSpec())
        try db.allocateGPUs(["gpu0", "gpu1"], containerID: gone.id, revision: 2)
        try db.allocateGPUs(["gpu2"], containerID: kept.id, revision: 1)

        try db.deleteContainer(id: gone.id)
        XCTAssertNil(try db.container(id: gone.id))
        XCTAssertEqual(try db.revisions(containerID: gone.id), [])
        XCTAssertNil(try db.revision(containerID: gone.id, number: 1))
        XCTAssertEqual(try db.gpuAllocations(), [GPUAllocation(deviceID: "gpu2", containerID: kept.id, revision: 1)])
        XCTAssertEqual(try db.containers(owner: nil), [kept])
        XCTAssertEqual(try db.revisions(containerID: kept.id).count, 1)
    }

    func testContainersWithServingRevision() throws {
        let db = try BerthDatabase.inMemory()
        let (a, a1) = try db.createContainer(name: "a", owner: "alice", spec: try sampleSpec(image: "docker.io/library/a:1"), now: sampleDate)
        let (b, b1) = try db.createContainer(name: "b", owner: "bob", spec: try sampleSpec(), now: sampleDate.addingTimeInterval(1))
        let a2 = try db.addRevision(containerID: a.id, spec: try sampleSpec(image: "docker.io/library/a:2"))

        var listed = try db.containersWithServingRevision(owner: nil)
        XCTAssertEqual(listed.map(\.0.id), [a.id, b.id])
        XCTAssertEqual(listed.map(\.1), [a1, b1], "a pending rollout does not change what is served")

        try db.promote(containerID: a.id, revision: 2)
        listed = try db.containersWithServingRevision(owner: "alice")
        XCTAssertEqual(listed.count, 1)
        XCTAssertEqual(listed[0].0, try db.container(id: a.id))
        XCTAssertEqual(listed[0].1.spec, a2.spec)
        XCTAssertEqual(listed[0].1.phase, .active)
        XCTAssertEqual(try db.containersWithServingRevision(owner: "carol").count, 0)
    }

    func testChangeCountGrowsWithCommittedChangesOnly() throws {
        let db = try BerthDatabase.inMemory()
        let start = db.changeCount
        let (container, _) = try db.createContainer(name: "n", owner: "o", spec: try sampleSpec())
        XCTAssertEqual(db.changeCount, start + 1)
        _ = try db.containersWithServingRevision(owner: nil)
        XCTAssertThrowsError(try db.createContainer(name: "n", owner: "o", spec: try sampleSpec()))
        try db.setStatus(containerID: container.id, phase: .pending, message: nil)
        XCTAssertEqual(db.changeCount, start + 1, "reads, refusals and unchanged statuses change nothing")
        let requested = db.requestedChangeCount
        try db.setStatus(containerID: container.id, phase: .running, message: nil)
        XCTAssertEqual(db.changeCount, start + 2)
        XCTAssertEqual(db.requestedChangeCount, requested, "a recorded status is an observation, not a request")
        try db.markDeleting(containerID: container.id)
        XCTAssertEqual(db.requestedChangeCount, requested + 1)
        XCTAssertEqual(db.changeCount, start + 3)
    }
}
