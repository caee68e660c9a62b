import ContainerdClient
import Foundation
import ImagePull
import OCI
import RegistryClient
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Runtime
import TestSupport
import XCTest

/// Containers in user namespaces on the real containerd and runc: root inside, an unprivileged
/// range outside, the image's files owned by root as the container sees them, and one remapped
/// snapshot per image, made once and kept as long as the image.
final class UserNamespaceTests: XCTestCase {
    /// Written into the docroot by the entrypoint, then served: what the container itself sees.
    static let probeScript = """
        cat /proc/self/uid_map > /www/uid_map; cat /proc/self/gid_map > /www/gid_map; id -u > /www/uid
        stat -c '%u:%g %a' / /bin/busybox /etc/passwd /www/index.html /tmp > /www/owners
        (echo written > /written && cat /written && echo tmp > /tmp/t && cat /tmp/t) > /www/write 2>&1
        (ls /sys/class | head -3; ls /sys/fs/cgroup | head -3) > /www/sys 2>&1
        (grep -E ' /dev/mqueue | /dev/pts ' /proc/self/mounts | cut -d' ' -f2,3) > /www/mounts
        (cat /etc/hosts /etc/hostname /etc/resolv.conf > /dev/null && echo readable) > /www/etc 2>&1
        (unshare -U true && echo allowed || echo refused) > /www/unshare 2>&1
        cat /proc/sys/net/ipv4/ip_unprivileged_port_start > /www/ports
        exec httpd -f -p 80 -h /www
        """

    func testContainerRootIsAnUnprivilegedHostRangeOnARemappedImage() async throws {
        try Self.requireUserNamespaces()
        let f = try RuntimeFixture()
        defer { f.removeBridge() }
        let mapping = try UserNamespaceMapping(base: 0x7100_0000)
        f.userNamespace = mapping
        Self.makeContainerdStateTraversable(f)
        let image = try await f.pushShell("berth/rt-userns", Self.probeScript)
        let one = try f.deployment("userns-one", image: image)
        let two = try f.deployment("userns-two", image: image)
        try await f.withRuntime { runtime, client in
            // Two revisions of one image starting at once share one remap.
            let remapsBefore = RemappedImage.remapsMade
            runtime.deploy(one)
            runtime.deploy(two)
            let status = try await runtime.waitForStatus(one.runtimeID, timeout: .seconds(90)) { $0.phase == .running }
            let other = try await runtime.waitForStatus(two.runtimeID, timeout: .seconds(90)) { $0.phase == .running }
            XCTAssertEqual(RemappedImage.remapsMade - remapsBefore, 1, "one remap for two revisions of one image")
            let address = try XCTUnwrap(status.address)
            let pid = try XCTUnwrap(status.pid)

            // Inside: root, in a namespace mapping 0 onto the range (not the host's "0 0 4294967295").
            let uidMap = try await fetch(address, "/uid_map")
            XCTAssertEqual(Self.fields(uidMap), ["0", String(mapping.base), "65536"])
            let gidMap = try await fetch(address, "/gid_map")
            XCTAssertEqual(Self.fields(gidMap), ["0", String(mapping.base), "65536"])
            let uid = try await fetch(address, "/uid")
            XCTAssertEqual(uid, "0\n")
            // Outside: the task's process is the range's first id, not root.
            let hostStatus = try String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)
            let uidLine = hostStatus.split(separator: "\n").first { $0.hasPrefix("Uid:") }.map(String.init) ?? ""
            XCTAssertEqual(Self.fields(uidLine), ["Uid:"] + Array(repeating: String(mapping.base), count: 4))
            let otherStatus = try String(contentsOfFile: "/proc/\(try XCTUnwrap(other.pid))/status", encoding: .utf8)
            XCTAssertTrue(otherStatus.contains("Uid:\t\(mapping.base)\t"), otherStatus)

            // The image's files are root's as the container sees them, modes kept; / is too
            // (the writable layer's upper folder belongs to the range's root).
            let owners = try await fetch(address, "/owners")
            XCTAssertEqual(owners.split(separator: "\n").map(String.init),
                           ["0:0 755", "0:0 755", "0:0 644", "0:0 644", "0:0 1777"])
            // Writing to the ephemeral storage works, and lands on the host as the range's root.
            let write = try await fetch(address, "/write")
            XCTAssertEqual(write, "written\ntmp\n")
            var written = stat()
            XCTAssertEqual(stat(f.dataDirectory + "/containers/\(one.runtimeID)/ephemeral/upper/written", &written), 0)
            XCTAssertEqual(written.st_uid, mapping.base)
            XCTAssertEqual(written.st_gid, mapping.base)
            // /sys is the host's, bound read-only; cgroups, mqueue, devpts and Berth's files work.
            let sys = try await fetch(address, "/sys")
            XCTAssertFalse(sys.isEmpty)
            XCTAssertFalse(sys.contains("No such file"), sys)
            let mounts = try await fetch(address, "/mounts")
            XCTAssertTrue(mounts.contains("/dev/mqueue mqueue"), mounts)
            XCTAssertTrue(mounts.contains("/dev/pts devpts"), mounts)
            let etc = try await fetch(address, "/etc")
            XCTAssertEqual(etc, "readable\n")
            // Set from the host in the container's network namespace (root here has no
            // CAP_NET_BIND_SERVICE over it): what lets httpd above bind port 80.
            let ports = try await fetch(address, "/ports")
            XCTAssertEqual(ports, "0\n")

            // One remapped snapshot, committed, labelled Berth's, and no prepare left over.
            let snapshots = try await client.listSnapshots()
            let remaps = snapshots.filter { $0.name.hasPrefix("berth-remap/") }
            XCTAssertEqual(remaps.count, 1, "\(snapshots.map(\.name))")
            let remap = try XCTUnwrap(remaps.first)
            XCTAssertEqual(remap.kind, .committed)
            XCTAssertEqual(remap.labels["berth.managed"], "true")
            XCTAssertEqual(remap.labels["berth.userns"], mapping.description)
            XCTAssertEqual(remap.labels["berth.remap.chain"], remap.parent)
            XCTAssertFalse(snapshots.contains { $0.name.hasPrefix("berth-remap-prepare/") })
            let container = try await client.container(id: one.runtimeID)
            XCTAssertEqual(container?.labels["berth.userns"], mapping.description)

            // A later revision of the image reuses it.
            let three = try f.deployment("userns-three", image: image)
            runtime.deploy(three)
            try await runtime.waitForStatus(three.runtimeID, timeout: .seconds(60)) { $0.phase == .running }
            XCTAssertEqual(RemappedImage.remapsMade - remapsBefore, 1, "the third revision reuses the remapped snapshot")

            // The image keeps the remapped snapshot after its revisions are gone (a collection
            // runs when a lease is deleted with sync), and deleting the image takes it away.
            for d in [one, two, three] { try await runtime.delete(d.runtimeID) }
            try await Self.collectGarbage(client)
            let kept = try await client.statSnapshot(remap.name)
            XCTAssertNotNil(kept, "the image's config blob references the remapped snapshot")
            try await client.deleteImage(named: try XCTUnwrap(container?.image), sync: true)
            try await Self.collectGarbage(client)
            let collected = try await client.statSnapshot(remap.name)
            XCTAssertNil(collected, "the remapped snapshot goes with its image")
        }
    }

    /// A remap interrupted before its commit leaves an active prepare snapshot; the next start
    /// removes it and remaps again.
    func testAnInterruptedRemapIsRedone() async throws {
        try Self.requireUserNamespaces()
        let f = try RuntimeFixture()
        defer { f.removeBridge() }
        let mapping = try UserNamespaceMapping(base: 0x7200_0000)
        f.userNamespace = mapping
        Self.makeContainerdStateTraversable(f)
        let image = try await f.pushShell("berth/rt-userns-redo", Self.probeScript)
        let d = try f.deployment("userns-redo", image: image)
        try await f.withRuntime { runtime, client in
            // Pull it, then leave what a crash mid-remap leaves: the prepare snapshot, with a
            // half-shifted file in it.
            let registry = RegistryClient(configuration: RegistryConfiguration(insecureHosts: [f.env.registry]))
            defer { Task { try? await registry.shutdown() } }
            let pulled = try await ImagePuller(containerd: client, registry: registry).pull(try ImageReference(parsing: image))
            let key = "berth-remap-prepare/\(pulled.chainID)/\(mapping.base)-\(mapping.size)"
            _ = try await client.prepareSnapshot(key, parent: pulled.chainID.description)
            runtime.deploy(d)
            let status = try await runtime.waitForStatus(d.runtimeID, timeout: .seconds(90)) { $0.phase == .running }
            let owners = try await fetch(try XCTUnwrap(status.address), "/owners")
            XCTAssertTrue(owners.hasPrefix("0:0 755\n0:0 755\n"), owners)
            let snapshots = try await client.listSnapshots()
            XCTAssertFalse(snapshots.contains { $0.name == key }, "\(snapshots.map(\.name))")
            XCTAssertTrue(snapshots.contains { $0.name.hasPrefix("berth-remap/") && $0.kind == .committed })
            try await runtime.delete(d.runtimeID)
            try await client.deleteImage(named: pulled.name, sync: true)
        }
    }

    /// Skips on a kernel without user namespaces, but fails when CI is set: CI must run these.
    static func requireUserNamespaces() throws {
        guard !UserNamespaceMapping.hostSupportsUserNamespaces() else { return }
        let ci = ProcessInfo.processInfo.environment["CI"].map { !$0.isEmpty && $0 != "0" && $0.lowercased() != "false" } ?? false
        if ci { throw TestSupportError("CI is set but this kernel has no user namespaces (user.max_user_namespaces)") }
        throw XCTSkip("the kernel has no user namespaces")
    }

    /// runc, inside the user namespace, reaches the bundle's rootfs under containerd's state
    /// folder: its parents must be traversable by others, as containerd's /run/containerd (0711)
    /// is. The test environment makes them 0700; allow traversal (nothing more).
    static func makeContainerdStateTraversable(_ f: RuntimeFixture) {
        var folder = (f.socket as NSString).deletingLastPathComponent
        while folder.count > 1, folder != "/tmp" {
            var info = stat()
            if stat(folder, &info) == 0 { chmod(folder, (info.st_mode & 0o7777) | 0o001) }
            folder = (folder as NSString).deletingLastPathComponent
        }
    }

    private static func collectGarbage(_ client: ContainerdClient) async throws {
        let lease = try await client.createLease(expiry: .seconds(60))
        try await client.deleteLease(lease, sync: true)
    }

    static func fields(_ text: String) -> [String] {
        text.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" }).map(String.init)
    }
}

/// GET http://address/path from the host side of the bridge; the body as text.
func fetch(_ address: String, _ path: String) async throws -> String {
    var request = URLRequest(url: URL(string: "http://\(address)\(path)")!)
    request.timeoutInterval = 5
    let (data, response) = try await URLSession.shared.data(for: request)
    guard (response as? HTTPURLResponse)?.statusCode == 200 else {
        throw TestSupportError("GET http://\(address)\(path) answered \(response)")
    }
    return String(decoding: data, as: UTF8.self)
}
