@testable import TestSupport
import XCTest

final class TestSubnetTests: XCTestCase {
    private func address(_ a: UInt32, _ b: UInt32, _ c: UInt32, _ d: UInt32) -> UInt32 { a << 24 | b << 16 | c << 8 | d }

    func testOverlapCoversWiderNarrowerAndEqualRoutesButNotTheDefault() {
        let candidate = address(10, 165, 6, 0)
        XCTAssertTrue(TestSubnet.overlaps(candidate, (address(10, 165, 6, 0), 0xFFFF_FF00)))
        XCTAssertTrue(TestSubnet.overlaps(candidate, (address(10, 0, 0, 0), 0xFF00_0000)))
        XCTAssertTrue(TestSubnet.overlaps(candidate, (address(10, 165, 6, 128), 0xFFFF_FF80)))
        XCTAssertFalse(TestSubnet.overlaps(candidate, (address(10, 165, 7, 0), 0xFFFF_FF00)))
        XCTAssertFalse(TestSubnet.overlaps(candidate, (0, 0)))
    }

    func testRoutesAreReadInNetworkOrder() throws {
        // Loopback is routed in the local table only; the main table has at least the default
        // or a link route. Every route read must be a plausible network (mask bits contiguous).
        for route in TestSubnet.ipv4Routes() {
            XCTAssertEqual(route.network & ~route.mask, 0, "network \(String(route.network, radix: 16)) has host bits")
            XCTAssertEqual(route.mask, route.mask == 0 ? 0 : ~UInt32(0) << route.mask.trailingZeroBitCount)
        }
    }

    func testSubnetsAreNeverRoutedNorHandedOutTwice() {
        let routes = TestSubnet.ipv4Routes()
        var seen: Set<String> = []
        for _ in 0..<5 {
            let subnet = TestSubnet.free(secondOctets: 150..<152, preferred: 3)
            XCTAssertTrue(seen.insert(subnet).inserted, "\(subnet) handed out twice")
            let parts = subnet.dropLast(3).split(separator: ".").compactMap { UInt32($0) }
            let network = address(parts[0], parts[1], parts[2], 0)
            XCTAssertFalse(routes.contains { TestSubnet.overlaps(network, $0) }, "\(subnet) is routed already")
        }
    }
}
