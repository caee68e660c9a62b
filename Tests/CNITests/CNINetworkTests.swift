@testable import CNI
import Foundation
import TestSupport
import XCTest

/// Attaching real namespaces to a real bridge with the real plugins.
final class CNINetworkTests: CNITestCase {
    func testAttachAndDetach() async throws {
        let id = makeContainerID()
        let attachment = try await network.attach(containerID: id)
        let path = "/run/netns/berth-\(id)"
        XCTAssertEqual(attachment.containerID, id)
        XCTAssertEqual(attachment.netnsPath, path)
        XCTAssertEqual(attachment.interface, "eth0")
        XCTAssertEqual(attachment.prefixLength, 24)
        XCTAssertEqual(attachment.gateway, "10.201.0.1")
        XCTAssertTrue(try IPv4Network(cidr: Self.subnet).contains(attachment.address), attachment.address)
        XCTAssertNotNil(attachment.mac)
        XCTAssertTrue(FileManager.default.fileExists(atPath: path))
        XCTAssertEqual(network.netnsPath(containerID: id), path)

        let addresses = try inNamespace(id, ["ip", "-4", "addr", "show", "eth0"])
        XCTAssertTrue(addresses.contains("inet \(attachment.address)/24"), addresses)
        let loopback = try inNamespace(id, ["ip", "link", "show", "lo"])
        XCTAssertTrue(loopback.contains("UP"), loopback)
        XCTAssertTrue(try inNamespace(id, ["ip", "-4", "addr", "show", "lo"]).contains("127.0.0.1"))

        let hostSide = try XCTUnwrap(attachment.hostInterface)
        XCTAssertTrue(linkExists(hostSide))
        XCTAssertEqual(try String(contentsOfFile: "/sys/class/net/\(hostSide)/brport/hairpin_mode", encoding: .utf8)
            .trimmingCharacters(in: .whitespacesAndNewlines), "1", "hairpin mode on the bridge port")
        XCTAssertEqual(try String(contentsOfFile: "/sys/class/net/\(hostSide)/master/uevent", encoding: .utf8)
            .contains("INTERFACE=\(Self.bridge)"), true)
        XCTAssertEqual(reservedAddresses(), [attachment.address])
        XCTAssertEqual(try network.attachment(containerID: id), attachment)
        XCTAssertTrue(try network.attachedContainerIDs().contains(id))

        try await network.detach(containerID: id)
        XCTAssertFalse(FileManager.default.fileExists(atPath: path))
        XCTAssertFalse(linkExists(hostSide), "the host end of the veth pair is gone")
        XCTAssertEqual(reservedAddresses(), [])
        XCTAssertNil(try network.attachment(containerID: id))
        XCTAssertFalse(try network.attachedContainerIDs().contains(id))
        XCTAssertFalse(try runCommand("ip", ["netns", "list"]).contains("berth-\(id)"))

        try await network.detach(containerID: id)
        try await network.detach(containerID: makeContainerID("never"))
    }

    /// An attach in two halves, as a launch makes it (the task is created between them): the
    /// namespace first, recorded but not offered as an attachment; then its interfaces. A first
    /// half never followed by the second is cleaned by the next attach, or by a detach.
    func testAttachInTwoHalves() async throws {
        let id = makeContainerID()
        let prepared = try await network.prepareAttachment(containerID: id)
        XCTAssertEqual(prepared.netnsPath, network.netnsPath(containerID: id))
        XCTAssertTrue(NetworkNamespaces.isNamespace(prepared.netnsPath))
        XCTAssertEqual(try inNamespace(id, ["ip", "-o", "link", "show"]).split(separator: "\n").count, 1, "only lo, down")
        XCTAssertNil(try network.attachment(containerID: id), "half an attach is not an attachment")
        XCTAssertTrue(try network.attachedContainerIDs().contains(id), "but it is recorded, for cleanup")
        XCTAssertEqual(reservedAddresses(), [])

        let attachment = try await network.attach(prepared)
        XCTAssertEqual(attachment.netnsPath, prepared.netnsPath)
        XCTAssertTrue(try inNamespace(id, ["ip", "-4", "addr", "show", "eth0"]).contains(attachment.address))
        XCTAssertEqual(try network.attachment(containerID: id), attachment)
        XCTAssertEqual(reservedAddresses(), [attachment.address])
        try await network.detach(containerID: id)

        // The first half alone, twice over: the second attach starts clean, then a detach
        // removes a half-made one.
        _ = try await network.prepareAttachment(containerID: id)
        let again = try await network.attach(containerID: id)
        XCTAssertEqual(reservedAddresses(), [again.address])
        try await network.detach(containerID: id)
        _ = try await network.prepareAttachment(containerID: id)
        try await network.detach(containerID: id)
        XCTAssertFalse(FileManager.default.fileExists(atPath: prepared.netnsPath))
        XCTAssertFalse(try network.attachedContainerIDs().contains(id))
        XCTAssertEqual(reservedAddresses(), [])
    }

    func testGatewayReachableAndMasqueradeRules() async throws {
        let id = makeContainerID()
        let attachment = try await network.attach(containerID: id)
        let gateway = try XCTUnwrap(attachment.gateway)
        try inNamespace(id, ["busybox", "ping", "-c", "1", "-W", "2", gateway])
        try inNamespace(id, ["busybox", "ping", "-c", "1", "-W", "2", attachment.address])

        let rules = try natRules(for: id)
        let jump = try XCTUnwrap(rules.first { $0.hasPrefix("-A POSTROUTING") && $0.contains("-j CNI-") }, "\(rules)")
        XCTAssertTrue(jump.contains("-s \(attachment.address)/32"), jump)
        XCTAssertTrue(rules.contains { $0.contains("-j MASQUERADE") }, "\(rules)")

        try await network.detach(containerID: id)
        XCTAssertEqual(try natRules(for: id), [])
    }

    func testCheck() async throws {
        let id = makeContainerID()
        let attachment = try await network.attach(containerID: id)
        try await network.check(containerID: id)

        try inNamespace(id, ["ip", "addr", "del", "\(attachment.address)/\(attachment.prefixLength)", "dev", "eth0"])
        do {
            try await network.check(containerID: id)
            XCTFail("CHECK passed without the container's address")
        } catch let error as CNIError {
            XCTAssertEqual(error.command, "CHECK")
            XCTAssertEqual(error.containerID, id)
        }
        // The bridge plugin's DEL finds no address and so leaves its NAT rules; detach must not.
        try await network.detach(containerID: id)
        XCTAssertEqual(try natRules(for: id), [])
        XCTAssertEqual(reservedAddresses(), [])

        do {
            try await network.check(containerID: id)
            XCTFail("CHECK passed for a detached container")
        } catch let error as CNINetworkError {
            guard case .notAttached = error else { return XCTFail("\(error)") }
        }
    }

    func testCheckFailsAndDetachCleansUpAfterTheVethIsDeleted() async throws {
        let id = makeContainerID()
        let attachment = try await network.attach(containerID: id)
        try runCommand("ip", ["link", "delete", try XCTUnwrap(attachment.hostInterface)])
        do {
            try await network.check(containerID: id)
            XCTFail("CHECK passed without the container's interface")
        } catch let error as CNIError {
            XCTAssertEqual(error.command, "CHECK")
        }
        try await network.detach(containerID: id)
        XCTAssertEqual(try natRules(for: id), [])
        XCTAssertEqual(reservedAddresses(), [])
        XCTAssertFalse(FileManager.default.fileExists(atPath: attachment.netnsPath))
    }

    func testDetachAfterTheNamespaceWasDeletedByHand() async throws {
        let id = makeContainerID()
        let attachment = try await network.attach(containerID: id)
        try runCommand("ip", ["netns", "delete", namespaceName(id)])
        XCTAssertTrue(try network.attachedContainerIDs().contains(id), "the record remains")
        try await network.detach(containerID: id)
        XCTAssertEqual(try natRules(for: id), [])
        XCTAssertEqual(reservedAddresses(), [])
        XCTAssertFalse(linkExists(try XCTUnwrap(attachment.hostInterface)))
        XCTAssertFalse(try network.attachedContainerIDs().contains(id))
    }

    func testRestartedNetworkReadoptsAndDetaches() async throws {
        let id = makeContainerID()
        let attachment = try await network.attach(containerID: id)
        // A record a killed berthd was writing when it died: dropped at the next start.
        let partial = configuration.resultsDirectory + "/\(id)-killed.json.partial"
        XCTAssertTrue(FileManager.default.createFile(atPath: partial, contents: Data("{".utf8)))

        let restarted = try CNINetwork(configuration: configuration)
        XCTAssertFalse(FileManager.default.fileExists(atPath: partial))
        XCTAssertEqual(try restarted.attachment(containerID: id), attachment)
        XCTAssertTrue(try restarted.attachedContainerIDs().contains(id))
        try await restarted.check(containerID: id)
        try await restarted.detach(containerID: id)
        XCTAssertFalse(FileManager.default.fileExists(atPath: attachment.netnsPath))
        XCTAssertEqual(reservedAddresses(), [])
        XCTAssertEqual(try natRules(for: id), [])
    }

    func testAttachAfterACrashReusesTheNamespace() async throws {
        let id = makeContainerID()
        let first = try await network.attach(containerID: id)
        // A crash before the result was recorded: only the namespace (and the plugins' state) remain.
        try FileManager.default.removeItem(atPath: configuration.resultsDirectory + "/\(id).json")
        let second = try await network.attach(containerID: id)
        XCTAssertEqual(second.netnsPath, first.netnsPath)
        XCTAssertEqual(reservedAddresses(), [second.address], "the first address was released")
        XCTAssertEqual(try natRules(for: id).filter { $0.hasPrefix("-A POSTROUTING") }.count, 1)
        if let oldHostSide = first.hostInterface, oldHostSide != second.hostInterface {
            XCTAssertFalse(linkExists(oldHostSide))
        }
        XCTAssertTrue(try inNamespace(id, ["ip", "-4", "addr", "show", "eth0"]).contains(second.address))

        // A plain file where the namespace should be (a crash between creating and mounting it).
        try await network.detach(containerID: id)
        _ = FileManager.default.createFile(atPath: first.netnsPath, contents: nil)
        let third = try await network.attach(containerID: id)
        XCTAssertTrue(try inNamespace(id, ["ip", "-4", "addr", "show", "eth0"]).contains(third.address))
        try await network.detach(containerID: id)
        XCTAssertFalse(FileManager.default.fileExists(atPath: first.netnsPath))
        XCTAssertEqual(reservedAddresses(), [])
    }

    /// A berthd killed between a detach's DEL and the namespace's removal: the record is marked
    /// detaching before the DEL, so the empty namespace is not handed out again as attached.
    func testDetachCutShortAfterItsDelIsNotReused() async throws {
        let id = makeContainerID()
        let first = try await network.attach(containerID: id)
        let recordPath = configuration.resultsDirectory + "/\(id).json"
        var record = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: recordPath))) as! [String: Any]
        record["detaching"] = true
        try JSONSerialization.data(withJSONObject: record).write(to: URL(fileURLWithPath: recordPath))
        // What the DEL did before the kill: eth0 is gone, the namespace stays.
        _ = try inNamespace(id, ["ip", "link", "delete", "eth0"])
        XCTAssertNil(try network.attachment(containerID: id), "a detach cut short was offered as an attachment")

        let second = try await network.attach(containerID: id)
        XCTAssertEqual(second.netnsPath, first.netnsPath)
        XCTAssertTrue(try inNamespace(id, ["ip", "-4", "addr", "show", "eth0"]).contains(second.address))
        XCTAssertEqual(try network.attachment(containerID: id), second)
        try await network.detach(containerID: id)
        XCTAssertFalse(FileManager.default.fileExists(atPath: first.netnsPath))
        XCTAssertEqual(reservedAddresses(), [])
    }

    func testFailedAttachIsUndone() async throws {
        // A /30 holds the gateway and one container.
        let small = CNIConfiguration(networkName: Self.networkName, bridge: Self.bridge, subnet: "10.201.1.0/30",
                                     ipamDataDirectory: temporaryDirectory + "/small/networks")
        let smallNetwork = try CNINetwork(configuration: small)
        let first = makeContainerID()
        let second = makeContainerID()
        _ = try await smallNetwork.attach(containerID: first)
        do {
            _ = try await smallNetwork.attach(containerID: second)
            XCTFail("a second container fit in a /30")
        } catch let error as CNIError {
            XCTAssertEqual(error.command, "ADD")
            XCTAssertTrue(error.description.contains("no IP addresses available") || error.description.contains("host-local"), "\(error)")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: smallNetwork.netnsPath(containerID: second)))
        XCTAssertNil(try smallNetwork.attachment(containerID: second))
        XCTAssertEqual(try natRules(for: second), [])
        try await smallNetwork.detach(containerID: first)
        XCTAssertEqual(try natRules(for: first), [])
    }

    func testConcurrentAttachments() async throws {
        let ids = (0..<6).map { _ in makeContainerID("p") }
        let network = self.network!
        let attachments = try await withThrowingTaskGroup(of: NetworkAttachment.self) { group in
            for id in ids { group.addTask { try await network.attach(containerID: id) } }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        XCTAssertEqual(Set(attachments.map(\.address)).count, ids.count)
        XCTAssertEqual(Set(reservedAddresses()), Set(attachments.map(\.address)))
        try await withThrowingTaskGroup(of: Void.self) { group in
            for id in ids { group.addTask { try await network.detach(containerID: id) } }
            try await group.waitForAll()
        }
        XCTAssertEqual(reservedAddresses(), [])
        for id in ids { XCTAssertEqual(try natRules(for: id), []) }
    }

    func testPluginsSpeakTheConfiguredVersion() async throws {
        try await network.verifyPlugins()
    }

    func testTwoContainersServeHTTPOnTheirOwnAddresses() async throws {
        var servers: [(address: String, content: String)] = []
        for name in ["alpha", "beta"] {
            let id = makeContainerID(name)
            let attachment = try await network.attach(containerID: id)
            let root = temporaryDirectory + "/www-\(name)"
            try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
            let content = "hello from \(name) at \(attachment.address)\n"
            try content.write(toFile: root + "/index.html", atomically: true, encoding: .utf8)
            _ = try startInNamespace(id, ["/usr/bin/busybox", "httpd", "-f", "-p", "80", "-h", root])
            servers.append((attachment.address, content))
        }
        XCTAssertNotEqual(servers[0].address, servers[1].address)
        for server in servers {
            XCTAssertEqual(try HTTPProbe.waitAndGet(server.address), server.content)
        }
    }
}
