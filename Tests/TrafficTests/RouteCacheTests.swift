import BerthModel
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
}
