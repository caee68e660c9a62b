@testable import CNI
import Foundation
import JSONValue
import XCTest

/// Configuration, results and errors: no root, no plugins run.
final class CNIConfigurationTests: XCTestCase {
    func testConflistShape() throws {
        let configuration = CNIConfiguration(networkName: "berth", bridge: "berth0", subnet: "10.89.0.0/16",
                                             ipamDataDirectory: "/var/lib/berth/cni/networks", mtu: 1400)
        let json = try XCTUnwrap(try JSONSerialization.jsonObject(with: configuration.conflist()) as? [String: Any])
        XCTAssertEqual(json["cniVersion"] as? String, "1.0.0")
        XCTAssertEqual(json["name"] as? String, "berth")
        let plugins = try XCTUnwrap(json["plugins"] as? [[String: Any]])
        XCTAssertEqual(plugins.count, 1)
        let bridge = plugins[0]
        XCTAssertEqual(bridge["type"] as? String, "bridge")
        XCTAssertEqual(bridge["bridge"] as? String, "berth0")
        XCTAssertEqual(bridge["isGateway"] as? Bool, true)
        XCTAssertEqual(bridge["ipMasq"] as? Bool, true)
        XCTAssertEqual(bridge["hairpinMode"] as? Bool, true)
        XCTAssertEqual(bridge["mtu"] as? Int, 1400)
        XCTAssertNil(bridge["cniVersion"], "the list carries the version, not each plugin")
        let ipam = try XCTUnwrap(bridge["ipam"] as? [String: Any])
        XCTAssertEqual(ipam["type"] as? String, "host-local")
        XCTAssertEqual(ipam["dataDir"] as? String, "/var/lib/berth/cni/networks")
        let ranges = try XCTUnwrap(ipam["ranges"] as? [[[String: Any]]])
        XCTAssertEqual(ranges.first?.first?["subnet"] as? String, "10.89.0.0/16")
        let routes = try XCTUnwrap(ipam["routes"] as? [[String: Any]])
        XCTAssertEqual(routes.first?["dst"] as? String, "0.0.0.0/0")

        let withoutMasquerade = CNIConfiguration(ipMasq: false)
        let plain = try XCTUnwrap(try JSONSerialization.jsonObject(with: withoutMasquerade.conflist()) as? [String: Any])
        let plainBridge = try XCTUnwrap((plain["plugins"] as? [[String: Any]])?.first)
        XCTAssertEqual(plainBridge["ipMasq"] as? Bool, false)
        XCTAssertNil(plainBridge["mtu"])
    }

    func testLoopbackConflist() throws {
        let json = try XCTUnwrap(try JSONSerialization.jsonObject(with: CNIConfiguration().loopbackConflist()) as? [String: Any])
        XCTAssertEqual(json["cniVersion"] as? String, "1.0.0")
        let plugins = try XCTUnwrap(json["plugins"] as? [[String: Any]])
        XCTAssertEqual(plugins.map { $0["type"] as? String }, ["loopback"])
    }

    func testDefaults() {
        let configuration = CNIConfiguration(ipamDataDirectory: "/data/cni/networks")
        XCTAssertEqual(configuration.networkName, "berth")
        XCTAssertEqual(configuration.bridge, "berth0")
        XCTAssertEqual(configuration.subnet, "10.89.0.0/16")
        XCTAssertTrue(configuration.ipMasq)
        XCTAssertEqual(configuration.pluginDirectories, ["/usr/lib/cni", "/opt/cni/bin"])
        XCTAssertEqual(configuration.netnsDirectory, "/run/netns")
        XCTAssertEqual(configuration.cniVersion, "1.0.0")
        XCTAssertEqual(configuration.resultsDirectory, "/data/cni/results")
        XCTAssertEqual(configuration.interfaceName, "eth0")
    }

    func testMalformedSubnetsAreRejectedClearly() {
        let cases: [(String, String)] = [
            ("10.89.0.0", "CIDR notation"),
            ("10.89.0/16", "CIDR notation"),
            ("10.89.0.256/16", "CIDR notation"),
            ("banana", "CIDR notation"),
            ("10.89.0.0/33", "prefix length"),
            ("10.89.0.0/31", "prefix length"),
            ("10.89.0.0/0", "prefix length"),
            ("10.89.0.1/16", "did you mean 10.89.0.0/16"),
            ("fd00::/64", "CIDR notation"),
        ]
        for (subnet, expected) in cases {
            let configuration = CNIConfiguration(subnet: subnet)
            XCTAssertThrowsError(try configuration.conflist(), subnet) { error in
                let text = "\(error)"
                XCTAssertTrue(text.contains("invalid CNI subnet \"\(subnet)\""), text)
                XCTAssertTrue(text.contains(expected), text)
            }
            XCTAssertThrowsError(try CNINetwork(configuration: configuration), subnet) { error in
                guard case CNIConfigurationError.invalidSubnet = error else { return XCTFail("\(error)") }
            }
        }
        XCTAssertNoThrow(try IPv4Network(cidr: "10.201.0.0/24"))
        XCTAssertNoThrow(try IPv4Network(cidr: "172.16.0.0/12"))
    }

    func testOtherInvalidValues() {
        XCTAssertThrowsError(try CNIConfiguration(bridge: "a-bridge-name-too-long").validate())
        XCTAssertThrowsError(try CNIConfiguration(bridge: "br 0").validate())
        XCTAssertThrowsError(try CNIConfiguration(networkName: "").validate())
        XCTAssertThrowsError(try CNIConfiguration(networkName: "a/b").validate())
        XCTAssertThrowsError(try CNIConfiguration(cniVersion: "0.3.1").validate()) { error in
            XCTAssertTrue("\(error)".contains("0.4.0, 1.0.0"), "\(error)")
        }
        XCTAssertThrowsError(try CNIConfiguration(mtu: 10).validate())
        XCTAssertThrowsError(try CNIConfiguration(ipamDataDirectory: "relative/dir").validate())
        XCTAssertNoThrow(try CNIConfiguration(cniVersion: "0.4.0").validate())
    }

    func testMissingPluginDirectoryIsAClearError() {
        let configuration = CNIConfiguration(pluginDirectories: ["/nonexistent/cni", "/also/missing"])
        XCTAssertThrowsError(try CNINetwork(configuration: configuration)) { error in
            XCTAssertEqual(error as? CNIConfigurationError,
                           .pluginsNotFound(["bridge", "host-local", "loopback"], searched: ["/nonexistent/cni", "/also/missing"]))
            let text = "\(error)"
            XCTAssertTrue(text.contains("bridge, host-local, loopback not found in /nonexistent/cni, /also/missing"), text)
        }
        XCTAssertThrowsError(try CNINetwork(configuration: CNIConfiguration(pluginDirectories: []))) { error in
            XCTAssertTrue("\(error)".contains("no plugin directories"), "\(error)")
        }
    }

    func testOnePluginMissingIsNamed() throws {
        let directory = NSTemporaryDirectory() + "berth-cni-plugins-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        for plugin in ["bridge", "loopback"] {
            _ = FileManager.default.createFile(atPath: directory + "/" + plugin, contents: Data("#!/bin/sh\n".utf8),
                                           attributes: [.posixPermissions: 0o755])
        }
        XCTAssertThrowsError(try CNINetwork(configuration: CNIConfiguration(pluginDirectories: [directory]))) { error in
            XCTAssertEqual(error as? CNIConfigurationError, .pluginsNotFound(["host-local"], searched: [directory]))
        }
    }

    func testInvalidContainerIDs() async throws {
        let directory = NSTemporaryDirectory() + "berth-cni-ids-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        for plugin in CNIConfiguration.requiredPlugins {
            _ = FileManager.default.createFile(atPath: directory + "/" + plugin, contents: Data("#!/bin/sh\nexit 1\n".utf8),
                                           attributes: [.posixPermissions: 0o755])
        }
        let network = try CNINetwork(configuration: CNIConfiguration(pluginDirectories: [directory],
                                                                    ipamDataDirectory: directory + "/networks"))
        for id in ["", "../etc", "a/b", "-leading", "has space", String(repeating: "x", count: 201)] {
            do {
                _ = try await network.attach(containerID: id)
                XCTFail("attached \(id)")
            } catch let error as CNINetworkError {
                guard case .invalidContainerID = error else { return XCTFail("\(error)") }
            }
            XCTAssertThrowsError(try network.attachment(containerID: id))
        }
        XCTAssertNil(try network.attachment(containerID: "never-attached"))
        XCTAssertEqual(network.netnsPath(containerID: "abc"), "/run/netns/berth-abc")
    }

    func testAttachmentFromVersion1Result() throws {
        let result = try JSONValue.parse(Data("""
        {"cniVersion":"1.0.0","interfaces":[{"name":"berth0","mac":"aa:aa:aa:aa:aa:aa"},
         {"name":"veth1234","mac":"bb:bb:bb:bb:bb:bb"},
         {"name":"eth0","mac":"cc:cc:cc:cc:cc:cc","sandbox":"/run/netns/berth-x"}],
         "ips":[{"interface":2,"address":"10.89.0.5/16","gateway":"10.89.0.1"}],
         "routes":[{"dst":"0.0.0.0/0"}],"dns":{}}
        """.utf8))
        let attachment = try NetworkAttachment(result: result, containerID: "x", netnsPath: "/run/netns/berth-x",
                                               interface: "eth0", bridge: "berth0")
        XCTAssertEqual(attachment, NetworkAttachment(containerID: "x", netnsPath: "/run/netns/berth-x", interface: "eth0",
                                                     address: "10.89.0.5", prefixLength: 16, gateway: "10.89.0.1",
                                                     mac: "cc:cc:cc:cc:cc:cc", hostInterface: "veth1234"))
    }

    func testAttachmentFromVersion04ResultSkipsIPv6() throws {
        let result = try JSONValue.parse(Data("""
        {"cniVersion":"0.4.0","interfaces":[{"name":"eth0","sandbox":"/run/netns/berth-y"}],
         "ips":[{"version":"6","interface":0,"address":"fd00::5/64"},
                {"version":"4","interface":0,"address":"10.1.2.3/24","gateway":"10.1.2.1"}]}
        """.utf8))
        let attachment = try NetworkAttachment(result: result, containerID: "y", netnsPath: "/p", interface: "eth0", bridge: "b")
        XCTAssertEqual(attachment.address, "10.1.2.3")
        XCTAssertEqual(attachment.prefixLength, 24)
        XCTAssertNil(attachment.hostInterface)
        XCTAssertThrowsError(try NetworkAttachment(result: .object([:]), containerID: "z", netnsPath: "/p", interface: "eth0", bridge: "b"))
    }

    func testJSONValueRoundTrip() throws {
        let text = #"{"a":1,"b":[true,null,"x",1.5],"c":{"d":"e/f"}}"#
        let value = try JSONValue.parse(Data(text.utf8))
        XCTAssertEqual(String(decoding: try value.serialized(), as: UTF8.self), text)
    }

    func testIptablesRuleSplitting() {
        let line = #"-A POSTROUTING -s 10.201.0.2/32 -m comment --comment "name: \"berth\" id: \"abc\"" -j CNI-97072d600847dd28dfb59332"#
        XCTAssertEqual(MasqueradeCleanup.words(line), [
            "-A", "POSTROUTING", "-s", "10.201.0.2/32", "-m", "comment", "--comment", #"name: "berth" id: "abc""#,
            "-j", "CNI-97072d600847dd28dfb59332",
        ])
    }

    func testPluginErrorDescription() {
        let error = CNIError(code: 7, message: "bad config", details: "missing bridge", plugin: "bridge", command: "ADD", containerID: "c1")
        XCTAssertEqual(error.description, "CNI bridge ADD for container c1 failed (code 7: invalid network config): bad config (missing bridge)")
    }
}
