import NIOCore
import NIOHTTP1
import XCTest

@testable import Proxy

final class UpstreamConnectionStateTests: XCTestCase {
    func testReusableOnlyAfterACompleteKeepAliveExchange() {
        var state = UpstreamConnectionState()
        XCTAssertTrue(state.isReusable)
        state.requestHeadSent()
        XCTAssertFalse(state.isReusable)
        state.requestEndSent()
        state.responseHeadReceived(status: 200, keepAlive: true)
        XCTAssertFalse(state.isReusable, "the response was not read whole")
        state.responseEndReceived()
        XCTAssertTrue(state.isReusable)
        XCTAssertTrue(state.release())
        XCTAssertEqual(state.state, .idle)
        state.requestHeadSent()
        XCTAssertTrue(state.isReused)
    }

    /// What the response says of the connection (`HTTP1ResponseParserTests` reads it), and an upgrade.
    func testACloseAndAnUpgradeAreNotReused() {
        for (status, keepAlive) in [(UInt(200), false), (101, true)] {
            var state = UpstreamConnectionState()
            state.requestHeadSent()
            state.requestEndSent()
            state.responseHeadReceived(status: status, keepAlive: keepAlive)
            state.responseEndReceived()
            XCTAssertFalse(state.release(), "\(status) \(keepAlive)")
            XCTAssertEqual(state.state, .closed)
        }
    }

    func testResponseBeforeRequestEndIsNotReused() {
        var state = UpstreamConnectionState()
        state.requestHeadSent()
        state.responseHeadReceived(status: 413, keepAlive: true)
        state.responseEndReceived()
        XCTAssertFalse(state.release())
    }
}

final class IdleConnectionPoolTests: XCTestCase {
    final class Connection {}
    let a = Upstream(containerID: "a", revision: 1, host: "10.0.0.1", port: 80)
    let b = Upstream(containerID: "b", revision: 1, host: "10.0.0.2", port: 80)
    let start = NIODeadline.uptimeNanoseconds(1_000_000_000)

    func testMostRecentFirstPerUpstream() {
        var pool = IdleConnectionPool<Connection>(maxPerUpstream: 4, idleTimeout: .seconds(10))
        let one = Connection(), two = Connection()
        XCTAssertNil(pool.release(one, to: a, epoch: 0, now: start))
        XCTAssertNil(pool.release(two, to: a, epoch: 0, now: start + .seconds(1)))
        XCTAssertNil(pool.acquire(b, now: start).connection)
        XCTAssertTrue(pool.acquire(a, now: start + .seconds(2)).connection === two)
        XCTAssertTrue(pool.acquire(a, now: start + .seconds(2)).connection === one)
        XCTAssertNil(pool.acquire(a, now: start + .seconds(2)).connection)
    }

    func testLimitEvictsTheOldest() {
        var pool = IdleConnectionPool<Connection>(maxPerUpstream: 2, idleTimeout: .seconds(10))
        let connections = (0..<3).map { _ in Connection() }
        XCTAssertNil(pool.release(connections[0], to: a, epoch: 0, now: start))
        XCTAssertNil(pool.release(connections[1], to: a, epoch: 0, now: start))
        XCTAssertTrue(pool.release(connections[2], to: a, epoch: 0, now: start) === connections[0])
        XCTAssertEqual(pool.count(for: a), 2)
    }

    func testExpiry() {
        var pool = IdleConnectionPool<Connection>(maxPerUpstream: 4, idleTimeout: .seconds(10))
        let old = Connection(), fresh = Connection()
        _ = pool.release(old, to: a, epoch: 0, now: start)
        _ = pool.release(fresh, to: b, epoch: 0, now: start + .seconds(8))
        let expired = pool.expire(now: start + .seconds(10))
        XCTAssertEqual(expired.count, 1)
        XCTAssertTrue(expired.first === old)
        let (none, alsoExpired) = pool.acquire(b, now: start + .seconds(20))
        XCTAssertNil(none)
        XCTAssertTrue(alsoExpired.first === fresh)
        XCTAssertEqual(pool.count, 0)
    }

    func testForgetClosesIdleAndRefusesLaterReleases() {
        var pool = IdleConnectionPool<Connection>(maxPerUpstream: 4, idleTimeout: .seconds(10))
        let idle = Connection(), busy = Connection()
        let epoch = pool.epoch(of: a)
        _ = pool.release(idle, to: a, epoch: epoch, now: start)
        let closed = pool.forget(a)
        XCTAssertTrue(closed.first === idle)
        XCTAssertTrue(pool.release(busy, to: a, epoch: epoch, now: start) === busy, "created before forget: closed, not pooled")
        let newer = Connection()
        XCTAssertNil(pool.release(newer, to: a, epoch: pool.epoch(of: a), now: start))
    }

    func testRemove() {
        var pool = IdleConnectionPool<Connection>(maxPerUpstream: 4, idleTimeout: .seconds(10))
        let one = Connection()
        _ = pool.release(one, to: a, epoch: 0, now: start)
        pool.remove(one, from: a)
        XCTAssertEqual(pool.count, 0)
        XCTAssertEqual(pool.removeAll().count, 0)
    }
}
