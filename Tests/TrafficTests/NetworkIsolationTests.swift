import Daemon
import Foundation
import NodeTestSupport
import TestSupport
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// Berth's network policy with real containers: two tenants' containers reach neither each
/// other, nor the host, nor link-local or private addresses, while the proxy serves both; an
/// address in `cni.egress_allow` is reachable. Every destination is made by the test: a
/// namespace standing in for the outside (a private address allowed, one not, and
/// 169.254.169.254) and a listener on the host's 0.0.0.0. Each is first reached from the host, so
/// a refusal proves the policy, not a missing route.
final class NetworkIsolationTests: XCTestCase {
    /// Run by busybox httpd for /cgi-bin/probe?HOST:PORT: fetches http://HOST:PORT/ from inside the
    /// container and answers "open <page>" or "refused <error>"; ?inet6 lists IPv6 addresses.
    /// busybox httpd passes a CGI's header lines through unchanged, and the proxy's HTTP parser
    /// (llhttp, strict) refuses header lines ended by a bare LF, so the header must end in CRLF.
    static let probeScript = """
        #!/bin/sh
        printf 'Content-Type: text/plain\\r\\n\\r\\n'
        case "$QUERY_STRING" in
          inet6) cat /proc/net/if_inet6 ;;
          *) out=$(printf 'GET / HTTP/1.0\\r\\n\\r\\n' | /bin/busybox nc -w 3 "${QUERY_STRING%:*}" "${QUERY_STRING#*:}" 2>&1)
             case "$out" in
               "HTTP/1."*) echo "open $(echo "$out" | /bin/busybox tail -n 1)" ;;
               *) echo "refused $out" ;;
             esac ;;
        esac

        """

    func testTenantsReachNothingButTheInternetAndWhatTheOperatorAllows() async throws {
        let outside = try OutsideNamespace()
        defer { outside.remove() }
        let hostPage = FileManager.default.temporaryDirectory.appendingPathComponent("berth-iso-host-\(outside.tag)").path
        try FileManager.default.createDirectory(atPath: hostPage, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: hostPage) }
        try "host secret\n".write(toFile: hostPage + "/index.html", atomically: true, encoding: .utf8)
        let hostPort = try NodeFixture.freePort()
        let hostListener = try Self.start("/usr/bin/busybox", ["httpd", "-f", "-p", "0.0.0.0:\(hostPort)", "-h", hostPage])
        defer { kill(hostListener.processIdentifier, SIGKILL); hostListener.waitUntilExit() }

        // The controls: every listener answers the host.
        for address in ["127.0.0.1", outside.hostAddress] {
            let page = try await Self.fetch(address, hostPort)
            XCTAssertEqual(page, "host secret\n", address)
        }
        for address in [outside.allowed, outside.refused, OutsideNamespace.metadata] {
            let page = try await Self.fetch(address, OutsideNamespace.port)
            XCTAssertEqual(page, "outside\n", address)
        }

        let f = try NodeFixture { $0.cniEgressAllow = ["\(outside.allowed)/32"] }
        try await f.start()
        do {
            try await checkPolicy(f, outside: outside, hostPort: hostPort)
        } catch {
            try? await f.stop()
            throw error
        }
        try await f.stop()
    }

    private func checkPolicy(_ f: NodeFixture, outside: OutsideNamespace, hostPort: Int) async throws {
        let image = TestImage(layers: [TestLayer.busybox().adding("/www/cgi-bin/probe", contents: Self.probeScript, mode: 0o755)],
                              cmd: ["sh", "-c", "hostname > /www/index.html && exec httpd -f -p $PORT -h /www"])
        let reference = try await TestRegistry.push(image, to: f.env.registry, repository: "berth/tr-isolation", tag: "1").reference
        let alice = try await f.deploy(["name": "tenant-a", "image": reference, "ram": "64Mi"], token: try await f.token("alice"))
        let bob = try await f.deploy(["name": "tenant-b", "image": reference, "ram": "64Mi"], token: try await f.token("bob"))
        let addressA = try address(of: alice, f), addressB = try address(of: bob, f)
        let gateway = Self.gateway(of: f.configuration.cniSubnet)

        // The proxy serves both, and the host reaches each container directly.
        let pageA = try await f.invoke("tenant-a.localhost").text
        let pageB = try await f.invoke("tenant-b.localhost").text
        let direct = try await Self.fetch(addressB, 8080)
        XCTAssertEqual(pageA, "tenant-a\n")
        XCTAssertEqual(pageB, "tenant-b\n")
        XCTAssertEqual(direct, "tenant-b\n")

        func probe(_ from: String, _ target: String) async throws -> String {
            try await f.invoke("\(from).localhost", "/cgi-bin/probe?\(target)", timeout: 20).text
        }
        let refused: [(from: String, target: String)] = [
            ("tenant-a", "\(addressB):8080"),                              // another tenant's container
            ("tenant-b", "\(addressA):8080"),
            ("tenant-a", "\(gateway):\(hostPort)"),                        // the host through the gateway
            ("tenant-b", "\(gateway):\(hostPort)"),
            ("tenant-a", "\(outside.hostAddress):\(hostPort)"),            // another host address
            ("tenant-a", "\(OutsideNamespace.metadata):\(OutsideNamespace.port)"),  // link-local metadata
            ("tenant-b", "\(OutsideNamespace.metadata):\(OutsideNamespace.port)"),
            ("tenant-a", "\(outside.refused):\(OutsideNamespace.port)"),   // a private address not allowed
        ]
        for (from, target) in refused {
            let answer = try await probe(from, target)
            XCTAssertTrue(answer.hasPrefix("refused"), "\(from) reached \(target): \(answer)")
            XCTAssertFalse(answer.contains("secret") || answer.contains("outside") || answer.contains("tenant-"), answer)
        }
        // The allowed private address is reachable: routing works, the allow list is exact.
        for from in ["tenant-a", "tenant-b"] {
            let answer = try await probe(from, "\(outside.allowed):\(OutsideNamespace.port)")
            XCTAssertEqual(answer, "open outside\n", from)
        }
        // No IPv6 on the container's interface; loopback keeps ::1.
        let inet6 = try await probe("tenant-a", "inet6")
        let interfaces = inet6.split(separator: "\n").compactMap { $0.split(whereSeparator: \.isWhitespace).last.map(String.init) }
        XCTAssertEqual(Set(interfaces).subtracting(["lo"]), [], inet6)
    }

    private func address(of id: String, _ f: NodeFixture) throws -> String {
        let node = try XCTUnwrap(f.node)
        let status = node.runtime.statuses.first { $0.key.hasPrefix(id + "-r") }?.value
        return try XCTUnwrap(status?.endpoint?.address, "no address for \(id)")
    }

    /// The bridge plugin's gateway: the subnet's first address.
    static func gateway(of subnet: String) -> String {
        let octets = subnet.split(separator: "/")[0].split(separator: ".")
        return octets.dropLast().joined(separator: ".") + "." + String(Int(octets[3])! + 1)
    }

    static func start(_ executable: String, _ arguments: [String]) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        return process
    }

    /// GET http://ADDRESS:PORT/ from the host, retried until the listener is up (10 s).
    static func fetch(_ address: String, _ port: Int) async throws -> String {
        let deadline = ContinuousClock.now + .seconds(10)
        while true {
            do {
                let reply = try runCommand("/usr/bin/busybox", ["sh", "-c", "printf 'GET / HTTP/1.0\\r\\n\\r\\n' | /usr/bin/busybox nc -w 2 \(address) \(port)"])
                guard let body = reply.range(of: "\r\n\r\n") else { throw TestSupportError("no HTTP reply from \(address):\(port): \(reply)") }
                return String(reply[body.upperBound...])
            } catch {
                if ContinuousClock.now > deadline { throw error }
                try await Task.sleep(for: .milliseconds(100))
            }
        }
    }
}

/// A network namespace joined to the host by a veth pair, standing in for the world outside
/// the node: two private addresses (one the test allows, one it does not) and 169.254.169.254,
/// routed from the host through the veth, with an HTTP listener on all of them.
final class OutsideNamespace: @unchecked Sendable {
    static let metadata = "169.254.169.254"
    static let port = 8099
    let tag = String(UInt32.random(in: 0...0xffffff), radix: 16)
    let name: String
    let hostSide: String
    let prefix: String
    let base: Int
    private var listener: Process?
    private let page: String

    var hostAddress: String { prefix + ".\(base + 1)" }
    var allowed: String { prefix + ".\(base + 2)" }
    var refused: String { prefix + ".\(base + 3)" }

    init() throws {
        name = "berth-iso-\(tag)"
        hostSide = "bisoh\(tag)"
        // 10.222.x.0/29: clear of the node fixtures' 10.160–179, the runtime tests' 10.180–199
        // and the CNI tests' 10.201.
        prefix = "10.222.\(Int.random(in: 0...255))"
        base = 8 * Int.random(in: 0...31)
        page = FileManager.default.temporaryDirectory.appendingPathComponent(name).path
        do {
            try setUp()
        } catch {
            remove()
            throw error
        }
    }

    private func setUp() throws {
        let peer = "bisoc\(tag)"
        let ip = "/sbin/ip"
        try runCommand(ip, ["netns", "add", name])
        try runCommand(ip, ["link", "add", hostSide, "type", "veth", "peer", "name", peer])
        try runCommand(ip, ["link", "set", peer, "netns", name])
        try runCommand(ip, ["addr", "add", hostAddress + "/29", "dev", hostSide])
        try runCommand(ip, ["link", "set", hostSide, "up"])
        try runCommand(ip, ["route", "add", Self.metadata + "/32", "dev", hostSide, "src", hostAddress])
        for address in [allowed + "/29", refused + "/29", Self.metadata + "/32"] {
            try runCommand(ip, ["netns", "exec", name, "ip", "addr", "add", address, "dev", peer])
        }
        try runCommand(ip, ["netns", "exec", name, "ip", "link", "set", peer, "up"])
        try runCommand(ip, ["netns", "exec", name, "ip", "link", "set", "lo", "up"])
        try FileManager.default.createDirectory(atPath: page, withIntermediateDirectories: true)
        try "outside\n".write(toFile: page + "/index.html", atomically: true, encoding: .utf8)
        listener = try NetworkIsolationTests.start(ip, ["netns", "exec", name, "/usr/bin/busybox", "httpd", "-f", "-p", String(Self.port), "-h", page])
    }

    func remove() {
        if let listener, listener.isRunning {
            kill(listener.processIdentifier, SIGKILL)
            listener.waitUntilExit()
        }
        listener = nil
        _ = try? runCommand("/sbin/ip", ["route", "delete", Self.metadata + "/32", "dev", hostSide])
        _ = try? runCommand("/sbin/ip", ["link", "delete", hostSide])
        _ = try? runCommand("/sbin/ip", ["netns", "delete", name])
        try? FileManager.default.removeItem(atPath: page)
    }
}
