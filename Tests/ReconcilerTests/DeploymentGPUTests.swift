import BerthModel
import Foundation
@testable import Reconciler
import Runtime
import Store
import XCTest

/// The GPUs of a revision travel in its deployment, read from the store by the reconciler, so
/// that the runtime maps device ids to spec edits and never reads the store mid-launch.
final class DeploymentGPUTests: XCTestCase {
    func spec(image: String = "registry.test/app:1", gpu: Int) throws -> RevisionSpec {
        RevisionSpec(image: image, cpu: 0.5, memory: try Quantity(parsing: "64Mi"),
                     ephemeralStorage: try Quantity(parsing: "1Gi"), gpu: gpu, gpuModel: gpu > 0 ? "A100" : nil,
                     port: 8080, env: [:])
    }

    /// Hands out gpu0…gpu3, the free ones first in order.
    static func chooser(_ count: Int) -> GPUChooser {
        { taken in Array((0..<4).map { "gpu\($0)" }.filter { !taken.contains($0) }.prefix(count)) }
    }

    func testADeploymentCarriesTheDevicesTheStoreAllocatedToItsRevision() throws {
        let database = try BerthDatabase.inMemory()
        let reconciler = Reconciler(database: database, runtime: FakeRuntime())
        let (plain, plainFirst) = try database.createContainer(name: "plain", owner: "o", spec: try spec(gpu: 0))
        let (trainer, first) = try database.createContainer(name: "trainer", owner: "o", spec: try spec(gpu: 2),
                                                            choosingGPUs: Self.chooser(2))

        XCTAssertEqual(try reconciler.deployment(plain, plainFirst).gpuDevices, [])
        let deployment = try reconciler.deployment(trainer, first)
        XCTAssertEqual(deployment.gpuDevices, ["gpu0", "gpu1"])
        XCTAssertEqual(deployment.runtimeID, "\(trainer.id)-r1")

        // A new revision beside the serving one gets devices of its own, and its deployment says so.
        let second = try database.addRevision(containerID: trainer.id, spec: try spec(image: "registry.test/app:2", gpu: 1),
                                              choosingGPUs: Self.chooser(1))
        XCTAssertEqual(try reconciler.deployment(trainer, second).gpuDevices,
                       try database.gpuDevices(containerID: trainer.id, revision: second.number))
        XCTAssertEqual(try reconciler.deployment(trainer, second).gpuDevices.count, 1)
        XCTAssertTrue(Set(try reconciler.deployment(trainer, second).gpuDevices).isDisjoint(with: deployment.gpuDevices))
    }

    func testDeploymentsWithOtherDevicesDiffer() throws {
        let spec = try spec(gpu: 1)
        let a = RevisionDeployment(containerID: "c", name: "n", revision: 1, spec: spec, gpuDevices: ["gpu0"])
        let b = RevisionDeployment(containerID: "c", name: "n", revision: 1, spec: spec, gpuDevices: ["gpu1"])
        XCTAssertNotEqual(a, b)
        XCTAssertEqual(a.runtimeID, b.runtimeID, "the devices do not name the runtime container")
        XCTAssertEqual(RevisionDeployment(containerID: "c", name: "n", revision: 1, spec: spec).gpuDevices, [])
    }
}
