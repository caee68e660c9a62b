import BerthModel
import Foundation
import Store
import XCTest

final class RevisionTests: XCTestCase {
    func testRevisionsAreNumberedAndListedNewestFirst() throws {
        let db = try BerthDatabase.inMemory()
        let (container, first) = try db.createContainer(name: "r", owner: "o", spec: try sampleSpec(), now: sampleDate)
        let later = sampleDate.addingTimeInterval(60)
        let second = try db.addRevision(containerID: container.id, spec: try sampleSpec(image: "docker.io/library/r:2"), now: later)
        let third = try db.addRevision(containerID: container.id, spec: try sampleSpec(image: "docker.io/library/r:3"), now: later)

        XCTAssertEqual([first.number, second.number, third.number], [1, 2, 3])
        XCTAssertEqual(second.phase, .pending)
        XCTAssertEqual(second.createdAt, later)
        XCTAssertEqual(try db.revisions(containerID: container.id), [third, second, first])

        let read = try XCTUnwrap(try db.container(id: container.id))
        XCTAssertEqual(read.revision, 1, "the first revision serves until another is promoted")
        XCTAssertEqual(read.latestRevision, 3)
        XCTAssertEqual(read.updatedAt, later)
        XCTAssertEqual(read.createdAt, sampleDate)

        // Numbering is per container.
        let (other, otherFirst) = try db.createContainer(name: "other", owner: "o", spec: try sampleSpec())
        XCTAssertEqual(otherFirst.number, 1)
        XCTAssertEqual(try db.addRevision(containerID: other.id, spec: try sampleSpec()).number, 2)
        XCTAssertThrowsStoreError(try db.addRevision(containerID: "missing", spec: try sampleSpec()), .notFound("container missing"))
    }

    func testPromoteRetiresThePreviousRevision() throws {
        let db = try BerthDatabase.inMemory()
        let (container, _) = try db.createContainer(name: "p", owner: "o", spec: try sampleSpec())
        try db.promote(containerID: container.id, revision: 1)
        XCTAssertEqual(try db.revision(containerID: container.id, number: 1)?.phase, .active)

        _ = try db.addRevision(containerID: container.id, spec: try sampleSpec(image: "docker.io/library/p:2"))
        let promotedAt = sampleDate.addingTimeInterval(100)
        try db.promote(containerID: container.id, revision: 2, now: promotedAt)

        XCTAssertEqual(try db.revisions(containerID: container.id).map(\.phase), [.active, .retired])
        let read = try XCTUnwrap(try db.container(id: container.id))
        XCTAssertEqual(read.revision, 2)
        XCTAssertEqual(read.latestRevision, 2)
        XCTAssertEqual(read.updatedAt, promotedAt)

        XCTAssertThrowsStoreError(try db.promote(containerID: container.id, revision: 9), .notFound("revision 9 of container \(container.id)"))
        XCTAssertThrowsStoreError(try db.promote(containerID: "missing", revision: 1), .notFound("container missing"))
    }

    func testPromoteRetiresSupersededPendingRevisionsButNotNewerOnes() throws {
        let db = try BerthDatabase.inMemory()
        let (container, _) = try db.createContainer(name: "p", owner: "o", spec: try sampleSpec())
        try db.promote(containerID: container.id, revision: 1)
        for _ in 2...4 { _ = try db.addRevision(containerID: container.id, spec: try sampleSpec()) }
        try db.promote(containerID: container.id, revision: 3)
        XCTAssertEqual(try db.revisions(containerID: container.id).map(\.phase), [.pending, .active, .retired, .retired])
    }

    func testFailedRolloutKeepsServingTheCurrentRevision() throws {
        let db = try BerthDatabase.inMemory()
        let (container, _) = try db.createContainer(name: "f", owner: "o", spec: try sampleSpec())
        try db.promote(containerID: container.id, revision: 1)
        try db.setStatus(containerID: container.id, phase: .running, message: nil)
        _ = try db.addRevision(containerID: container.id, spec: try sampleSpec(image: "docker.io/library/f:broken"))

        try db.failRevision(containerID: container.id, revision: 2, message: "manifest unknown")
        let failed = try XCTUnwrap(try db.revision(containerID: container.id, number: 2))
        XCTAssertEqual(failed.phase, .failed)
        XCTAssertEqual(failed.message, "manifest unknown")
        XCTAssertEqual(try db.revision(containerID: container.id, number: 1)?.phase, .active)
        let read = try XCTUnwrap(try db.container(id: container.id))
        XCTAssertEqual(read.revision, 1)
        XCTAssertEqual(read.latestRevision, 2)
        XCTAssertEqual(read.phase, .running)
        XCTAssertEqual(try db.containersWithServingRevision(owner: nil).map(\.1.number), [1])

        // A later revision still gets the next number, and can still be promoted.
        XCTAssertEqual(try db.addRevision(containerID: container.id, spec: try sampleSpec()).number, 3)
        try db.promote(containerID: container.id, revision: 3)
        XCTAssertEqual(try db.revisions(containerID: container.id).map(\.phase), [.active, .failed, .retired])
        XCTAssertThrowsStoreError(try db.failRevision(containerID: container.id, revision: 7, message: "x"),
                                  .notFound("revision 7 of container \(container.id)"))
    }

    func testFailedFirstRevisionFailsTheContainer() throws {
        let db = try BerthDatabase.inMemory()
        let (container, _) = try db.createContainer(name: "f", owner: "o", spec: try sampleSpec())
        try db.failRevision(containerID: container.id, revision: 1, message: "exited with status 1")
        let read = try XCTUnwrap(try db.container(id: container.id))
        XCTAssertEqual(read.phase, .failed)
        XCTAssertEqual(read.statusMessage, "exited with status 1")
        XCTAssertEqual(read.revision, 1)
    }

    func testImageDigest() throws {
        let db = try BerthDatabase.inMemory()
        let (container, _) = try db.createContainer(name: "d", owner: "o", spec: try sampleSpec())
        let digest = "sha256:" + String(repeating: "ab", count: 32)
        try db.setImageDigest(containerID: container.id, revision: 1, digest: digest)
        XCTAssertEqual(try db.revision(containerID: container.id, number: 1)?.imageDigest, digest)
        XCTAssertThrowsStoreError(try db.setImageDigest(containerID: container.id, revision: 2, digest: digest),
                                  .notFound("revision 2 of container \(container.id)"))
        XCTAssertThrowsStoreError(try db.setImageDigest(containerID: "missing", revision: 1, digest: digest),
                                  .notFound("container missing"))
    }

    func testDesiredState() throws {
        let db = try BerthDatabase.inMemory()
        let (steady, _) = try db.createContainer(name: "steady", owner: "o", spec: try sampleSpec(), now: sampleDate)
        let (rolling, _) = try db.createContainer(name: "rolling", owner: "o", spec: try sampleSpec(), now: sampleDate.addingTimeInterval(1))
        let (failed, _) = try db.createContainer(name: "failed", owner: "o", spec: try sampleSpec(), now: sampleDate.addingTimeInterval(2))
        let (doomed, _) = try db.createContainer(name: "doomed", owner: "o", spec: try sampleSpec(), now: sampleDate.addingTimeInterval(3))
        let (fresh, _) = try db.createContainer(name: "fresh", owner: "o", spec: try sampleSpec(), now: sampleDate.addingTimeInterval(4))
        for container in [steady, rolling, failed, doomed] { try db.promote(containerID: container.id, revision: 1) }
        _ = try db.addRevision(containerID: steady.id, spec: try sampleSpec())
        try db.promote(containerID: steady.id, revision: 2)
        _ = try db.addRevision(containerID: rolling.id, spec: try sampleSpec())
        _ = try db.addRevision(containerID: failed.id, spec: try sampleSpec())
        try db.failRevision(containerID: failed.id, revision: 2, message: "boom")
        try db.markDeleting(containerID: doomed.id)

        let state = try db.desiredState()
        // A container being deleted has given its name up (it takes its id).
        XCTAssertEqual(state.map(\.container.name), ["steady", "rolling", "failed", doomed.id, "fresh"])
        XCTAssertEqual(state.map { $0.revisions.map(\.number) }, [[2], [1, 2], [1], [1], [1]])
        XCTAssertEqual(state.map { $0.revisions.map(\.phase) }, [[.active], [.active, .pending], [.active], [.active], [.pending]])
        XCTAssertEqual(state[3].container.phase, .deleting)
        XCTAssertEqual(state[4].container.id, fresh.id)
    }
}
