import BerthModel
import Foundation
import Reconciler
import Runtime
import Store
import XCTest

/// Instances: the reconciler runs what the autoscaler asks within the revision's bounds, removes
/// the highest instances first, rolls out as many as serve, and says why some wait.
final class ScaleTests: ReconcilerTestCase {
    func scaledSpec(_ scaling: ScalingPolicy, image: String = "registry.test/app:1") throws -> RevisionSpec {
        var spec = try spec(image: image)
        spec.scaling = scaling
        return spec
    }

    func running(_ containerID: String, revision: Int) -> [String] {
        runtime.statuses.filter { $0.value.phase == .running && RevisionDeployment.parse($0.key)?.revision == revision }
            .keys.filter { RevisionDeployment.parse($0)?.containerID == containerID }.sorted()
    }

    func testRuntimeIdsNameTheInstanceAndParseBack() {
        let id = "93cfc912-0660-44a7-ae26-e7e23f919659"
        XCTAssertEqual(RevisionDeployment.runtimeID(containerID: id, revision: 3), "\(id)-r3", "the first instance keeps the old id")
        XCTAssertEqual(RevisionDeployment.runtimeID(containerID: id, revision: 3, instance: 2), "\(id)-r3-i2")
        XCTAssertEqual(RevisionDeployment.parseInstance("\(id)-r3-i2")?.instance, 2)
        XCTAssertEqual(RevisionDeployment.parseInstance("\(id)-r3-i2")?.revision, 3)
        XCTAssertEqual(RevisionDeployment.parseInstance("\(id)-r3")?.instance, 0)
        XCTAssertEqual(RevisionDeployment.parse("\(id)-r3-i2")?.containerID, id)
        for odd in ["\(id)-r3-i0", "\(id)-r3-i+2", "\(id)-r+3", "\(id)-i2", "\(id)", "\(id)-r03", "\(id)-r", "-r3", "\(id)-r3-i"] {
            XCTAssertNil(RevisionDeployment.parseInstance(odd), odd)
        }
    }

    func testTheAutoscalersTargetRunsWithinTheBoundsAndTheHighestGoFirst() async throws {
        try await start()
        let (container, _) = try database.createContainer(name: "web", owner: "o",
                                                           spec: try scaledSpec(ScalingPolicy(concurrency: 1, maxInstances: 3)))
        reconciler.apply(container.id)
        try await eventually("one instance") { self.running(container.id, revision: 1).count == 1 }
        reconciler.scale(container.id, to: 5)
        try await eventually("three: the maximum") { self.running(container.id, revision: 1).count == 3 }
        XCTAssertEqual(reconciler.desiredInstances(container.id), 3)
        XCTAssertEqual(running(container.id, revision: 1), ["\(container.id)-r1", "\(container.id)-r1-i1", "\(container.id)-r1-i2"])
        reconciler.scale(container.id, to: 2)
        try await eventually("the third removed") { self.running(container.id, revision: 1).count == 2 }
        XCTAssertEqual(runtime.deletes, ["\(container.id)-r1-i2"])
        reconciler.scale(container.id, to: 0)
        try await eventually("one left: zero is the idle tiers'") { self.running(container.id, revision: 1).count == 1 }
        XCTAssertEqual(running(container.id, revision: 1), ["\(container.id)-r1"])
    }

    func testMinInstancesRunWithoutAnyTarget() async throws {
        try await start()
        let (container, _) = try database.createContainer(name: "warm", owner: "o",
                                                           spec: try scaledSpec(ScalingPolicy(minInstances: 2, maxInstances: 2)))
        reconciler.apply(container.id)
        try await eventually("two instances") { self.running(container.id, revision: 1).count == 2 }
    }

    func testARolloutStartsAsManyInstancesAsServeAndRetiresAllTheOldOnes() async throws {
        try await start()
        let scaling = ScalingPolicy(concurrency: 1, maxInstances: 4)
        let (container, _) = try database.createContainer(name: "web", owner: "o", spec: try scaledSpec(scaling))
        reconciler.apply(container.id)
        try await eventually("revision 1 active") { try self.database.revision(containerID: container.id, number: 1)?.phase == .active }
        reconciler.scale(container.id, to: 3)
        try await eventually("three instances") { self.running(container.id, revision: 1).count == 3 }
        _ = try database.addRevision(containerID: container.id, spec: try scaledSpec(scaling, image: "registry.test/app:2"))
        reconciler.apply(container.id)
        try await eventually("revision 2 serves with three instances and revision 1 is gone") {
            try self.database.container(id: container.id)?.revision == 2
                && self.running(container.id, revision: 2).count == 3 && self.running(container.id, revision: 1).isEmpty
        }
    }

    func testInstancesThatDoNotFitTheNodeWaitAndTheStatusSaysWhy() async throws {
        database.setCapacityPolicy(CapacityPolicy(node: ResourceLimits(cpu: 1.5, ram: 1 << 30)))
        try await start()
        // 0.5 cpu each: one reserved, two more fit in the 1 core left, the fourth waits.
        let (container, _) = try database.createContainer(name: "web", owner: "o",
                                                           spec: try scaledSpec(ScalingPolicy(concurrency: 1, maxInstances: 4)))
        reconciler.apply(container.id)
        try await eventually("running") { try self.database.container(id: container.id)?.phase == .running }
        reconciler.scale(container.id, to: 4)
        try await eventually("three instances") { self.running(container.id, revision: 1).count == 3 }
        try await eventually("the status says why the fourth waits") {
            try self.database.container(id: container.id)?.statusMessage
                == "1 of 4 instances wait for node capacity (cpu: 0.5 per instance, 1 unreserved)"
        }
        reconciler.scale(container.id, to: 3)
        try await eventually("the message goes once all asked for run") {
            try self.database.container(id: container.id)?.statusMessage == nil
        }
    }
}
