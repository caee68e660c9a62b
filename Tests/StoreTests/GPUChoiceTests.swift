import BerthModel
import Foundation
import Store
import XCTest

/// GPUs chosen inside the write that records a revision: all or nothing, handed over from the
/// serving revision when the node cannot hold both, given back when a rollout fails, freed
/// when a revision retires.
final class GPUChoiceTests: XCTestCase {
    struct NotEnough: Error {}

    /// The first `count` of gpu0…gpu3 not taken.
    static func chooser(_ count: Int) -> GPUChooser {
        { taken in
            let free = (0..<4).map { "gpu\($0)" }.filter { !taken.contains($0) }
            guard free.count >= count else { throw NotEnough() }
            return Array(free.prefix(count))
        }
    }

    func gpuSpec(_ count: Int, model: String? = "A100") throws -> RevisionSpec {
        var spec = try sampleSpec()
        spec.gpu = count
        spec.gpuModel = model
        return spec
    }

    func testCreateWritesNothingWhenTheChooserRefuses() throws {
        let db = try BerthDatabase.inMemory()
        let (a, revision) = try db.createContainer(name: "a", owner: "o", spec: try gpuSpec(3), choosingGPUs: Self.chooser(3))
        XCTAssertEqual(try db.gpuDevices(containerID: a.id, revision: 1), ["gpu0", "gpu1", "gpu2"])
        XCTAssertEqual(try db.revision(containerID: a.id, number: 1)?.spec.gpuModel, "A100", "the model is stored")
        XCTAssertEqual(revision.spec.gpu, 3)
        XCTAssertThrowsError(try db.createContainer(name: "b", owner: "o", spec: try gpuSpec(2), choosingGPUs: Self.chooser(2))) {
            XCTAssertTrue($0 is NotEnough)
        }
        XCTAssertNil(try db.container(named: "b"), "no container without its GPUs")
        XCTAssertEqual(try db.gpuAllocations().count, 3)
    }

    func testAnUpdateThatDoesNotFitTakesTheServingRevisionsGPUs() throws {
        let db = try BerthDatabase.inMemory()
        let (a, _) = try db.createContainer(name: "a", owner: "o", spec: try gpuSpec(2), choosingGPUs: Self.chooser(2))
        try db.promote(containerID: a.id, revision: 1)
        let (b, _) = try db.createContainer(name: "b", owner: "o", spec: try gpuSpec(1), choosingGPUs: Self.chooser(1))

        // One device free, two asked: revision 2 takes revision 1's pair, which must stop first.
        let second = try db.addRevision(containerID: a.id, spec: try gpuSpec(2), choosingGPUs: Self.chooser(2))
        XCTAssertEqual(try db.gpuDevices(containerID: a.id, revision: 2), ["gpu0", "gpu1"])
        XCTAssertEqual(try db.gpuDevices(containerID: a.id, revision: 1), [])
        XCTAssertTrue(try db.needsRecreate(containerID: a.id, revision: second.number))

        // It fails: the devices go back to revision 1, which no longer needs to make room.
        try db.failRevision(containerID: a.id, revision: 2, message: "crashed")
        XCTAssertEqual(try db.gpuDevices(containerID: a.id, revision: 1), ["gpu0", "gpu1"])
        XCTAssertEqual(try db.gpuDevices(containerID: a.id, revision: 2), [])

        // Three asked while only one is free and the serving revision holds two: refused, nothing written.
        XCTAssertThrowsError(try db.addRevision(containerID: a.id, spec: try gpuSpec(4), choosingGPUs: Self.chooser(4)))
        XCTAssertEqual(try db.container(id: a.id)?.latestRevision, 2)

        // A revision that fits beside the serving one starts beside it; the old one keeps its
        // GPUs after the promotion, until the reconciler has removed its task and releases them.
        try db.releaseGPUs(containerID: b.id, revision: nil)
        let third = try db.addRevision(containerID: a.id, spec: try gpuSpec(2), choosingGPUs: Self.chooser(2))
        XCTAssertEqual(try db.gpuDevices(containerID: a.id, revision: third.number), ["gpu2", "gpu3"])
        XCTAssertFalse(try db.needsRecreate(containerID: a.id, revision: third.number))
        try db.promote(containerID: a.id, revision: third.number)
        XCTAssertEqual(try db.gpuAllocations().map(\.deviceID), ["gpu0", "gpu1", "gpu2", "gpu3"],
                       "the retired revision may still run: its GPUs stay taken")
        try db.releaseGPUs(containerID: a.id, revision: 1)
        XCTAssertEqual(try db.gpuAllocations().map(\.deviceID), ["gpu2", "gpu3"], "released once its task is gone")

        try db.markDeleting(containerID: a.id)
        try db.deleteContainer(id: a.id)
        XCTAssertEqual(try db.gpuAllocations(), [])
    }
}
