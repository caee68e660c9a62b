import ContainerdClient
import Foundation
import Runtime
import TestSupport
import XCTest

final class CleanupTests: XCTestCase {
    /// Create/delete cycles of whole containers leave nothing behind: no containerd container
    /// or snapshot, no address, no network namespace, no veth, no mount, no folder.
    func testCreateDeleteCyclesLeaveNothingBehind() async throws {
        let f = try RuntimeFixture()
        defer { f.removeBridge() }
        let cycles = Int(ProcessInfo.processInfo.environment["BERTH_RUNTIME_CYCLES"] ?? "") ?? 25
        f.grace = .milliseconds(200)
        let image = try await f.pushHTTPD("berth/rt-cycles")
        try await f.withRuntime { runtime, client in
            // One first container brings the bridge up, so it is not counted as a leak.
            let warmup = try f.deployment("warmup", image: image)
            runtime.deploy(warmup)
            try await runtime.waitForStatus(warmup.runtimeID, timeout: .seconds(60)) { $0.phase == .running }
            try await runtime.delete(warmup.runtimeID)

            let before = try HostSnapshot.take(f)
            let snapshotsBefore = try await client.listSnapshots().count
            for i in 0..<cycles {
                let d = try f.deployment("cycle\(i)", image: image)
                runtime.deploy(d)
                try await runtime.waitForStatus(d.runtimeID, timeout: .seconds(60)) { $0.phase == .running }
                try await runtime.delete(d.runtimeID)
                XCTAssertNil(runtime.status(d.runtimeID))
            }
            let after = try HostSnapshot.take(f)
            XCTAssertEqual(after, before)
            let containers = try await client.listContainers()
            XCTAssertEqual(containers.map(\.id), [])
            let snapshotsAfter = try await client.listSnapshots().count
            XCTAssertEqual(snapshotsAfter, snapshotsBefore)
            let leases = try await client.listLeases()
            XCTAssertEqual(leases, [])
        }
    }
}

/// What a revision could leak on the host.
struct HostSnapshot: Equatable {
    var mounts: [String]
    var netns: [String]
    /// The veths on the fixture's own bridge, by name: a host-wide count would move with other
    /// tests' interfaces (a node torn down in the background by the test before).
    var links: [String]
    var addresses: [String]
    var folders: [String]

    static func take(_ f: RuntimeFixture) throws -> HostSnapshot {
        let mounts = try readProcFile("/proc/self/mounts")
            .split(separator: "\n").map(String.init).filter { $0.contains(f.dataDirectory) || $0.contains(f.netnsDirectory + "/") }
        let netns = ((try? FileManager.default.contentsOfDirectory(atPath: f.netnsDirectory)) ?? []).sorted()
        let links = try runCommand("/sbin/ip", ["-o", "link", "show", "master", f.network.bridge]).split(separator: "\n")
            .compactMap { $0.split(separator: ":").dropFirst().first?.trimmingCharacters(in: .whitespaces) }.sorted()
        let ipam = f.dataDirectory + "/cni"
        let addresses = (FileManager.default.enumerator(atPath: ipam)?.allObjects as? [String] ?? [])
            .filter { $0.split(separator: "/").last.map { $0.split(separator: ".").count == 4 } ?? false }.sorted()
        let folders = ((try? FileManager.default.contentsOfDirectory(atPath: f.dataDirectory + "/containers")) ?? []).sorted()
        return HostSnapshot(mounts: mounts, netns: netns, links: links, addresses: addresses, folders: folders)
    }
}
