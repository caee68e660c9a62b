import Foundation
import Store
import XCTest

final class GPUAllocationTests: XCTestCase {
    func testAllocationIsAllOrNothing() throws {
        let db = try BerthDatabase.inMemory()
        let (a, _) = try db.createContainer(name: "a", owner: "o", spec: try sampleSpec())
        let (b, _) = try db.createContainer(name: "b", owner: "o", spec: try sampleSpec())

        try db.allocateGPUs(["gpu1", "gpu0"], containerID: a.id, revision: 1)
        XCTAssertEqual(try db.gpuAllocations(), [
            GPUAllocation(deviceID: "gpu0", containerID: a.id, revision: 1),
            GPUAllocation(deviceID: "gpu1", containerID: a.id, revision: 1),
        ])

        XCTAssertThrowsStoreError(try db.allocateGPUs(["gpu2", "gpu1", "gpu3", "gpu0"], containerID: b.id, revision: 1),
                                  .gpuTaken(["gpu0", "gpu1"]))
        XCTAssertEqual(try db.gpuAllocations().map(\.deviceID), ["gpu0", "gpu1"], "gpu2 and gpu3 were not allocated")

        // A newer revision of the same container does not share its devices either.
        _ = try db.addRevision(containerID: a.id, spec: try sampleSpec())
        XCTAssertThrowsStoreError(try db.allocateGPUs(["gpu1"], containerID: a.id, revision: 2), .gpuTaken(["gpu1"]))

        // The same revision asking again (a retry after a crash) keeps what it holds.
        try db.allocateGPUs(["gpu0", "gpu1", "gpu1", "gpu4"], containerID: a.id, revision: 1)
        try db.allocateGPUs(["gpu2", "gpu3"], containerID: b.id, revision: 1)
        XCTAssertEqual(try db.gpuAllocations().map(\.deviceID), ["gpu0", "gpu1", "gpu2", "gpu3", "gpu4"])

        XCTAssertThrowsStoreError(try db.allocateGPUs(["gpu9"], containerID: "missing", revision: 1), .notFound("container missing"))
        XCTAssertThrowsStoreError(try db.allocateGPUs(["gpu9"], containerID: a.id, revision: 5),
                                  .notFound("revision 5 of container \(a.id)"))
        try db.allocateGPUs([], containerID: a.id, revision: 1)
        XCTAssertEqual(try db.gpuAllocations().count, 5)
    }

    func testRelease() throws {
        let db = try BerthDatabase.inMemory()
        let (a, _) = try db.createContainer(name: "a", owner: "o", spec: try sampleSpec())
        let (b, _) = try db.createContainer(name: "b", owner: "o", spec: try sampleSpec())
        _ = try db.addRevision(containerID: a.id, spec: try sampleSpec())
        try db.allocateGPUs(["gpu0"], containerID: a.id, revision: 1)
        try db.allocateGPUs(["gpu1", "gpu2"], containerID: a.id, revision: 2)
        try db.allocateGPUs(["gpu3"], containerID: b.id, revision: 1)

        try db.releaseGPUs(containerID: a.id, revision: 1)
        XCTAssertEqual(try db.gpuAllocations().map(\.deviceID), ["gpu1", "gpu2", "gpu3"])
        try db.allocateGPUs(["gpu0"], containerID: b.id, revision: 1)

        try db.releaseGPUs(containerID: a.id, revision: nil)
        XCTAssertEqual(try db.gpuAllocations(), [
            GPUAllocation(deviceID: "gpu0", containerID: b.id, revision: 1),
            GPUAllocation(deviceID: "gpu3", containerID: b.id, revision: 1),
        ])
        try db.releaseGPUs(containerID: "missing", revision: nil)
        try db.releaseGPUs(containerID: a.id, revision: 7)
    }

    func testDeletingContainerTakesNoAllocation() throws {
        let db = try BerthDatabase.inMemory()
        let (a, _) = try db.createContainer(name: "a", owner: "o", spec: try sampleSpec())
        try db.markDeleting(containerID: a.id)
        XCTAssertThrowsStoreError(try db.allocateGPUs(["gpu0"], containerID: a.id, revision: 1), .deleting(a.id))
        XCTAssertEqual(try db.gpuAllocations(), [])
    }
}
