import BerthModel
import Foundation
import Reconciler
import Runtime
import Store
import XCTest

/// The reconciler's decisions, against an in-memory store and runtime: what it deploys and
/// removes, when it retries, what it keeps until a task is gone.
final class ReconcilerTests: ReconcilerTestCase {
    // MARK: -

    func testAFirstRevisionThatRunsBecomesActive() async throws {
        try await start()
        let (container, _) = try database.createContainer(name: "web", owner: "o", spec: try spec())
        reconciler.apply(container.id)
        try await eventually("revision 1 active and the container running") {
            try self.database.revision(containerID: container.id, number: 1)?.phase == .active
                && self.database.container(id: container.id)?.phase == .running
        }
        XCTAssertEqual(runtime.deploys.first, "\(container.id)-r1")
    }

    func testADeleteIsRetriedUntilTheRuntimeRemovesTheRevision() async throws {
        try await start()
        let (container, _) = try database.createContainer(name: "web", owner: "o", spec: try spec())
        reconciler.apply(container.id)
        try await eventually("running") { self.runtime.status("\(container.id)-r1")?.phase == .running }
        runtime.failDeletes(3)
        try database.markDeleting(containerID: container.id)
        reconciler.apply(container.id)
        try await eventually("the record is gone") { try self.database.container(id: container.id) == nil }
        XCTAssertEqual(runtime.deletes.filter { $0 == "\(container.id)-r1" }.count, 4, "three failures, then one success")
        XCTAssertNil(runtime.status("\(container.id)-r1"))
    }

    func testADeleteCancelsARolloutThatWaitsForItsRevision() async throws {
        try await start(rolloutTimeout: .seconds(600))
        let (container, _) = try database.createContainer(name: "web", owner: "o", spec: try spec())
        reconciler.apply(container.id)
        try await eventually("revision 1 active") { try self.database.revision(containerID: container.id, number: 1)?.phase == .active }
        runtime.behave("\(container.id)-r2", .staysStarting)
        _ = try database.addRevision(containerID: container.id, spec: try spec(image: "registry.test/app:2"))
        reconciler.apply(container.id)
        try await eventually("revision 2 deployed") { self.runtime.status("\(container.id)-r2")?.phase == .starting }
        let asked = ContinuousClock.now
        try database.markDeleting(containerID: container.id)
        reconciler.apply(container.id)
        try await eventually("the record is gone", within: .seconds(2)) { try self.database.container(id: container.id) == nil }
        XCTAssertLessThan(ContinuousClock.now - asked, .seconds(2), "the delete did not wait out the rollout")
        XCTAssertEqual(Set(runtime.deletes), ["\(container.id)-r1", "\(container.id)-r2"])
    }

    func testARetiredRevisionKeepsItsGPUsUntilItsTaskIsGone() async throws {
        try await start()
        let (container, _) = try database.createContainer(name: "gpu", owner: "o", spec: try spec(gpu: 1),
                                                           choosingGPUs: Self.chooser(1))
        reconciler.apply(container.id)
        try await eventually("revision 1 active") { try self.database.revision(containerID: container.id, number: 1)?.phase == .active }
        runtime.deleteGate.close()
        _ = try database.addRevision(containerID: container.id, spec: try spec(image: "registry.test/app:2", gpu: 1),
                                     choosingGPUs: Self.chooser(1))
        reconciler.apply(container.id)
        try await eventually("revision 2 serves") { try self.database.container(id: container.id)?.revision == 2 }
        try await eventually("revision 1 is being removed") { self.runtime.deletes.contains("\(container.id)-r1") }
        XCTAssertEqual(try database.gpuDevices(containerID: container.id, revision: 1), ["gpu0"],
                       "while its task may still run, revision 1's GPU is not handed out")
        runtime.deleteGate.openGate()
        try await eventually("revision 1's GPU released") {
            try self.database.gpuDevices(containerID: container.id, revision: 1).isEmpty
        }
        XCTAssertEqual(try database.gpuDevices(containerID: container.id, revision: 2), ["gpu1"])
    }

    func testAnIdleContainerIsNotStartedByARecheckOrARestart() async throws {
        let (container, _) = try database.createContainer(name: "idle", owner: "o", spec: try spec())
        try database.promote(containerID: container.id, revision: 1)
        try database.markIdle(containerID: container.id, revision: 1)
        try await start(resyncPeriod: .milliseconds(50))
        XCTAssertEqual(runtime.recovered?.desired, [], "recovery does not start it")
        XCTAssertEqual(runtime.recovered?.idle, ["\(container.id)-r1"], "but keeps what it left")
        try await Task.sleep(for: .milliseconds(400))
        XCTAssertEqual(runtime.deploys, [], "several re-checks later, still stopped")

        // A request woke it: from then on it is kept running.
        try database.markAwake(containerID: container.id)
        try await eventually("re-checked and deployed") { self.runtime.deploys == ["\(container.id)-r1"] }
    }

    func testAFailedPassIsRetriedWithTheReasonInTheStatus() async throws {
        try await start()
        let (container, _) = try database.createContainer(name: "web", owner: "o", spec: try spec())
        reconciler.apply(container.id)
        try await eventually("running") { self.runtime.status("\(container.id)-r1")?.phase == .running }
        // A superseded revision the runtime still runs, whose removal fails twice.
        runtime.set("\(container.id)-r7", RuntimeStatus(phase: .running))
        runtime.failDeletes(2)
        reconciler.apply(container.id)
        try await eventually("retried until removed") { self.runtime.status("\(container.id)-r7") == nil }
        XCTAssertEqual(runtime.deletes, Array(repeating: "\(container.id)-r7", count: 3))
    }
}
