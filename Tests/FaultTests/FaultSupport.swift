import Foundation
import NodeTestSupport
import TestSupport
import XCTest

/// SplitMix64: the fault plan replays exactly from its seed (BERTH_FAULT_SEED, printed).
struct SeededRandom: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    static func fromEnvironment(default seed: UInt64) -> (SeededRandom, UInt64) {
        let chosen = ProcessInfo.processInfo.environment["BERTH_FAULT_SEED"].flatMap { UInt64($0) } ?? seed
        return (SeededRandom(seed: chosen), chosen)
    }
}

extension BerthdProcess {
    /// The inventory scope of this node. containerd's state folder sits beside its root in both
    /// scripts/test-env.sh and ContainerdProcess.
    func scope(knownIDs: Set<String>, containerdState: String? = nil) -> HostInventory.Scope {
        let c = fixture.configuration
        let state = containerdState ?? (URL(fileURLWithPath: fixture.env.containerdRoot).deletingLastPathComponent().path + "/state")
        return HostInventory.Scope(containerdSocket: c.containerdSocket, namespace: c.namespace, containerdState: state,
                                   bridge: c.cniBridge, dataDirectory: c.dataDirectory, knownIDs: knownIDs)
    }

    func container(_ id: String, token: String) async throws -> (status: Int, body: [String: Any]) {
        let reply = try await fixture.request("GET", "/v1/containers/\(id)", token: token)
        return (reply.status, (try? reply.json()) ?? [:])
    }

    func containers(token: String) async throws -> [[String: Any]] {
        try await fixture.request("GET", "/v1/containers?all=true", token: token).json()["containers"] as? [[String: Any]] ?? []
    }

    /// The newest revision recorded (GET /revisions is newest first).
    func latestRevision(_ id: String, token: String) async throws -> Int {
        let reply = try await fixture.request("GET", "/v1/containers/\(id)/revisions", token: token)
        guard let newest = (try reply.json()["revisions"] as? [[String: Any]])?.first?["revision"] as? Int else {
            throw TestSupportError("GET /v1/containers/\(id)/revisions answered \(reply.status) \(reply.text)")
        }
        return newest
    }

    /// Waits until the container is running or idle at `revision` (its latest when nil) and a
    /// request through the proxy gets its page (which wakes an idle one). Returns the record.
    func awaitServing(_ id: String, name: String, page: String, revision: Int? = nil, token: String,
                      timeout: Duration = .seconds(45)) async throws -> [String: Any] {
        let deadline = ContinuousClock.now + timeout
        var last: [String: Any] = [:]
        var lastInvoke = ""
        while ContinuousClock.now < deadline {
            let (status, body) = try await container(id, token: token)
            last = body
            let state = body["status"] as? String ?? ""
            let current = body["revision"] as? Int
            if status == 200, ["running", "idle"].contains(state), revision == nil || current == revision {
                if let reply = try? await fixture.invoke("\(name).localhost", timeout: 10) {
                    lastInvoke = "\(reply.status) \(reply.text.prefix(120))"
                    if reply.status == 200, reply.text == page { return body }
                }
            }
            try await Task.sleep(for: .milliseconds(150))
        }
        throw TestSupportError("container \(id) did not serve revision \(revision.map(String.init) ?? "latest") within \(timeout); "
            + "last record: \(last); last invocation: \(lastInvoke)")
    }

    /// Waits until GET answers 404.
    func awaitGone(_ id: String, token: String, timeout: Duration = .seconds(45)) async throws {
        let deadline = ContinuousClock.now + timeout
        var last: [String: Any] = [:]
        while ContinuousClock.now < deadline {
            let (status, body) = try await container(id, token: token)
            if status == 404 { return }
            last = body
            try await Task.sleep(for: .milliseconds(150))
        }
        throw TestSupportError("container \(id) still answers after \(timeout); last record: \(last)")
    }
}

/// What an inventory check found: objects of containers or revisions that should not exist
/// any more, and node-level objects that differ from the baseline.
struct InventoryCheck: CustomStringConvertible {
    var leaks: InventoryDiff
    var unowned: InventoryDiff
    var inventory: HostInventory

    var isClean: Bool { leaks.isEmpty && unowned.isEmpty }

    var description: String {
        var parts: [String] = []
        if !leaks.isEmpty { parts.append("objects no live revision owns:\n\(leaks)") }
        if !unowned.isEmpty { parts.append("node-level objects that differ from the baseline:\n\(unowned)") }
        return parts.isEmpty ? "clean" : parts.joined(separator: "\n")
    }

    /// Polls the inventory until it holds only what `live` (container id → its revision) owns
    /// and its node-level part equals `baseline`, or `timeout` passes: teardown after a restart
    /// runs in the background. Categories in `ignoring` are left out of the baseline comparison.
    static func awaitClean(_ berthd: BerthdProcess, live: [String: Int], knownIDs: Set<String>, baseline: HostInventory,
                           ignoring: Set<String> = [], alreadyReported: Set<String> = [], containerdState: String? = nil,
                           timeout: Duration = .seconds(20)) async throws -> InventoryCheck {
        let deadline = ContinuousClock.now + timeout
        let revisions = Set(live.map { "\($0.key)-r\($0.value)" })
        while true {
            let inventory = try await HostInventory.take(berthd.scope(knownIDs: knownIDs.union(live.keys), containerdState: containerdState))
            var unowned = inventory.unowned.diff(from: baseline.unowned)
            for key in ignoring {
                unowned.added[key] = nil
                unowned.removed[key] = nil
            }
            let check = InventoryCheck(leaks: inventory.leaks(containers: Set(live.keys), revisions: revisions).removing(alreadyReported),
                                       unowned: unowned.removing(alreadyReported), inventory: inventory)
            if check.isClean || ContinuousClock.now >= deadline { return check }
            try await Task.sleep(for: .milliseconds(300))
        }
    }
}

extension InventoryCheck {
    /// Every line this check found, as "+ category: line" / "- category: line", so a loop
    /// reports a leak once and later iterations look for new ones.
    var lines: Set<String> {
        var lines: Set<String> = []
        for diff in [leaks, unowned] {
            for (key, values) in diff.added { lines.formUnion(values.map { "+ \(key): \($0)" }) }
            for (key, values) in diff.removed { lines.formUnion(values.map { "- \(key): \($0)" }) }
        }
        return lines
    }
}

extension InventoryDiff {
    func removing(_ reported: Set<String>) -> InventoryDiff {
        var diff = InventoryDiff()
        for (key, values) in added {
            let left = values.filter { !reported.contains("+ \(key): \($0)") }
            if !left.isEmpty { diff.added[key] = left }
        }
        for (key, values) in removed {
            let left = values.filter { !reported.contains("- \(key): \($0)") }
            if !left.isEmpty { diff.removed[key] = left }
        }
        return diff
    }
}

/// Runs `operation` while a timer kills berthd after `delay`; returns what the operation got
/// (nil when the kill cut it off).
func racingKill<T: Sendable>(_ berthd: BerthdProcess, after delay: Duration,
                             _ operation: @escaping @Sendable () async throws -> T) async -> T? {
    let task = Task { try await operation() }
    try? await Task.sleep(for: delay)
    berthd.kill()
    return try? await task.value
}
