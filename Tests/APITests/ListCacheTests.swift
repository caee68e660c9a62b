import NIOCore
import Synchronization
import XCTest

@testable import API

/// The list cache's rule: a request gets a body that reflects every change before it arrived,
/// kept or shared with a render under way; renders follow changes, not requests.
final class ListCacheTests: XCTestCase {
    typealias Version = ListCache.Version

    func testConcurrentRequestsAtOneVersionShareOneRender() async throws {
        let cache = ListCache()
        let renders = RenderCount()
        let version = Version(changeCount: 1, instances: 0)
        let bodies = try await withThrowingTaskGroup(of: String.self) { group in
            for _ in 0..<20 {
                group.addTask {
                    let body = try await cache.body(for: "k", arrival: version, current: { version }) {
                        renders.value.wrappingAdd(1, ordering: .relaxed)
                        Thread.sleep(forTimeInterval: 0.05)  // a slow render: the others arrive meanwhile
                        return ByteBuffer(string: "v1")
                    }
                    return String(buffer: body)
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        XCTAssertEqual(bodies, Array(repeating: "v1", count: 20))
        XCTAssertLessThan(renders.value.load(ordering: .relaxed), 20, "waiters took the shared body")
        // Kept: the same version renders nothing more.
        let kept = try await cache.body(for: "k", arrival: version, current: { version }) {
            XCTFail("rendered again at an unchanged version")
            return ByteBuffer()
        }
        XCTAssertEqual(String(buffer: kept), "v1")
    }

    func testNoRequestGetsABodyOlderThanItsArrival() async throws {
        let cache = ListCache()
        let v1 = Version(changeCount: 1, instances: 0)
        _ = try await cache.body(for: "k", arrival: v1, current: { v1 }) { ByteBuffer(string: "v1") }
        // A change in the store, or in the instances: the kept body is stale for later arrivals.
        for later in [Version(changeCount: 2, instances: 0), Version(changeCount: 2, instances: 1)] {
            let body = try await cache.body(for: "k", arrival: later, current: { later }) {
                ByteBuffer(string: "\(later.changeCount).\(later.instances)")
            }
            XCTAssertEqual(String(buffer: body), "\(later.changeCount).\(later.instances)")
        }
        // An older arrival takes the newer body (it reflects everything the request could see).
        let older = try await cache.body(for: "k", arrival: v1, current: { v1 }) {
            XCTFail("a newer kept body covers an older arrival")
            return ByteBuffer()
        }
        XCTAssertEqual(String(buffer: older), "2.1")
        // A failed render fails its request and keeps nothing.
        struct Broken: Error {}
        let v3 = Version(changeCount: 3, instances: 1)
        do {
            _ = try await cache.body(for: "k", arrival: v3, current: { v3 }) { throw Broken() }
            XCTFail("the render's error was swallowed")
        } catch is Broken {}
        let retried = try await cache.body(for: "k", arrival: v3, current: { v3 }) { ByteBuffer(string: "v3") }
        XCTAssertEqual(String(buffer: retried), "v3")
    }
}

final class RenderCount: Sendable {
    let value = Atomic<Int>(0)
}
