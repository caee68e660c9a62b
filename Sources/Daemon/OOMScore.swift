import Foundation
import Logging
import Runtime

/// berthd's own place in the kernel's OOM order. Containers run at
/// `SpecInputs.containerOOMScoreAdj` (500); berthd lowers itself to -500 at start, as the systemd
/// unit's `OOMScoreAdjust=` already does, so that a run outside systemd (scripts/run.sh) has the
/// same order: under memory pressure the kernel kills a tenant's process, never the agent. It is
/// only ever lowered: containerd runs at -999 and an operator may run berthd lower still.
enum OwnOOMScore {
    static let berthd = -500

    /// Writes `target` to `path` when the value there is higher; returns the value in effect
    /// afterwards, or nil when it could not be read.
    @discardableResult
    static func lower(to target: Int = berthd, path: String = "/proc/self/oom_score_adj", logger: Logger? = nil) -> Int? {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8),
              let current = Int(text.trimmingCharacters(in: .whitespacesAndNewlines)) else { return nil }
        guard current > target else { return current }
        do {
            try "\(target)\n".write(toFile: path, atomically: false, encoding: .utf8)
            return target
        } catch {
            // Lowering needs CAP_SYS_RESOURCE; without it berthd keeps its score and says so.
            logger?.warning("cannot lower berthd's OOM score adjustment", metadata: [
                "current": "\(current)", "wanted": "\(target)", "error": "\(error)",
            ])
            return current
        }
    }
}
