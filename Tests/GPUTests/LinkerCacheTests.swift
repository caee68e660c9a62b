import Foundation
@testable import GPU
import TestSupport
import XCTest

final class LinkerCacheTests: XCTestCase {
    /// This machine's /etc/ld.so.cache read by the parser says what `ldconfig -p` says.
    func testReadsTheHostsCacheAsLdconfigDoes() throws {
        guard let data = FileManager.default.contents(atPath: "/etc/ld.so.cache") else {
            throw XCTSkip("no /etc/ld.so.cache on this machine")
        }
        let ldconfig = ["/sbin/ldconfig", "/usr/sbin/ldconfig"].first { FileManager.default.isExecutableFile(atPath: $0) }
        guard let ldconfig else { throw XCTSkip("no ldconfig on this machine") }
        let cache = try XCTUnwrap(LinkerCache(data: data))
        let listed = try runCommand(ldconfig, ["-p"])

        // "\tlibz.so.1 (libc6,x86-64) => /lib/x86_64-linux-gnu/libz.so.1"
        let lines = listed.split(separator: "\n").dropFirst()
        let expected = lines.compactMap { line -> String? in
            guard let arrow = line.range(of: " => "), let paren = line.range(of: " (") else { return nil }
            return "\(line[..<paren.lowerBound].trimmingCharacters(in: .whitespaces)) \(line[arrow.upperBound...])"
        }
        XCTAssertEqual(cache.entries.map { "\($0.name) \($0.path)" }, expected)
        XCTAssertTrue(listed.hasPrefix("\(cache.entries.count) libs found"), String(listed.prefix(80)))
        let host = Set(cache.entries().map(\.path))
        let hostLines = Set(lines.filter { $0.contains(LinkerCacheTests.hostArchitectureLabel) }.compactMap { line in
            line.range(of: " => ").map { range in String(line[range.upperBound...]) }
        })
        XCTAssertEqual(host, hostLines)
    }

    static var hostArchitectureLabel: String {
        #if arch(x86_64)
        "(libc6,x86-64"
        #else
        "(libc6,AArch64"
        #endif
    }

    func testRoundTripAndRefusal() {
        let cache = LinkerCache(entries: [
            .init(name: "libcuda.so.1", path: "/usr/lib/x86_64-linux-gnu/libcuda.so.1", flags: 0x0303),
            .init(name: "libcuda.so.1", path: "/usr/lib/i386-linux-gnu/libcuda.so.1", flags: 0x0003),
        ])
        XCTAssertEqual(LinkerCache(data: cache.encoded()), cache)
        XCTAssertNil(LinkerCache(data: Data("not a cache".utf8)))
        XCTAssertNil(LinkerCache(data: cache.encoded().prefix(60)))
        #if arch(x86_64)
        XCTAssertEqual(cache.entries().map(\.path), ["/usr/lib/x86_64-linux-gnu/libcuda.so.1"])
        #endif
    }
}
