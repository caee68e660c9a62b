import Foundation
import NIOCore
import XCTest

@testable import Proxy

/// Starts upstreams and proxies that are stopped when the test ends.
class ProxyTestCase: XCTestCase {
    func startUpstream(_ name: String) async throws -> TestUpstream {
        let upstream = try await TestUpstream.start(name: name)
        addTeardownBlock { await upstream.stop() }
        return upstream
    }

    func startProxy(
        routes: any RouteTable,
        connectTimeout: Duration = .seconds(2),
        responseTimeout: Duration = .seconds(10),
        idleTimeout: Duration = .seconds(30),
        maxIdle: Int = 16,
        headerTimeout: Duration = .seconds(10),
        maxConnections: Int = 10_000,
        maxConnectionsPerClient: Int = 256,
        trustedProxies: [IPNetwork] = []
    ) async throws -> RunningProxy {
        let proxy = try await RunningProxy.start(
            routes: routes,
            connectTimeout: connectTimeout,
            responseTimeout: responseTimeout,
            idleTimeout: idleTimeout,
            maxIdle: maxIdle,
            headerTimeout: headerTimeout,
            maxConnections: maxConnections,
            maxConnectionsPerClient: maxConnectionsPerClient,
            trustedProxies: trustedProxies
        )
        addTeardownBlock { await proxy.stop() }
        return proxy
    }

    /// A proxy with `a.test` → container `a` on one test upstream.
    func startSingle(
        responseTimeout: Duration = .seconds(10),
        idleTimeout: Duration = .seconds(30)
    ) async throws -> (TestUpstream, TestRoutes, RunningProxy) {
        let upstream = try await startUpstream("a")
        let routes = TestRoutes(["a.test": .upstream(.test("a", upstream))])
        let proxy = try await startProxy(routes: routes, responseTimeout: responseTimeout, idleTimeout: idleTimeout)
        return (upstream, routes, proxy)
    }

    func assertProblem(
        _ response: TestResponse,
        _ status: Int,
        file: StaticString = #filePath,
        line: UInt = #line
    ) throws {
        XCTAssertEqual(response.status, status, file: file, line: line)
        XCTAssertEqual(response.headers["content-type"], ["application/problem+json"], file: file, line: line)
        let problem = try response.problem()
        XCTAssertEqual(problem["status"] as? Int, status, file: file, line: line)
        XCTAssertNotNil(problem["title"], file: file, line: line)
        XCTAssertNotNil(problem["detail"], file: file, line: line)
        XCTAssertFalse(response.text.contains("127.0.0.1"), "no internals leak", file: file, line: line)
    }
}
