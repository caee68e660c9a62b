import BerthModel
import Foundation
import Store
import XCTest

/// A status worked out before a promotion or a new revision must not undo the newer one.
final class StaleStatusTests: XCTestCase {
    func testAStatusAsOfOlderRevisionsIsNotWritten() throws {
        let db = try BerthDatabase.inMemory()
        let (container, _) = try db.createContainer(name: "s", owner: "o", spec: try sampleSpec())
        try db.promote(containerID: container.id, revision: 1)
        _ = try db.addRevision(containerID: container.id, spec: try sampleSpec(image: "docker.io/library/s:2"))
        // Read at (1, 2); then revision 3 arrives and is promoted, with its own status.
        _ = try db.addRevision(containerID: container.id, spec: try sampleSpec(image: "docker.io/library/s:3"))
        try db.promote(containerID: container.id, revision: 3)
        try db.setStatus(containerID: container.id, phase: .running, message: nil)

        try db.setStatus(containerID: container.id, phase: .running, message: "revision 2 failed; revision 1 keeps serving",
                         asOf: (serving: 1, latest: 2))
        XCTAssertNil(try db.container(id: container.id)?.statusMessage, "the late report is dropped")

        try db.setStatus(containerID: container.id, phase: .failed, message: "exited with code 1", asOf: (serving: 3, latest: 3))
        let current = try XCTUnwrap(try db.container(id: container.id))
        XCTAssertEqual(current.phase, .failed, "a report as of the current revisions is written")
        XCTAssertEqual(current.statusMessage, "exited with code 1")
    }

    /// The reader that polls for the new revision must not find it carrying the message of a
    /// rollout that failed before it.
    func testAPromotionClearsTheEarlierFailureInTheSameWrite() throws {
        let db = try BerthDatabase.inMemory()
        let (container, _) = try db.createContainer(name: "s", owner: "o", spec: try sampleSpec())
        try db.promote(containerID: container.id, revision: 1)
        _ = try db.addRevision(containerID: container.id, spec: try sampleSpec(image: "docker.io/library/s:2"))
        try db.failRevision(containerID: container.id, revision: 2, message: "pull failed")
        try db.setStatus(containerID: container.id, phase: .running, message: "revision 2 failed: pull failed; revision 1 keeps serving")
        _ = try db.addRevision(containerID: container.id, spec: try sampleSpec(image: "docker.io/library/s:3"))

        try db.promote(containerID: container.id, revision: 3)
        let current = try XCTUnwrap(try db.container(id: container.id))
        XCTAssertEqual(current.revision, 3)
        XCTAssertEqual(current.phase, .running)
        XCTAssertNil(current.statusMessage)
    }
}
