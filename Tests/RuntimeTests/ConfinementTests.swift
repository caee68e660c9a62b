import Foundation
import Runtime
import TestSupport
import XCTest

/// A container run by the runtime on the test containerd is confined as its spec says: the
/// seccomp filter is loaded (Seccomp: 2) and refuses new namespaces, it has a cgroup namespace,
/// and the host-information files are masked. The container probes itself and serves what it
/// found on its port.
final class ConfinementTests: XCTestCase {
    static let probe = #"""
        mkdir -p /www
        {
          grep -E '^(Seccomp|NoNewPrivs):' /proc/self/status
          if busybox unshare -U true 2>/dev/null; then echo "unshare-user: allowed"; else echo "unshare-user: refused"; fi
          if busybox unshare -m true 2>/dev/null; then echo "unshare-mount: allowed"; else echo "unshare-mount: refused"; fi
          if (true); then echo "fork: allowed"; fi
          echo "kcore: $(stat -c '%F %t:%T' /proc/kcore 2>&1)"
          echo "interrupts: $(stat -c '%F %t:%T' /proc/interrupts 2>&1)"
          echo "firmware-entries: $(ls -A /sys/firmware 2>/dev/null | wc -l)"
          echo "nvidia-entries: $(ls -A /proc/driver/nvidia 2>/dev/null | wc -l)"
          sed 's/^/cgroup: /' /proc/self/cgroup
        } > /www/index.html 2>&1
        exec httpd -f -p 80 -h /www
        """#

    func testContainerIsConfinedBySeccompCgroupNamespaceAndMaskedPaths() async throws {
        let f = try RuntimeFixture()
        defer { f.removeBridge() }
        let d = try f.deployment("confined", image: try await f.pushShell("berth/rt-confined", Self.probe))
        let page = try await f.withRuntime { runtime, _ in
            runtime.deploy(d)
            let status = try await runtime.waitForStatus(d.runtimeID, timeout: .seconds(60)) { $0.phase == .running }
            return try await httpGet(try XCTUnwrap(status.address))
        }
        let lines = page.split(separator: "\n").map(String.init)
        func value(_ key: String) -> String? {
            lines.first { $0.hasPrefix(key + ":") }.map { String($0.dropFirst(key.count + 1)).trimmingCharacters(in: .whitespaces) }
        }

        // 2 is SECCOMP_MODE_FILTER: runc loaded the profile.
        XCTAssertTrue(lines.contains("Seccomp:\t2"), page)
        XCTAssertEqual(value("NoNewPrivs"), "1", page)
        XCTAssertEqual(value("unshare-user"), "refused", page)
        XCTAssertEqual(value("unshare-mount"), "refused", page)
        XCTAssertEqual(value("fork"), "allowed", "clone without namespace flags works: \(page)")

        // Masked files are /dev/null (1:3) bound over them; masked folders are empty.
        // (This VM's kernel has no /proc/kcore; runc skips masked paths that do not exist.)
        XCTAssertEqual(value("interrupts"), "character special file 1:3", page)
        if FileManager.default.fileExists(atPath: "/proc/kcore") {
            XCTAssertEqual(value("kcore"), "character special file 1:3", page)
        }
        if let entries = try? FileManager.default.contentsOfDirectory(atPath: "/sys/firmware"), !entries.isEmpty {
            XCTAssertEqual(value("firmware-entries"), "0", page)
        }
        // This host has no NVIDIA driver; where it has, the folder reads as empty.
        XCTAssertTrue(SpecDefaults.maskedPaths.contains("/proc/driver/nvidia"))
        XCTAssertEqual(value("nvidia-entries"), "0", page)

        // The cgroup namespace: every hierarchy's path is the namespace's root, not /berth/<id>.
        let cgroups = lines.filter { $0.hasPrefix("cgroup: ") }
        XCTAssertFalse(cgroups.isEmpty, page)
        for line in cgroups {
            XCTAssertTrue(line.hasSuffix(":/"), line)
            XCTAssertFalse(line.contains(d.runtimeID), line)
        }
    }
}
