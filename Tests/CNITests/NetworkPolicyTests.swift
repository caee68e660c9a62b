@testable import CNI
import Foundation
import TestSupport
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// Berth's chains in the real filter tables (iptables 1.8 on nf_tables here), and the
/// per-container isolation, on the CNI tests' bridge.
final class NetworkPolicyTests: CNITestCase {
    /// A bridge of another (pretend) Berth node and a rule of another tool, which must survive.
    static let foreignBridge = "berthcnit9"
    static let foreignChain = NetworkPolicy.inputChain(bridge: foreignBridge)
    static let foreignRule = ["INPUT", "-i", CNITestCase.bridge, "-m", "comment", "--comment", "another tool", "-j", "ACCEPT"]

    override func setUp() async throws {
        try await super.setUp()
        try await CNINetwork.removePolicy(bridge: Self.bridge)
        removeForeign()
    }

    override func tearDown() async throws {
        try? await CNINetwork.removePolicy(bridge: Self.bridge)
        removeForeign()
        try await super.tearDown()
    }

    private func removeForeign() {
        _ = try? runCommand("iptables", ["-w", "-D"] + Self.foreignRule)
        _ = try? runCommand("iptables", ["-w", "-D", "INPUT", "-i", Self.foreignBridge, "-j", Self.foreignChain])
        _ = try? runCommand("iptables", ["-w", "-F", Self.foreignChain])
        _ = try? runCommand("iptables", ["-w", "-X", Self.foreignChain])
    }

    /// The filter table's lines that name one of the test bridges (other tests and tools on the
    /// host may change the rest meanwhile).
    func listing(_ tool: String = "iptables") throws -> [String] {
        try runCommand(tool, ["-w", "-S"]).split(separator: "\n").map(String.init).filter { $0.contains("berthcnit") }
    }

    func testEnsureIsIdempotentAndRemovalTakesExactlyBerthsRules() async throws {
        _ = try runCommand("iptables", ["-w", "-N", Self.foreignChain])
        _ = try runCommand("iptables", ["-w", "-A", Self.foreignChain, "-j", "RETURN"])
        _ = try runCommand("iptables", ["-w", "-I", "INPUT", "1", "-i", Self.foreignBridge, "-j", Self.foreignChain])
        _ = try runCommand("iptables", ["-w", "-I"] + Self.foreignRule)
        let before = try listing()
        let before6 = try listing("ip6tables")

        try await network.ensurePolicy(resolvers: ["10.255.255.53"])
        let first = try listing()
        let input = NetworkPolicy.inputChain(bridge: Self.bridge), forward = NetworkPolicy.forwardChain(bridge: Self.bridge)
        XCTAssertTrue(first.contains("-N \(input)"), "\(first)")
        XCTAssertTrue(first.contains("-N \(forward)"), "\(first)")
        let builtin = try runCommand("iptables", ["-w", "-S", "INPUT"]).split(separator: "\n").map(String.init)
        XCTAssertEqual(builtin.dropFirst().first, "-A INPUT -i \(Self.bridge) -m comment --comment \"berth:\(Self.bridge)\" -j \(input)",
                       "the jump is at the top of INPUT")
        let forwardJumps = try runCommand("iptables", ["-w", "-S", "FORWARD"]).split(separator: "\n").map(String.init)
        XCTAssertEqual(Array(forwardJumps.dropFirst().prefix(2)), [
            "-A FORWARD -i \(Self.bridge) -m comment --comment \"berth:\(Self.bridge)\" -j \(forward)",
            "-A FORWARD -o \(Self.bridge) -m comment --comment \"berth:\(Self.bridge)\" -j \(forward)",
        ])
        XCTAssertTrue(first.contains("-A \(forward) -d 10.255.255.53/32 -p udp -m udp --dport 53 -j ACCEPT"), "\(first)")
        XCTAssertTrue(first.contains("-A \(forward) -d 169.254.0.0/16 -j REJECT --reject-with icmp-admin-prohibited"), "\(first)")
        XCTAssertTrue(first.contains("-A \(input) -j REJECT --reject-with icmp-admin-prohibited"), "\(first)")
        if PolicyTables.tools(.ipv6) != nil {
            let six = try listing("ip6tables")
            XCTAssertTrue(six.contains("-A \(forward) -d fe80::/10 -j REJECT --reject-with icmp6-adm-prohibited"), "\(six)")
        }

        try await network.ensurePolicy(resolvers: ["10.255.255.53"])
        XCTAssertEqual(try listing(), first, "a second ensure changes nothing")

        // The foreign chain, its jump and the foreign rule are untouched by ensure and remove.
        for line in before {
            XCTAssertTrue(first.contains(line), "ensure removed \(line)")
        }
        try await CNINetwork.removePolicy(bridge: Self.bridge)
        XCTAssertEqual(try listing(), before, "removal takes exactly Berth's chains and jumps")
        XCTAssertEqual(try listing("ip6tables"), before6)
        try await CNINetwork.removePolicy(bridge: Self.bridge)
        XCTAssertEqual(try listing(), before, "removing twice is fine")
    }

    func testAnAllowListChangeIsAppliedByTheNextEnsure() async throws {
        try await network.ensurePolicy(resolvers: [])
        var allowing = configuration
        allowing.egressAllow = ["10.203.7.0/24"]
        let restarted = try CNINetwork(configuration: allowing)
        try await restarted.ensurePolicy(resolvers: [])
        let rules = try listing()
        XCTAssertTrue(rules.contains("-A \(NetworkPolicy.forwardChain(bridge: Self.bridge)) -d 10.203.7.0/24 -j ACCEPT"), "\(rules)")
        XCTAssertEqual(rules.filter { $0.hasPrefix("-A INPUT") && $0.contains("berth:\(Self.bridge)") }.count, 1, "one jump, not two")
    }

    func testContainersAreIsolatedFromEachOtherAndFromTheHost() async throws {
        try await network.ensurePolicy(resolvers: [])
        let a = makeContainerID("a"), b = makeContainerID("b")
        let first = try await network.attach(containerID: a)
        let second = try await network.attach(containerID: b)

        for attachment in [first, second] {
            let veth = try XCTUnwrap(attachment.hostInterface)
            XCTAssertTrue(try runCommand("bridge", ["-d", "link", "show", "dev", veth]).contains("isolated on"), veth)
            XCTAssertTrue(ContainerIsolation.isIsolated(veth))
        }
        XCTAssertEqual(try inNamespace(a, ["ip", "-6", "addr", "show", "dev", "eth0"]).trimmingCharacters(in: .whitespacesAndNewlines), "",
                       "no IPv6 address on eth0, not even link-local")
        XCTAssertEqual(try inNamespace(a, ["cat", "/proc/sys/net/ipv6/conf/default/disable_ipv6"]).trimmingCharacters(in: .whitespacesAndNewlines), "1")
        XCTAssertEqual(try inNamespace(a, ["cat", "/proc/sys/net/ipv4/ping_group_range"]).split(whereSeparator: \.isWhitespace), ["0", "2147483647"])
        XCTAssertEqual(try String(contentsOfFile: "/proc/sys/net/ipv6/conf/default/disable_ipv6", encoding: .utf8)
            .trimmingCharacters(in: .whitespacesAndNewlines), "0", "the host's own setting is untouched")

        // B serves; the host reaches it (the proxy's path), A does not.
        let root = temporaryDirectory + "/www-b"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        try "b\n".write(toFile: root + "/index.html", atomically: true, encoding: .utf8)
        _ = try startInNamespace(b, ["/usr/bin/busybox", "httpd", "-f", "-p", "80", "-h", root])
        XCTAssertEqual(try HTTPProbe.waitAndGet(second.address), "b\n")
        XCTAssertThrowsError(try get(from: a, second.address, 80),
                             "container A reached container B")

        // A host listener on every address is not reachable through the gateway.
        let hostRoot = temporaryDirectory + "/www-host"
        try FileManager.default.createDirectory(atPath: hostRoot, withIntermediateDirectories: true)
        try "host\n".write(toFile: hostRoot + "/index.html", atomically: true, encoding: .utf8)
        let port = Self.freePort()
        let listener = Process()
        listener.executableURL = URL(fileURLWithPath: "/usr/bin/busybox")
        listener.arguments = ["httpd", "-f", "-p", "0.0.0.0:\(port)", "-h", hostRoot]
        try listener.run()
        defer { kill(listener.processIdentifier, SIGKILL); listener.waitUntilExit() }
        XCTAssertEqual(try Self.waitAndGet("127.0.0.1", port: port), "host\n")
        let gateway = try XCTUnwrap(first.gateway)
        XCTAssertThrowsError(try get(from: a, gateway, port),
                             "container A reached a host listener through the gateway")

        // Without the policy the same connection works: the test proves the policy, not a routing gap.
        try await CNINetwork.removePolicy(bridge: Self.bridge)
        XCTAssertTrue(try get(from: a, gateway, port).hasSuffix("\r\n\r\nhost\n"))
    }

    /// An HTTP/1.0 GET from inside the namespace with busybox nc (busybox-static's wget crashes
    /// on this host); throws when the connection fails.
    func get(from id: String, _ address: String, _ port: Int) throws -> String {
        try inNamespace(id, ["/usr/bin/busybox", "sh", "-c", "printf 'GET / HTTP/1.0\\r\\n\\r\\n' | /usr/bin/busybox nc -w 2 \(address) \(port)"])
    }

    static func waitAndGet(_ address: String, port: Int) throws -> String {
        let deadline = Date().addingTimeInterval(10)
        while true {
            do {
                return try HTTPProbe.get(address, port: UInt16(port))
            } catch {
                if Date() > deadline { throw error }
                Thread.sleep(forTimeInterval: 0.05)
            }
        }
    }

    static func freePort() -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}
