import BerthModel
import Foundation
import ImagePull
import Synchronization

/// Shows pull progress: redrawn bars on a terminal, a line per layer state change otherwise.
final class ProgressPrinter: Sendable {
    private struct State {
        var linesDrawn = 0
        var lastDraw = ContinuousClock.now - .seconds(1)
        var lastStates: [String: LayerProgress.State] = [:]
        var last: PullProgress?
    }

    private let terminal: Bool
    private let state = Mutex(State())

    init(terminal: Bool) {
        self.terminal = terminal
    }

    func show(_ progress: PullProgress) {
        state.withLock { state in
            state.last = progress
            if terminal {
                let now = ContinuousClock.now
                guard now - state.lastDraw >= .milliseconds(100) else { return }
                state.lastDraw = now
                draw(progress, &state)
            } else {
                for layer in progress.layers where state.lastStates[layer.digest.description] != layer.state {
                    state.lastStates[layer.digest.description] = layer.state
                    guard layer.state != .waiting && layer.state != .downloading else { continue }
                    print("\(layer.digest.short): \(Self.label(layer.state)) \(ByteCountText.decimal(layer.total))")
                }
            }
        }
    }

    func finish() {
        state.withLock { state in
            if terminal, let last = state.last { draw(last, &state) }
        }
    }

    private func draw(_ progress: PullProgress, _ state: inout State) {
        var out = state.linesDrawn > 0 ? "\u{1B}[\(state.linesDrawn)A" : ""
        for layer in progress.layers {
            let fraction = layer.total > 0 ? Double(layer.done) / Double(layer.total) : 1
            let width = 30
            let filled = min(width, Int(fraction * Double(width)))
            let bar = String(repeating: "=", count: filled) + String(repeating: " ", count: width - filled)
            out += "\u{1B}[2K\(layer.digest.short) [\(bar)] \(ByteCountText.decimal(layer.done))/\(ByteCountText.decimal(layer.total)) \(Self.label(layer.state))\n"
        }
        state.linesDrawn = progress.layers.count
        FileHandle.standardOutput.write(Data(out.utf8))
    }

    static func label(_ state: LayerProgress.State) -> String {
        switch state {
        case .waiting: return "waiting"
        case .downloading: return "downloading"
        case .alreadyPresent: return "already present"
        case .downloaded: return "downloaded"
        case .unpacking: return "unpacking"
        case .unpacked: return "unpacked"
        case .alreadyUnpacked: return "already unpacked"
        }
    }
}
