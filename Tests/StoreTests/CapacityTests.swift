import BerthModel
import Foundation
import Store
import XCTest

/// The node's capacity and owners' quotas, checked in the transaction that records a revision.
final class CapacityTests: XCTestCase {
    func spec(cpu: Double = 1, ram: String = "512Mi", storage: String = "1Gi", gpu: Int = 0,
              env: [String: String] = [:]) throws -> RevisionSpec {
        RevisionSpec(image: "docker.io/library/app:1", cpu: cpu, memory: try Quantity(parsing: ram),
                     ephemeralStorage: try Quantity(parsing: storage), gpu: gpu, port: 8080, env: env)
    }

    /// 2 cores, 1Gi of memory, 3Gi of ephemeral storage.
    func smallNode() throws -> BerthDatabase {
        let db = try BerthDatabase.inMemory()
        db.setCapacityPolicy(CapacityPolicy(node: ResourceLimits(cpu: 2, ram: 1 << 30, ephemeralStorage: 3 << 30)))
        return db
    }

    func shortfall(_ body: () throws -> Void, file: StaticString = #filePath, line: UInt = #line) -> CapacityShortfall? {
        do {
            try body()
            XCTFail("accepted", file: file, line: line)
        } catch StoreError.overCapacity(let shortfall) {
            return shortfall
        } catch {
            XCTFail("\(error)", file: file, line: line)
        }
        return nil
    }

    func testCreatesUpToTheLimitPassAndTheNextIsRefusedNamingWhatIsFree() throws {
        let db = try smallNode()
        _ = try db.createContainer(name: "a", owner: "alice", spec: try spec(cpu: 1.5, ram: "256Mi"))
        _ = try db.createContainer(name: "b", owner: "bob", spec: try spec(cpu: 0.5, ram: "256Mi"))
        XCTAssertEqual(try db.reserved(), ResourceAmounts(milliCPU: 2000, ram: 512 << 20, ephemeralStorage: 2 << 30))

        let refused = shortfall { _ = try db.createContainer(name: "c", owner: "carol", spec: try spec(cpu: 0.25, ram: "768Mi")) }
        XCTAssertEqual(refused?.scope, .node)
        XCTAssertEqual(refused?.items.map(\.resource), [.cpu, .ram], "storage still fits: not named")
        XCTAssertEqual(refused?.description,
                       "not enough capacity on this node: cpu: asked 0.25, 0 of 2 available; ram: asked 768Mi, 512Mi of 1Gi available")
        XCTAssertNil(try db.container(named: "c"), "nothing written")
        XCTAssertEqual(try db.containerCount(), 2)

        // Exactly what is left fits.
        let db2 = try smallNode()
        _ = try db2.createContainer(name: "a", owner: "alice", spec: try spec(cpu: 1.5, ram: "512Mi", storage: "2Gi"))
        _ = try db2.createContainer(name: "b", owner: "alice", spec: try spec(cpu: 0.5, ram: "512Mi", storage: "1Gi"))
        let storage = shortfall { _ = try db2.createContainer(name: "c", owner: "alice", spec: try spec(cpu: 0.001, ram: "1", storage: "1")) }
        XCTAssertEqual(storage?.summary, "cpu: asked 0.001, 0 of 2 available; ram: asked 1, 0 of 1Gi available; ephemeralStorage: asked 1, 0 of 3Gi available")
    }

    func testAPutRaisingRamPastTheLimitIsRefusedAndTheOldRevisionStays() throws {
        let db = try smallNode()
        let (web, _) = try db.createContainer(name: "web", owner: "alice", spec: try spec(cpu: 1, ram: "512Mi"))
        _ = try db.createContainer(name: "other", owner: "bob", spec: try spec(cpu: 0.5, ram: "256Mi"))

        let refused = shortfall { _ = try db.addRevision(containerID: web.id, spec: try self.spec(cpu: 1, ram: "1Gi")) }
        // The container's own 512Mi is free to it: only bob's 256Mi counts against it.
        XCTAssertEqual(refused?.description, "not enough capacity on this node: ram: asked 1Gi, 768Mi of 1Gi available")
        XCTAssertEqual(try db.revisions(containerID: web.id).map(\.number), [1], "no revision recorded")
        XCTAssertEqual(try db.container(id: web.id)?.latestRevision, 1)

        // Growing within what is free, and changing nothing that reserves, both pass.
        let grown = try db.addRevision(containerID: web.id, spec: try spec(cpu: 1.5, ram: "768Mi"))
        XCTAssertEqual(grown.number, 2)
        try db.promote(containerID: web.id, revision: 2)
        XCTAssertEqual(try db.reserved(), ResourceAmounts(milliCPU: 2000, ram: 1 << 30, ephemeralStorage: 2 << 30))
        XCTAssertEqual(try db.addRevision(containerID: web.id, spec: try spec(cpu: 1.5, ram: "768Mi", env: ["A": "1"])).number, 3,
                       "an update that grows nothing passes on a full node")
    }

    func testARolloutReservesTheLargerOfServingAndNewAndAFailedOneNothing() throws {
        let db = try smallNode()
        let (web, _) = try db.createContainer(name: "web", owner: "alice", spec: try spec(cpu: 1, ram: "256Mi"))
        try db.promote(containerID: web.id, revision: 1)
        _ = try db.addRevision(containerID: web.id, spec: try spec(cpu: 1.5, ram: "128Mi"))
        XCTAssertEqual(try db.reserved(), ResourceAmounts(milliCPU: 1500, ram: 256 << 20, ephemeralStorage: 1 << 30),
                       "per resource, the larger of the serving and the pending revision")
        XCTAssertNotNil(shortfall { _ = try db.createContainer(name: "x", owner: "bob", spec: try spec(cpu: 0.6, ram: "64Mi")) })
        _ = try db.createContainer(name: "y", owner: "bob", spec: try spec(cpu: 0.5, ram: "64Mi"))

        try db.failRevision(containerID: web.id, revision: 2, message: "never ready")
        XCTAssertEqual(try db.reserved(owner: "alice"), ResourceAmounts(milliCPU: 1000, ram: 256 << 20, ephemeralStorage: 1 << 30))
        _ = try db.createContainer(name: "z", owner: "bob", spec: try spec(cpu: 0.5, ram: "64Mi"))

        // Promotion retires the old revision: only the new one reserves.
        let db2 = try smallNode()
        let (app, _) = try db2.createContainer(name: "app", owner: "alice", spec: try spec(cpu: 2, ram: "512Mi"))
        _ = try db2.addRevision(containerID: app.id, spec: try spec(cpu: 0.5, ram: "512Mi"))
        try db2.promote(containerID: app.id, revision: 2)
        XCTAssertEqual(try db2.reserved().milliCPU, 500)
    }

    func testDeletingFreesOnceTheContainerIsGone() throws {
        let db = try smallNode()
        let (a, _) = try db.createContainer(name: "a", owner: "alice", spec: try spec(cpu: 2))
        XCTAssertNotNil(shortfall { _ = try db.createContainer(name: "b", owner: "alice", spec: try spec(cpu: 1)) })
        try db.markDeleting(containerID: a.id)
        XCTAssertNotNil(shortfall { _ = try db.createContainer(name: "b", owner: "alice", spec: try spec(cpu: 1)) },
                        "a container being deleted still runs until it is stopped")
        try db.deleteContainer(id: a.id)
        _ = try db.createContainer(name: "b", owner: "alice", spec: try spec(cpu: 1))
        XCTAssertEqual(try db.reserved().milliCPU, 1000)
    }

    func testAfterTheLimitIsLoweredOnlyGrowingIsRefused() throws {
        let db = try smallNode()
        let (a, _) = try db.createContainer(name: "a", owner: "alice", spec: try spec(cpu: 2))
        db.setCapacityPolicy(CapacityPolicy(node: ResourceLimits(cpu: 1)))
        XCTAssertEqual(try db.addRevision(containerID: a.id, spec: try spec(cpu: 2, env: ["B": "2"])).number, 2)
        XCTAssertEqual(try db.addRevision(containerID: a.id, spec: try spec(cpu: 1.5)).number, 3, "shrinking passes")
        let refused = shortfall { _ = try db.createContainer(name: "b", owner: "alice", spec: try spec(cpu: 0.5)) }
        XCTAssertEqual(refused?.summary, "cpu: asked 0.5, 0 of 1 available")
    }

    func testOwnersQuotasCountOnlyTheirOwnContainers() throws {
        let db = try BerthDatabase.inMemory()
        db.setCapacityPolicy(CapacityPolicy(
            node: ResourceLimits(cpu: 64),
            defaultQuota: ResourceLimits(cpu: 1, ram: 1 << 30),
            ownerQuotas: ["big": ResourceLimits(cpu: 3)]))
        _ = try db.createContainer(name: "a1", owner: "alice", spec: try spec(cpu: 1))
        let refused = shortfall { _ = try db.createContainer(name: "a2", owner: "alice", spec: try spec(cpu: 0.5)) }
        XCTAssertEqual(refused?.scope, .owner("alice"))
        XCTAssertEqual(refused?.description, "over the quota of alice: cpu: asked 0.5, 0 of 1 available")
        _ = try db.createContainer(name: "b1", owner: "bob", spec: try spec(cpu: 1))
        // big's cpu bound replaces the default's; the default's ram bound still applies.
        _ = try db.createContainer(name: "g1", owner: "big", spec: try spec(cpu: 3, ram: "512Mi"))
        let ram = shortfall { _ = try db.createContainer(name: "g2", owner: "big", spec: try spec(cpu: 0.001, ram: "768Mi")) }
        XCTAssertEqual(ram?.summary, "cpu: asked 0.001, 0 of 3 available; ram: asked 768Mi, 512Mi of 1Gi available")
        XCTAssertEqual(try db.containers(owner: nil).map(\.name), ["a1", "b1", "g1"])
    }

    func testAGPUQuotaRefusalWritesNoAllocation() throws {
        let db = try BerthDatabase.inMemory()
        db.setCapacityPolicy(CapacityPolicy(defaultQuota: ResourceLimits(gpu: 1)))
        let refused = shortfall {
            _ = try db.createContainer(name: "trainer", owner: "alice", spec: try spec(gpu: 2), choosingGPUs: { _ in ["gpu-0", "gpu-1"] })
        }
        XCTAssertEqual(refused?.summary, "gpu: asked 2, 1 of 1 available")
        XCTAssertEqual(try db.gpuAllocations(), [])
        XCTAssertEqual(try db.containerCount(), 0)
    }

    func testConcurrentCreatesCannotBothTakeTheLastCore() throws {
        let db = try BerthDatabase(path: try makeTemporaryFolder(self).appendingPathComponent("berth.sqlite").path)
        db.setCapacityPolicy(CapacityPolicy(node: ResourceLimits(cpu: 2)))
        let half = try spec(cpu: 0.5)
        let outcomes = Outcomes()
        DispatchQueue.concurrentPerform(iterations: 16) { i in
            do {
                _ = try db.createContainer(name: "c-\(i)", owner: "owner-\(i % 4)", spec: half)
                outcomes.record(nil)
            } catch StoreError.overCapacity {
                outcomes.record(.overCapacity(CapacityShortfall(scope: .node, items: [])))
            } catch {
                outcomes.record(error as? StoreError ?? .notFound("\(error)"))
            }
        }
        XCTAssertEqual(outcomes.all.filter { $0 == nil }.count, 4)
        XCTAssertEqual(outcomes.all.filter { $0 == .overCapacity(CapacityShortfall(scope: .node, items: [])) }.count, 12)
        XCTAssertEqual(try db.containerCount(), 4)
        XCTAssertEqual(try db.reserved().milliCPU, 2000)
    }

    func testAmountsAndTheirText() throws {
        XCTAssertEqual(ResourceAmounts.milliCPU(0.1), 100)
        XCTAssertEqual(ResourceAmounts.milliCPU(0.3), 300)
        XCTAssertEqual(ResourceAmounts.milliCPU(0.0001), 1, "a sliver of a core still reserves something")
        XCTAssertEqual(ResourceAmounts.format(1500, of: .cpu), "1.5")
        XCTAssertEqual(ResourceAmounts.format(250, of: .cpu), "0.25")
        XCTAssertEqual(ResourceAmounts.format(2000, of: .cpu), "2")
        XCTAssertEqual(ResourceAmounts.format(1536 << 20, of: .ram), "1536Mi", "exact when a binary unit divides it")
        XCTAssertEqual(ResourceAmounts.format(512 << 20, of: .ram), "512Mi")
        XCTAssertEqual(ResourceAmounts.format(25_769_803_776 - 1000, of: .ram), "23.99Gi", "else two decimals")
        XCTAssertEqual(ResourceAmounts.format(1000, of: .ephemeralStorage), "1000")
        XCTAssertEqual(ResourceLimits(cpu: 2).overridden(by: ResourceLimits(ram: 5)), ResourceLimits(cpu: 2, ram: 5))
    }
}
