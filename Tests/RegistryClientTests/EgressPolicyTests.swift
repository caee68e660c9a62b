@testable import RegistryClient
import XCTest

/// The pure rules of the egress policy: which addresses are not public, which hosts the
/// operator allowed, which URLs may be spoken to at all.
final class EgressPolicyTests: XCTestCase {
    func testIPv4Classes() {
        let expected: [(String, AddressClass)] = [
            ("8.8.8.8", .global), ("1.1.1.1", .global), ("93.184.216.34", .global),
            ("127.0.0.1", .loopback), ("127.255.255.254", .loopback),
            ("0.0.0.0", .unspecified), ("0.1.2.3", .unspecified),
            ("169.254.169.254", .linkLocal), ("169.254.0.1", .linkLocal), ("169.255.0.1", .global),
            ("10.0.0.1", .privateNetwork), ("10.255.255.255", .privateNetwork),
            ("172.16.0.1", .privateNetwork), ("172.31.255.255", .privateNetwork),
            ("172.15.255.255", .global), ("172.32.0.1", .global),
            ("192.168.1.1", .privateNetwork), ("192.169.0.1", .global),
            ("100.64.0.1", .sharedAddressSpace), ("100.100.100.200", .sharedAddressSpace),
            ("100.127.255.255", .sharedAddressSpace), ("100.63.255.255", .global), ("100.128.0.1", .global),
            ("224.0.0.1", .multicast), ("239.255.255.250", .multicast),
            ("240.0.0.1", .reserved), ("255.255.255.255", .reserved),
            ("198.18.0.1", .reserved), ("192.0.2.1", .reserved), ("192.0.0.170", .reserved),
        ]
        for (address, kind) in expected {
            XCTAssertEqual(AddressClass.of(address), kind, address)
        }
    }

    func testIPv6Classes() {
        let expected: [(String, AddressClass)] = [
            ("2606:4700:4700::1111", .global), ("2a00:1450:4001::200e", .global),
            ("::1", .loopback), ("[::1]", .loopback), ("::", .unspecified),
            ("fe80::1", .linkLocal), ("febf::1", .linkLocal),
            ("fc00::1", .privateNetwork), ("fd00::1", .privateNetwork), ("fd00:ec2::254", .privateNetwork),
            ("fec0::1", .privateNetwork), ("ff02::1", .multicast), ("ff05::2", .multicast),
            ("2001:db8::1", .reserved), ("100::1", .reserved),
            // Forms that carry an IPv4 address reach it, so they are classified by it.
            ("::ffff:127.0.0.1", .loopback), ("::ffff:7f00:1", .loopback),
            ("::ffff:169.254.169.254", .linkLocal), ("::ffff:10.1.2.3", .privateNetwork),
            ("::ffff:0.0.0.0", .unspecified), ("::ffff:8.8.8.8", .global),
            ("64:ff9b::a9fe:a9fe", .linkLocal), ("64:ff9b::808:808", .global), ("64:ff9b:1::1", .privateNetwork),
            ("2002:7f00:1::", .loopback), ("2002:0808:0808::1", .global),
            ("::127.0.0.1", .reserved), ("::8.8.8.8", .reserved),
        ]
        for (address, kind) in expected {
            XCTAssertEqual(AddressClass.of(address), kind, address)
        }
    }

    func testNotAddresses() {
        for text in ["", "localhost", "registry.example", "127.1", "0x7f000001", "2130706433", "1.2.3.4.5", "[::1"] {
            XCTAssertNil(AddressClass.of(text), text)
        }
    }

    func testCanonicalText() {
        XCTAssertEqual(IPAddressBytes("::ffff:127.0.0.1")?.text, "::ffff:127.0.0.1")
        XCTAssertEqual(IPAddressBytes("FD00:0:0::1")?.text, "fd00::1")
        XCTAssertEqual(IPAddressBytes("10.0.0.1")?.text, "10.0.0.1")
    }

    func testAllowedHosts() {
        let policy = EgressPolicy(allowedHosts: ["Registry.LAN", "10.0.0.6:5000", "[fd00::1]:5000", "fd00::2"])
        XCTAssertTrue(policy.allowsAnyAddress(host: "registry.lan", port: 443), "an entry without a port covers every port")
        XCTAssertTrue(policy.allowsAnyAddress(host: "REGISTRY.lan", port: 6000))
        XCTAssertTrue(policy.allowsAnyAddress(host: "10.0.0.6", port: 5000))
        XCTAssertFalse(policy.allowsAnyAddress(host: "10.0.0.6", port: 5001), "an entry with a port covers that port only")
        XCTAssertFalse(policy.allowsAnyAddress(host: "10.0.0.7", port: 5000))
        XCTAssertTrue(policy.allowsAnyAddress(host: "fd00::1", port: 5000))
        XCTAssertTrue(policy.allowsAnyAddress(host: "[fd00::1]", port: 5000))
        XCTAssertFalse(policy.allowsAnyAddress(host: "fd00::1", port: 443))
        XCTAssertTrue(policy.allowsAnyAddress(host: "fd00::2", port: 1))
        XCTAssertFalse(policy.allowsAnyAddress(host: "sub.registry.lan", port: 443), "no suffix matching")
    }

    func testConfigurationAllowsInsecureHostsAllowPrivateAndMirrors() {
        let configuration = RegistryConfiguration(insecureHosts: ["127.0.0.1:5000"], mirrors: ["docker.io": ["http://10.0.0.5:5001/prefix"]],
                                                  allowPrivateHosts: ["registry.lan"])
        let policy = configuration.egressPolicy
        XCTAssertTrue(policy.allowsAnyAddress(host: "127.0.0.1", port: 5000))
        XCTAssertTrue(policy.allowsAnyAddress(host: "10.0.0.5", port: 5001))
        XCTAssertTrue(policy.allowsAnyAddress(host: "registry.lan", port: 443))
        XCTAssertFalse(policy.allowsAnyAddress(host: "127.0.0.1", port: 5001))
        XCTAssertEqual(policy.insecureHosts, ["127.0.0.1:5000"], "allow_private does not make a host plain HTTP")
    }

    /// Schemes and plain HTTP are decided before any lookup or connection.
    func testSchemesAndPlainHTTP() async throws {
        let connector = EgressConnector(policy: EgressPolicy(insecureHosts: ["10.0.0.5:5000"]), configuration: .init())
        addTeardownBlock { try? await connector.shutdown() }
        func refusal(_ url: String, _ purpose: EgressPurpose = .redirect, plain: Bool = false) -> String? {
            do {
                _ = try connector.checkedTarget(url, purpose: purpose, plainHTTPAccepted: plain)
                return nil
            } catch {
                return "\(error)"
            }
        }
        XCTAssertEqual(refusal("http+unix://%2Fvar%2Frun%2Fdocker.sock/v2/", .tokenRealm),
                       "token realm http+unix:///var/run/docker.sock refused: only http and https URLs are allowed")
        XCTAssertEqual(refusal("unix:///var/run/docker.sock"),
                       "registry redirect to unix:///var/run/docker.sock refused: not an http or https URL with a host")
        XCTAssertEqual(refusal("file:///etc/shadow", .tokenRealm),
                       "token realm file:///etc/shadow refused: not an http or https URL with a host")
        XCTAssertEqual(refusal("ftp://mirror.example/x"), "registry redirect to ftp://mirror.example refused: only http and https URLs are allowed")
        XCTAssertEqual(refusal("http://storage.example/blob"),
                       "registry redirect to http://storage.example refused: plain HTTP is allowed only for hosts in registry.insecure",
                       "an HTTPS registry cannot send its requests to plain HTTP")
        XCTAssertNil(refusal("http://storage.example/blob", plain: true), "a plain-HTTP registry may redirect to plain HTTP")
        XCTAssertNil(refusal("http://10.0.0.5:5000/token", .tokenRealm))
        XCTAssertNil(refusal("HTTPS://Storage.Example/blob?sig=1"))
    }
}
