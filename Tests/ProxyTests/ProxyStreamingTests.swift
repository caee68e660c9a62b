import Foundation
import TestSupport
import XCTest

@testable import Proxy

/// 1 GiB each way through the proxy, verified by sha256 at the far end, with this process's
/// resident memory (the proxy's: both peers are python processes) sampled throughout.
final class ProxyStreamingTests: ProxyTestCase {
    static let size = 1 << 30
    static let rssLimit = 150 << 20

    func transfer(_ mode: String, size: Int = ProxyStreamingTests.size) async throws {
        let upstream = try PythonUpstream()
        addTeardownBlock { upstream.stop() }
        let routes = TestRoutes(["stream.test": .upstream(.test("stream", port: upstream.port))])
        let proxy = try await startProxy(routes: routes, responseTimeout: .seconds(30))
        let sampler = RSSSampler()
        let started = ContinuousClock.now
        let result = try await runPythonClient(port: proxy.port, host: "stream.test", mode: mode, size: size)
        let elapsed = ContinuousClock.now - started
        let growth = sampler.stop()
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        print(
            "proxy \(mode) \(size >> 20) MiB: \(String(format: "%.1f", seconds)) s, "
                + "\(String(format: "%.0f", Double(size) / seconds / 1e6)) MB/s, "
                + "RSS baseline \(sampler.baseline >> 20) MiB, peak growth \(growth >> 20) MiB"
        )
        XCTAssertTrue(result.status.hasPrefix("HTTP/1.1 200"), result.status)
        XCTAssertEqual(result.length, size)
        XCTAssertEqual(result.sent, result.received, "sha256 at both ends")
        XCTAssertLessThan(growth, Self.rssLimit, "the proxy streams: memory stays flat")
        XCTAssertEqual(routes.finished("stream"), 1)
    }

    func testUploadWithContentLength() async throws {
        try await transfer("upload-length")
    }

    func testChunkedUpload() async throws {
        try await transfer("upload-chunked")
    }

    func testDownloadWithContentLength() async throws {
        try await transfer("download")
    }

    func testChunkedDownload() async throws {
        try await transfer("download-chunked", size: 256 << 20)
    }
}
