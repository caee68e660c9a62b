import BerthModel
import Proxy
import Store
@testable import Traffic
import XCTest

/// Which container a host label routes to, read from the store.
final class RouteCacheTests: XCTestCase {
    func testAnIdWinsOverAnotherContainersNameOfTheSameText() throws {
        let database = try BerthDatabase.inMemory()
        let spec = RevisionSpec(image: "registry.test/app:1", cpu: 1, memory: try Quantity(parsing: "64Mi"),
                                ephemeralStorage: try Quantity(parsing: "64Mi"), port: 8080)
        let (victim, _) = try database.createContainer(name: "victim", owner: "alice", spec: spec)
        // The API refuses UUID-shaped names; a database from before that rule may still hold one.
        let (squatter, _) = try database.createContainer(name: victim.id, owner: "mallory", spec: spec)
        try database.promote(containerID: victim.id, revision: 1)
        try database.promote(containerID: squatter.id, revision: 1)

        let routes = RouteCache(database: database)
        XCTAssertEqual(routes.entry(for: victim.id)?.container.id, victim.id)
        XCTAssertEqual(routes.entry(for: "victim")?.container.id, victim.id)
        XCTAssertEqual(routes.entry(for: squatter.id)?.container.id, squatter.id)
        XCTAssertNil(routes.entry(for: "nobody"))
    }

    private func spec(_ image: String = "registry.test/app:1") throws -> RevisionSpec {
        RevisionSpec(image: image, cpu: 1, memory: try Quantity(parsing: "64Mi"),
                     ephemeralStorage: try Quantity(parsing: "64Mi"), port: 8080)
    }

    func testACreateRoutesAsSoonAsItReturns() throws {
        let database = try BerthDatabase.inMemory()
        let routes = RouteCache(database: database)
        XCTAssertTrue(routes.all().isEmpty)
        let (container, _) = try database.createContainer(name: "web", owner: "alice", spec: try spec())
        XCTAssertEqual(routes.entry(for: "web")?.container.id, container.id)
        XCTAssertEqual(routes.entry(for: container.id)?.serving.number, 1)
        XCTAssertEqual(routes.all().map(\.container.id), [container.id])
    }

    func testUpdatesAndPromotionsReplaceTheEntry() throws {
        let database = try BerthDatabase.inMemory()
        let (container, _) = try database.createContainer(name: "web", owner: "alice", spec: try spec())
        try database.promote(containerID: container.id, revision: 1)
        let routes = RouteCache(database: database)

        _ = try database.addRevision(containerID: container.id, spec: try spec("registry.test/app:2"), keepWarm: true)
        XCTAssertEqual(routes.entry(for: "web")?.serving.number, 1, "a pending revision does not serve yet")
        XCTAssertEqual(routes.entry(for: "web")?.container.keepWarm, true)
        try database.promote(containerID: container.id, revision: 2)
        XCTAssertEqual(routes.entry(for: "web")?.serving.number, 2)
        XCTAssertEqual(routes.entry(for: "web")?.serving.spec.image, "registry.test/app:2")
        XCTAssertEqual(routes.entry(for: "web")?.serving.phase, .active)

        try database.setStatus(containerID: container.id, phase: .running, message: nil)
        XCTAssertEqual(routes.entry(for: container.id)?.container.phase, .running)
        // Marking it deleting frees its name (the store renames it to its id): the old name
        // stops routing, the id shows the phase that TrafficController refuses.
        try database.markDeleting(containerID: container.id)
        XCTAssertNil(routes.entry(for: "web"))
        XCTAssertEqual(routes.entry(for: container.id)?.container.phase, .deleting)
        XCTAssertEqual(routes.counts.containers, 1)
        XCTAssertEqual(routes.counts.names, 1)
    }

    func testADeletedContainerLeavesAndItsNameRoutesToTheNextOwner() throws {
        let database = try BerthDatabase.inMemory()
        let routes = RouteCache(database: database)
        let (first, _) = try database.createContainer(name: "web", owner: "alice", spec: try spec())
        try database.deleteContainer(id: first.id)
        XCTAssertNil(routes.entry(for: "web"))
        XCTAssertNil(routes.entry(for: first.id))

        let (second, _) = try database.createContainer(name: "web", owner: "bob", spec: try spec())
        XCTAssertEqual(routes.entry(for: "web")?.container.id, second.id)
        XCTAssertEqual(routes.entry(for: "web")?.container.owner, "bob")
        XCTAssertNil(routes.entry(for: first.id))
    }

    /// The table is memory: once made, a lookup answers even with the database closed. (The
    /// cache it replaces rescanned the store on the first lookup after a write, and would
    /// find nothing here.)
    func testALookupReadsNoDatabase() throws {
        let database = try BerthDatabase.inMemory()
        let routes = RouteCache(database: database)
        let (container, _) = try database.createContainer(name: "web", owner: "alice", spec: try spec())
        try database.close()
        XCTAssertEqual(routes.entry(for: "web")?.container.id, container.id)
        XCTAssertEqual(routes.entry(for: container.id)?.container.name, "web")
        XCTAssertEqual(routes.all().count, 1)
    }

    /// The proxy speaks to an instance what its serving revision serves, from the promotion on.
    /// (Instances come from the runtime's statuses, which need containerd; this builds the
    /// upstream `readyInstances` makes for one from the routed entry.)
    func testAnInstanceOfAnH2CRevisionIsReachedOverH2C() throws {
        let database = try BerthDatabase.inMemory()
        let routes = RouteCache(database: database)
        let (container, _) = try database.createContainer(name: "greeter", owner: "alice", spec: try spec())
        try database.promote(containerID: container.id, revision: 1)
        var h2c = try spec("registry.test/greeter:2")
        h2c.servingProtocol = .h2c
        h2c.scaling.timeoutSeconds = 30
        _ = try database.addRevision(containerID: container.id, spec: h2c)
        func upstream() throws -> Upstream {
            TrafficController.upstream(try XCTUnwrap(routes.entry(for: "greeter")), instance: 1, address: "10.88.0.7", port: 50051)
        }
        XCTAssertEqual(try upstream().speaks, .http1, "the pending revision does not serve yet")
        try database.promote(containerID: container.id, revision: 2)
        let promoted = try upstream()
        XCTAssertEqual(promoted.speaks, .h2c)
        XCTAssertEqual(promoted.revision, 2)
        XCTAssertEqual(promoted.instance, 1)
        XCTAssertEqual(promoted.responseTimeout, .seconds(30))
        XCTAssertEqual(ServingProtocol.allCases.map(UpstreamProtocol.init), [.http1, .h2c])
    }

    func testNothingGrowsOverAThousandCreateDeleteCycles() throws {
        let database = try BerthDatabase.inMemory()
        let (kept, _) = try database.createContainer(name: "kept", owner: "alice", spec: try spec())
        let routes = RouteCache(database: database)
        for cycle in 0..<1000 {
            let (container, _) = try database.createContainer(name: "cycle-\(cycle)", owner: "alice", spec: try spec())
            XCTAssertNotNil(routes.entry(for: "cycle-\(cycle)"))
            try database.deleteContainer(id: container.id)
        }
        XCTAssertEqual(routes.counts.containers, 1)
        XCTAssertEqual(routes.counts.names, 1)
        XCTAssertEqual(routes.entry(for: "kept")?.container.id, kept.id)
    }
}
