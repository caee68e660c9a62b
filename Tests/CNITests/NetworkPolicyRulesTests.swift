@testable import CNI
import XCTest

/// The policy's rules and the restore input made from a listing: pure, no root needed.
final class NetworkPolicyRulesTests: XCTestCase {
    func policy(allow: [String] = [], resolvers: [String] = ["10.255.255.53", "192.0.2.53"]) throws -> NetworkPolicy {
        NetworkPolicy(bridge: "br0", subnet: try IPv4Network(cidr: "10.89.0.0/16"), egressAllow: try allow.map { try IPCIDR($0) },
                      resolvers: resolvers, hostAddresses: ["192.0.2.53", "10.89.0.1", "fe80::1"])
    }

    func testChainNamesFitIptablesLimitForTheLongestBridgeName() {
        let bridge = String(repeating: "b", count: 15)
        XCTAssertLessThanOrEqual(NetworkPolicy.inputChain(bridge: bridge).count, 28)
        XCTAssertLessThanOrEqual(NetworkPolicy.forwardChain(bridge: bridge).count, 28)
        XCTAssertEqual(NetworkPolicy.forwardChain(bridge: "berth0"), "BERTH-FWD-berth0")
    }

    func testIPv4Rules() throws {
        let chains = try policy(allow: ["10.0.5.0/24", "fd00::/8"]).chains(.ipv4)
        XCTAssertEqual(chains.map(\.name), ["BERTH-IN-br0", "BERTH-FWD-br0"])
        let input = chains[0].rules.map { $0.joined(separator: " ") }
        XCTAssertEqual(input, [
            "-m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
            // Only the resolver that is a host address is let into INPUT.
            "-d 192.0.2.53/32 -p udp -m udp --dport 53 -j ACCEPT",
            "-d 192.0.2.53/32 -p tcp -m tcp --dport 53 -j ACCEPT",
            "-j REJECT --reject-with icmp-admin-prohibited",
        ])
        let forward = chains[1].rules.map { $0.joined(separator: " ") }
        XCTAssertEqual(Array(forward.prefix(6)), [
            "-m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
            "-o br0 -j DROP",
            // The bridge subnet before the allow list: an entry such as 10.0.0.0/8 cannot reopen it.
            "-d 10.89.0.0/16 -j REJECT --reject-with icmp-admin-prohibited",
            "-d 10.0.5.0/24 -j ACCEPT",
            "-d 10.255.255.53/32 -p udp -m udp --dport 53 -j ACCEPT",
            "-d 10.255.255.53/32 -p tcp -m tcp --dport 53 -j ACCEPT",
        ])
        let refused = forward.dropFirst(6).dropLast().map { $0.split(separator: " ")[1] }
        XCTAssertEqual(refused, ["0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "169.254.0.0/16", "172.16.0.0/12",
                                 "192.168.0.0/16", "224.0.0.0/4", "240.0.0.0/4"])
        XCTAssertTrue(forward.dropFirst(6).dropLast().allSatisfy { $0.hasSuffix("-j REJECT --reject-with icmp-admin-prohibited") })
        XCTAssertEqual(forward.last, "-j ACCEPT", "the internet stays reachable")
        XCTAssertFalse(forward.contains { $0.contains("fd00") }, "IPv6 entries go to ip6tables only")
    }

    func testIPv6RulesRefuseLinkLocalAndTheHost() throws {
        let chains = try policy(allow: ["fd00:1::/64"]).chains(.ipv6)
        XCTAssertEqual(chains[0].rules.last, ["-j", "REJECT", "--reject-with", "icmp6-adm-prohibited"])
        let forward = chains[1].rules.map { $0.joined(separator: " ") }
        XCTAssertTrue(forward.contains("-d fd00:1::/64 -j ACCEPT"))
        XCTAssertTrue(forward.contains("-d fe80::/10 -j REJECT --reject-with icmp6-adm-prohibited"))
        XCTAssertTrue(forward.contains("-d fc00::/7 -j REJECT --reject-with icmp6-adm-prohibited"))
        XCTAssertFalse(forward.contains { $0.contains("10.") }, "\(forward)")
    }

    func testRestoreInputKeepsForeignRulesAndRepairsOwnJumps() throws {
        let listing = """
            -P INPUT ACCEPT
            -P FORWARD DROP
            -P OUTPUT ACCEPT
            -N DOCKER-USER
            -N BERTH-IN-other0
            -N BERTH-IN-br0
            -A INPUT -i other0 -m comment --comment "berth:other0" -j BERTH-IN-other0
            -A INPUT -i br0 -m comment --comment "berth:br0" -j BERTH-IN-br0
            -A INPUT -i br0 -m comment --comment "berth:br0" -j BERTH-IN-br0
            -A INPUT -i br0 -m comment --comment "someone else's" -j ACCEPT
            -A FORWARD -j DOCKER-USER
            -A FORWARD -i br0 -j BERTH-FWD-br0
            -A BERTH-IN-other0 -j REJECT
            """
        let lines = try policy().restoreInput(.ipv4, listing: listing).split(separator: "\n").map(String.init)
        XCTAssertEqual(lines.first, "*filter")
        XCTAssertEqual(lines.last, "COMMIT")
        XCTAssertEqual(Array(lines[1...2]), [":BERTH-IN-br0 - [0:0]", ":BERTH-FWD-br0 - [0:0]"])
        let changes = lines.filter { $0.hasPrefix("-D") || $0.hasPrefix("-I") }
        XCTAssertEqual(changes, [
            "-D INPUT -i br0 -m comment --comment berth:br0 -j BERTH-IN-br0",
            "-D FORWARD -i br0 -j BERTH-FWD-br0",
            "-I FORWARD 1 -o br0 -m comment --comment berth:br0 -j BERTH-FWD-br0",
            "-I FORWARD 1 -i br0 -m comment --comment berth:br0 -j BERTH-FWD-br0",
        ])
        XCTAssertFalse(lines.contains { $0.contains("other0") || $0.contains("DOCKER") || $0.contains("someone") })
    }

    func testRemovalInputTouchesOnlyTheBridgesChains() {
        let listing = """
            -N BERTH-IN-br0
            -N BERTH-FWD-br0
            -N BERTH-IN-br00
            -A INPUT -i br0 -m comment --comment "berth:br0" -j BERTH-IN-br0
            -A INPUT -i br00 -m comment --comment "berth:br00" -j BERTH-IN-br00
            -A FORWARD -o br0 -m comment --comment "berth:br0" -j BERTH-FWD-br0
            -A FORWARD -o br0 -j ACCEPT
            -A BERTH-IN-br0 -j REJECT
            """
        XCTAssertEqual(NetworkPolicy.removalInput(bridge: "br0", listing: listing), """
            *filter
            -D INPUT -i br0 -m comment --comment berth:br0 -j BERTH-IN-br0
            -D FORWARD -o br0 -m comment --comment berth:br0 -j BERTH-FWD-br0
            -F BERTH-IN-br0
            -F BERTH-FWD-br0
            -X BERTH-IN-br0
            -X BERTH-FWD-br0
            COMMIT

            """)
        XCTAssertNil(NetworkPolicy.removalInput(bridge: "br1", listing: listing))
    }

    func testCIDRParsing() throws {
        XCTAssertEqual(try IPCIDR("10.0.5.0/24").description, "10.0.5.0/24")
        XCTAssertEqual(try IPCIDR("fd00::/8").description, "fd00::/8")
        XCTAssertEqual(try IPCIDR("0.0.0.0/0").prefixLength, 0)
        XCTAssertTrue(try IPCIDR("10.0.5.0/24").contains("10.0.5.77"))
        XCTAssertFalse(try IPCIDR("10.0.5.0/24").contains("10.0.6.1"))
        XCTAssertTrue(try IPCIDR("fe80::/10").contains("fe80::1"))
        for (bad, reason) in [("10.0.5.1/24", "did you mean 10.0.5.0/24?"), ("10.0.5.0", "CIDR notation"), ("10.0.5.0/33", "0 to 32"),
                              ("fd00::1/8", "did you mean fd00::/8?"), ("010.0.0.0/8", "CIDR notation"), ("example.com/32", "CIDR notation")] {
            XCTAssertThrowsError(try IPCIDR(bad), bad) { XCTAssertTrue("\($0)".contains(reason), "\(bad): \($0)") }
        }
        XCTAssertThrowsError(try CNIConfiguration(egressAllow: ["10.0.0.1/8"]).validate()) {
            XCTAssertEqual("\($0)", "invalid CNI egress allow entry \"10.0.0.1/8\": host bits are set; did you mean 10.0.0.0/8?")
        }
    }
}
