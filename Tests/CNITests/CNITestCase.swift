import CNI
import Foundation
import TestSupport
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// Base for the tests that attach real namespaces with the real plugins on a test bridge. Each
/// test gets fresh IPAM and result folders; tearDown detaches whatever the test attached, stops
/// what it started and deletes the bridge, also when the test failed.
class CNITestCase: XCTestCase {
    static let bridge = "berthcnit0"
    static let subnet = "10.201.0.0/24"
    static let networkName = "berthcnitest"
    static let idPrefix = "cnit-"

    var temporaryDirectory = ""
    var configuration = CNIConfiguration()
    var network: CNINetwork!
    private var containerIDs: [String] = []
    private var processes: [Process] = []
    private var idCounter = 0
    private let runTag = String(UInt32.random(in: 0...UInt32.max), radix: 16)

    override func setUp() async throws {
        try await super.setUp()
        try Self.requireEnvironment()
        temporaryDirectory = NSTemporaryDirectory() + "berth-cni-\(runTag)"
        try FileManager.default.createDirectory(atPath: temporaryDirectory, withIntermediateDirectories: true)
        configuration = CNIConfiguration(
            networkName: Self.networkName, bridge: Self.bridge, subnet: Self.subnet,
            ipamDataDirectory: temporaryDirectory + "/cni/networks")
        network = try CNINetwork(configuration: configuration)
        try await purgeLeftovers()
    }

    override func tearDown() async throws {
        // SIGKILL: Foundation's Process on Linux starts children with the spawning thread's
        // signal mask, in which SIGTERM is blocked.
        for process in processes where process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        processes = []
        var failures: [String] = []
        if let network {
            for id in containerIDs {
                do { try await network.detach(containerID: id) } catch { failures.append("detach \(id): \(error)") }
            }
        }
        containerIDs = []
        _ = try? runCommand("ip", ["link", "delete", Self.bridge])
        try? FileManager.default.removeItem(atPath: temporaryDirectory)
        try await super.tearDown()
        if !failures.isEmpty { XCTFail("tearDown: " + failures.joined(separator: "; ")) }
    }

    /// A container id unique to this run; tearDown detaches it.
    func makeContainerID(_ label: String = "c") -> String {
        idCounter += 1
        let id = "\(Self.idPrefix)\(runTag)-\(label)\(idCounter)"
        containerIDs.append(id)
        return id
    }

    func namespaceName(_ id: String) -> String { "berth-" + id }

    /// A namespace or NAT rules left by an earlier run that crashed would skew the counts.
    private func purgeLeftovers() async throws {
        for id in try network.attachedContainerIDs() where id.hasPrefix(Self.idPrefix) {
            try await network.detach(containerID: id)
        }
        _ = try? runCommand("ip", ["link", "delete", Self.bridge])
    }

    /// Runs `arguments` inside the container's namespace.
    @discardableResult
    func inNamespace(_ id: String, _ arguments: [String]) throws -> String {
        try runCommand("ip", ["netns", "exec", namespaceName(id)] + arguments)
    }

    /// Starts a long-running command in the namespace; tearDown stops it.
    func startInNamespace(_ id: String, _ arguments: [String]) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/sbin/ip")
        process.arguments = ["netns", "exec", namespaceName(id)] + arguments
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        processes.append(process)
        return process
    }

    /// The IPv4 addresses host-local holds in this test's IPAM folder.
    func reservedAddresses() -> [String] {
        let folder = configuration.ipamDataDirectory + "/" + configuration.networkName
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
        return names.filter { $0.split(separator: ".").count == 4 && $0.allSatisfy { $0.isNumber || $0 == "." } }
    }

    /// `iptables -t nat -S` lines that mention the container (the plugin's rule comment).
    func natRules(for id: String) throws -> [String] {
        try runCommand("iptables", ["-w", "-t", "nat", "-S"]).split(separator: "\n").map(String.init)
            .filter { $0.contains("id: \\\"\(id)\\\"") }
    }

    /// NAT chains made by CNI plugins ("-N CNI-…").
    func cniChains() throws -> [String] {
        try runCommand("iptables", ["-w", "-t", "nat", "-S"]).split(separator: "\n").map(String.init)
            .filter { $0.hasPrefix("-N CNI-") }
    }

    func linkExists(_ name: String) -> Bool {
        FileManager.default.fileExists(atPath: "/sys/class/net/\(name)")
    }

    /// The CNI tests need root, the plugins, iproute2, iptables and busybox. Without them the
    /// tests fail under CI and are skipped otherwise.
    static func requireEnvironment() throws {
        var missing: [String] = []
        if getuid() != 0 { missing.append("root") }
        let directories = CNIConfiguration().pluginDirectories
        for plugin in CNIConfiguration.requiredPlugins
        where !directories.contains(where: { FileManager.default.isExecutableFile(atPath: $0 + "/" + plugin) }) {
            missing.append("CNI plugin \(plugin) (in \(directories.joined(separator: " or ")))")
        }
        for tool in ["/usr/sbin/ip", "/usr/bin/busybox"] where !FileManager.default.isExecutableFile(atPath: tool) {
            missing.append(tool)
        }
        if (try? runCommand("iptables", ["--version"])) == nil { missing.append("iptables") }
        guard missing.isEmpty else {
            let message = "CNI tests need \(missing.joined(separator: ", ")); scripts/test.sh installs "
                + "containernetworking-plugins, iproute2, iptables and busybox-static (run it as root)"
            let ci = ProcessInfo.processInfo.environment["CI"].map { !$0.isEmpty && $0 != "0" && $0.lowercased() != "false" } ?? false
            if ci { throw CNITestRequirementError(message: message) }
            throw XCTSkip(message)
        }
    }
}

struct CNITestRequirementError: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}
