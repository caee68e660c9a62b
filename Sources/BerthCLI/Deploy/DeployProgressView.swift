import BerthClient
import BerthModel
import Foundation

/// Shows a deploy's phases on standard error. On a terminal, the current phase is one line
/// redrawn in place (pull layers and bytes, time in the phase) and each phase ends with a tick;
/// otherwise one plain line per phase, no control characters, for logs and CI.
final class DeployProgressView {
    private let terminal: Bool
    private let style: Style
    private let subject: String
    /// The revision's image, named before the pull's first report arrives.
    private let image: String
    private let write: (String) -> Void
    private var current: DeployWatch.Phase?
    private var enteredAt = ContinuousClock.now
    private var pull: PullProgress?
    private var frame = 0

    /// `subject` names what is deployed ("revision 2 of web").
    init(subject: String, image: String, terminal: Bool, style: Style, write: @escaping (String) -> Void = Print.err) {
        self.subject = subject
        self.image = image
        self.terminal = terminal
        self.style = style
        self.write = write
    }

    func begin() {
        write(terminal ? style.bold("Deploying \(subject.shown)") + "\n" : "deploying \(subject.shown)\n")
    }

    func apply(_ actions: [DeployWatch.Action]) {
        for action in actions {
            switch action {
            case .entered(let phase):
                leave(for: phase)
                if terminal, phase.isFinal { write(finalLine(phase) + "\n") }
                current = phase
                enteredAt = .now
                if !terminal { write(plainLine(phase) + "\n") }
            case .pulled(let progress):
                pull = progress
            case .finished:
                break
            }
        }
        if terminal, let current, !current.isFinal { write("\r\u{1B}[2K" + liveLine(current)) }
    }

    /// Called at every poll: the spinner and the time in the phase move on.
    func tick() {
        frame += 1
        if terminal, let current, !current.isFinal { write("\r\u{1B}[2K" + liveLine(current)) }
    }

    /// Closes the phase being left: on a terminal its line becomes a done line; a pull's totals
    /// are said in plain mode too.
    private func leave(for next: DeployWatch.Phase) {
        guard let current else { return }
        let took = Human.seconds(ContinuousClock.now - enteredAt)
        if terminal {
            let done = next.isFinal && next != .ready ? style.red("✗") : style.green("✓")
            write("\r\u{1B}[2K\(done) \(doneLabel(current)) \(style.dim(took))\n")
        } else if current == .pulling, let pull {
            write("pulled \(pull.image.shown): \(Human.count(pull.layers.total, "layer")), \(ByteCountText.decimal(pull.bytes.total)) in \(took)\n")
        }
    }

    private func plainLine(_ phase: DeployWatch.Phase) -> String {
        switch phase {
        case .pending(let reason): return "pending" + (reason.map { ": \($0.shown)" } ?? "")
        case .pulling: return "pulling " + (pull?.image ?? image).shown
        case .starting: return "starting"
        case .ready: return "ready"
        case .failed(let reason): return "failed: \(reason.shown)"
        case .superseded(let newer): return "superseded by revision \(newer)"
        }
    }

    private func liveLine(_ phase: DeployWatch.Phase) -> String {
        let spinner = style.yellow(["|", "/", "-", "\\"][frame % 4])
        let took = style.dim(Human.seconds(ContinuousClock.now - enteredAt))
        switch phase {
        case .pulling:
            guard let pull else { return "\(spinner) pulling \(image.shown) \(took)" }
            let figures = pull.phase == "resolving" ? "resolving"
                : "\(pull.layers.done)/\(pull.layers.total) layers  \(ByteCountText.decimal(pull.bytes.done)) / \(ByteCountText.decimal(pull.bytes.total))"
                    + (pull.phase == "unpacking" ? "  unpacking" : "")
            return "\(spinner) pulling \(pull.image.shown)  \(figures)  \(took)"
        default:
            return "\(spinner) \(plainLine(phase)) \(took)"
        }
    }

    private func doneLabel(_ phase: DeployWatch.Phase) -> String {
        switch phase {
        case .pulling:
            guard let pull else { return "pulled \(image.shown)" }
            return "pulled \(pull.image.shown)  \(Human.count(pull.layers.total, "layer"))  \(ByteCountText.decimal(pull.bytes.total))"
        case .starting: return "started"
        case .pending(let reason): return "scheduled" + (reason.map { style.dim(" (\($0.shown))") } ?? "")
        default: return plainLine(phase)
        }
    }

    private func finalLine(_ phase: DeployWatch.Phase) -> String {
        switch phase {
        case .ready: return style.green("✓") + " ready"
        case .failed(let reason): return style.red("✗ failed: ") + reason.shown
        case .superseded(let newer): return style.red("✗") + " superseded by revision \(newer)"
        default: return plainLine(phase)
        }
    }
}
