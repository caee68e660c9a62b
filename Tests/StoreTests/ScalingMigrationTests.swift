import BerthModel
import Foundation
import GRDB
@testable import Store
import XCTest

/// Migration "v5 revision scaling": revisions get the default scaling, a container kept warm
/// before keeps one instance; and scaling round-trips and reserves what always runs.
final class ScalingMigrationTests: XCTestCase {
    func testRevisionsFromBeforeGetTheDefaultsAndKeptWarmOnesOneInstance() throws {
        let path = try makeTemporaryFolder(self).appendingPathComponent("berth.sqlite").path
        do {
            let old = try DatabaseQueue(path: path)
            try Migrations.migrator.migrate(old, upTo: "v4 idle revisions")
            try old.write { db in
                for (name, warm) in [("cold", false), ("warm", true)] {
                    try db.execute(sql: """
                        INSERT INTO container (id, name, owner, revision, latestRevision, phase, keepWarm, createdAt, updatedAt)
                        VALUES (?, ?, 'alice', 1, 1, 'running', ?, 0, 0);
                        INSERT INTO revision (containerID, number, image, cpu, memory, ephemeralStorage, gpu, port, env, phase, createdAt)
                        VALUES (?, 1, 'registry.test/app:1', 1, '64Mi', '1Gi', 0, 8080, '{}', 'active', 0);
                        """, arguments: [name, name, warm, name])
                }
            }
            try old.close()
        }
        let db = try BerthDatabase(path: path)
        XCTAssertEqual(try db.revision(containerID: "cold", number: 1)?.spec.scaling, .default)
        XCTAssertEqual(try db.revision(containerID: "warm", number: 1)?.spec.scaling,
                       ScalingPolicy(concurrency: 0, minInstances: 1, maxInstances: 1, timeoutSeconds: 300))
    }

    func testScalingRoundTripsAndTheAlwaysRunningInstancesAreReserved() throws {
        let db = try BerthDatabase.inMemory()
        var spec = try sampleSpec()
        spec.scaling = ScalingPolicy(concurrency: 8, minInstances: 3, maxInstances: 5, timeoutSeconds: 42)
        let (container, _) = try db.createContainer(name: "three", owner: "alice", spec: spec)
        XCTAssertEqual(try db.revision(containerID: container.id, number: 1)?.spec, spec)
        XCTAssertEqual(try db.reserved().milliCPU, ResourceAmounts.milliCPU(spec.cpu) * 3)
        XCTAssertEqual(try db.reserved().ram, spec.memory.bytes * 3)
        // A node with room for two instances refuses a third always-running one.
        let small = try BerthDatabase.inMemory()
        small.setCapacityPolicy(CapacityPolicy(node: ResourceLimits(cpu: spec.cpu * 2.5)))
        XCTAssertThrowsError(try small.createContainer(name: "three", owner: "alice", spec: spec)) { error in
            guard case StoreError.overCapacity = error else { return XCTFail("\(error)") }
        }
    }
}
