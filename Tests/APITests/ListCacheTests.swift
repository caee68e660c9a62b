import NIOCore
import Synchronization
import XCTest

@testable import API

/// The list cache's rule: a request gets a body that reflects every change before it arrived,
/// kept or shared with a render under way; renders follow changes, not requests.
final class ListCacheTests: XCTestCase {
    typealias Version = ListCache.Version
    static let start = ContinuousClock.now

    /// A version read `ms` milliseconds after `start`.
    static func version(requested: UInt64, observed: UInt64, ms: Int = 0) -> Version {
        Version(requested: requested, observed: observed, at: start + .milliseconds(ms))
    }

    func testConcurrentRequestsAtOneVersionShareOneRender() async throws {
        let cache = ListCache(observationWindow: .zero)
        let renders = RenderCount()
        let version = Self.version(requested: 1, observed: 1)
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
        let cache = ListCache(observationWindow: .zero)
        let v1 = Self.version(requested: 1, observed: 1)
        _ = try await cache.body(for: "k", arrival: v1, current: { v1 }) { ByteBuffer(string: "v1") }
        // A change asked for, or one observed: the kept body is stale for later arrivals.
        for later in [Self.version(requested: 2, observed: 2, ms: 1), Self.version(requested: 2, observed: 3, ms: 2)] {
            let body = try await cache.body(for: "k", arrival: later, current: { later }) {
                ByteBuffer(string: "\(later.requested).\(later.observed)")
            }
            XCTAssertEqual(String(buffer: body), "\(later.requested).\(later.observed)")
        }
        // An older arrival takes the newer body (it reflects everything the request could see).
        let older = try await cache.body(for: "k", arrival: v1, current: { v1 }) {
            XCTFail("a newer kept body covers an older arrival")
            return ByteBuffer()
        }
        XCTAssertEqual(String(buffer: older), "2.3")
        // A failed render fails its request and keeps nothing.
        struct Broken: Error {}
        let v3 = Self.version(requested: 3, observed: 4, ms: 3)
        do {
            _ = try await cache.body(for: "k", arrival: v3, current: { v3 }) { throw Broken() }
            XCTFail("the render's error was swallowed")
        } catch is Broken {}
        let retried = try await cache.body(for: "k", arrival: v3, current: { v3 }) { ByteBuffer(string: "v3") }
        XCTAssertEqual(String(buffer: retried), "v3")
    }
}

extension ListCacheTests {
    /// Changes keep coming while a render is under way: requests that arrived after its version
    /// wait for it to end, then one of them renders for all; a key never has two renders at once.
    func testRequestsNewerThanTheRenderUnderWayShareTheNextOne() async throws {
        let cache = ListCache(observationWindow: .zero)
        let renders = RenderCount(), running = RenderCount(), overlapped = RenderCount()
        let latest = RenderCount()
        latest.value.store(1, ordering: .releasing)
        let current: @Sendable () -> Version = {
            let count = UInt64(latest.value.load(ordering: .acquiring))
            return Version(requested: count, observed: count, at: .now)
        }
        let render: @Sendable () -> ByteBuffer = {
            renders.value.wrappingAdd(1, ordering: .relaxed)
            if running.value.wrappingAdd(1, ordering: .relaxed).newValue > 1 { overlapped.value.wrappingAdd(1, ordering: .relaxed) }
            let version = current()
            Thread.sleep(forTimeInterval: 0.1)
            running.value.wrappingSubtract(1, ordering: .relaxed)
            return ByteBuffer(string: "v\(version.requested)")
        }
        let bodies = try await withThrowingTaskGroup(of: String.self) { group in
            group.addTask { String(buffer: try await cache.body(for: "k", arrival: current(), current: current, render: render)) }
            try await Task.sleep(for: .milliseconds(30))
            latest.value.store(2, ordering: .releasing)  // a change while v1 renders
            for _ in 0..<10 {
                group.addTask { String(buffer: try await cache.body(for: "k", arrival: current(), current: current, render: render)) }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        XCTAssertEqual(bodies.sorted(), ["v1"] + Array(repeating: "v2", count: 10))
        XCTAssertEqual(renders.value.load(ordering: .relaxed), 2, "one render for the ten that came after the change")
        XCTAssertEqual(overlapped.value.load(ordering: .relaxed), 0, "never two renders at once")
    }
}

extension ListCacheTests {
    /// Observations (statuses, instances) may be up to the window older than the request;
    /// a change a client asked for never is.
    func testObservationsWithinTheWindowTakeTheKeptBodyAndRequestedChangesNever() async throws {
        let cache = ListCache(observationWindow: .milliseconds(100))
        let first = Self.version(requested: 1, observed: 1)
        _ = try await cache.body(for: "k", arrival: first, current: { first }) { ByteBuffer(string: "first") }
        func answer(_ arrival: Version) async throws -> String {
            String(buffer: try await cache.body(for: "k", arrival: arrival, current: { arrival }) {
                ByteBuffer(string: "\(arrival.requested).\(arrival.observed)")
            })
        }
        let observedSoonAfter = try await answer(Self.version(requested: 1, observed: 5, ms: 100))
        XCTAssertEqual(observedSoonAfter, "first", "observed within the window: the kept body")
        let observedLater = try await answer(Self.version(requested: 1, observed: 6, ms: 101))
        XCTAssertEqual(observedLater, "1.6", "observed before the window: rendered again")
        let requested = try await answer(Self.version(requested: 2, observed: 6, ms: 102))
        XCTAssertEqual(requested, "2.6", "a change asked for: rendered again, however recent the body")
    }
}

final class RenderCount: Sendable {
    let value = Atomic<Int>(0)
}
