import ArgumentParser
import BerthClient
import BerthModel
import Foundation
import JSONValue

struct ListCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "ls", abstract: "List containers.", aliases: ["list"])

    @Flag(name: .customLong("all"), help: "Every owner's containers (needs the ADMIN role).")
    var all = false
    @OptionGroup var node: NodeOptions
    @OptionGroup var output: OutputOptions

    func run() async throws {
        let containers = try await node.client().containers(all: all)
        guard output.format == .table else {
            return try Print.structured(.object(["containers": .array(containers.map(\.json))]), as: output.format)
        }
        let style = Style.detect(fd: STDOUT_FILENO)
        var table = Table(headers: ["NAME", "STATUS", "REVISION", "READY", "IMAGE", "URL", "AGE"] + (all ? ["OWNER"] : []))
        for container in containers.map(\.value) {
            let revision = container.newestRevision == container.revision ? "\(container.revision)" : "\(container.revision) (\(container.newestRevision) rolling out)"
            table.rows.append([container.name.shown, style.status(container.status.shown), revision,
                               "\(container.instances.ready)/\(max(container.instances.desired, container.instances.ready))",
                               container.image.shown, container.url.shown, Human.age(container.createdAt)] + (all ? [container.owner.shown] : []))
        }
        Print.out(containers.isEmpty ? "No containers.\n" : table.render())
    }
}

struct DescribeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "describe",
        abstract: "Show a container: its spec, status, instances, URL and recent revisions.")

    @Argument(help: "The container's name or id.")
    var name: String
    @Option(help: ArgumentHelp("How many of the newest revisions to show.", valueName: "count"))
    var revisions = 5
    @OptionGroup var node: NodeOptions
    @OptionGroup var output: OutputOptions

    func run() async throws {
        let client = try node.client()
        let container = try await client.resolve(name)
        async let instanceList = client.instances(id: container.value.id)
        async let revisionList = client.revisions(id: container.value.id)
        let (instances, history) = try await (instanceList, revisionList)
        let recent = Array(history.prefix(max(0, revisions)))
        guard output.format == .table else {
            return try Print.structured(.object(["container": container.json, "instances": .array(instances.map(\.json)),
                                                 "revisions": .array(recent.map(\.json))]), as: output.format)
        }
        let c = container.value
        let style = Style.detect(fd: STDOUT_FILENO)
        var fields: [(String, String)] = [
            ("Name", c.name.shown), ("ID", c.id.shown), ("Owner", c.owner.shown), ("URL", c.url.shown),
            ("Status", style.status(c.status.shown) + (c.statusMessage.map { " (\($0.shown))" } ?? "")),
            ("Revision", c.newestRevision == c.revision ? "\(c.revision)" : "\(c.revision) serving, \(c.newestRevision) rolling out"),
            ("Image", c.image.shown),
            ("Resources", "cpu \(Self.number(c.cpu)), ram \(c.ram), storage \(c.ephemeralStorage), port \(c.port)"
                + (c.protocol.map { " (\($0.shown))" } ?? "")
                + (c.gpu > 0 ? ", gpu \(c.gpu)" + (c.gpuModel.map { " \($0.shown)" } ?? "") : "")),
            ("Scaling", "concurrency \(c.concurrency == 0 ? "unlimited" : "\(c.concurrency)"), instances \(c.minInstances)–\(c.maxInstances), "
                + "timeout \(c.timeoutSeconds)s"),
            ("Instances", "\(c.instances.desired) desired, \(c.instances.ready) ready, \(c.instances.starting) starting"),
        ]
        if let pull = c.pull {
            fields.append(("Pulling", "\(pull.image.shown): \(pull.layers.done)/\(pull.layers.total) layers, "
                           + "\(ByteCountText.decimal(pull.bytes.done)) / \(ByteCountText.decimal(pull.bytes.total))"))
        }
        fields.append(("Env", c.env.isEmpty ? "none" : c.env.keys.sorted().map { "\($0)=\(c.env[$0]!.shown)".shown }.joined(separator: " ")))
        fields.append(("Created", c.createdAt))
        fields.append(("Updated", c.updatedAt))
        let width = fields.map(\.0.count).max() ?? 0
        var text = fields.map { $0.0 + ":" + String(repeating: " ", count: width - $0.0.count + 2) + $0.1 + "\n" }.joined()
        var instanceTable = Table(headers: ["REVISION", "INSTANCE", "STATUS", "SINCE", "IN FLIGHT"])
        for instance in instances.map(\.value) {
            instanceTable.rows.append(["\(instance.revision)", "\(instance.instance)", style.status(instance.status.shown),
                                       instance.since.map { Human.age($0) } ?? "-", "\(instance.inFlight)"])
        }
        text += "\nInstances:\n" + (instances.isEmpty ? "  none running\n" : Self.indent(instanceTable.render()))
        text += "\nRevisions:\n" + Self.indent(RevisionsCommand.table(recent.map(\.value), style: style).render())
        Print.out(text)
    }

    static func number(_ value: Double) -> String {
        value.rounded() == value ? String(Int(value)) : String(value)
    }

    static func indent(_ text: String) -> String {
        text.split(separator: "\n").map { "  " + $0 + "\n" }.joined()
    }
}

struct RevisionsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "revisions", abstract: "List a container's revisions, newest first.")

    @Argument(help: "The container's name or id.")
    var name: String
    @OptionGroup var node: NodeOptions
    @OptionGroup var output: OutputOptions

    func run() async throws {
        let client = try node.client()
        let container = try await client.resolve(name)
        let revisions = try await client.revisions(id: container.value.id)
        guard output.format == .table else {
            return try Print.structured(.object(["revisions": .array(revisions.map(\.json))]), as: output.format)
        }
        Print.out(Self.table(revisions.map(\.value), style: .detect(fd: STDOUT_FILENO)).render())
    }

    static func table(_ revisions: [Revision], style: Style) -> Table {
        var table = Table(headers: ["REVISION", "STATUS", "IMAGE", "DIGEST", "AGE", "MESSAGE"])
        for revision in revisions {
            let digest = revision.imageDigest.map { String($0.replacingOccurrences(of: "sha256:", with: "").prefix(12)) } ?? "-"
            table.rows.append(["\(revision.revision)", style.status(revision.status.shown), revision.image.shown, digest.shown,
                               Human.age(revision.createdAt), (revision.statusMessage ?? "").shown])
        }
        return table
    }
}

struct GPUsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "gpus", abstract: "List the node's GPU models and how many are free.")

    @OptionGroup var node: NodeOptions
    @OptionGroup var output: OutputOptions

    func run() async throws {
        let models = try await node.client().gpuModels()
        guard output.format == .table else {
            return try Print.structured(.object(["gpuModels": .array(models.map(\.json))]), as: output.format)
        }
        var table = Table(headers: ["MODEL", "MEMORY", "COUNT", "AVAILABLE"])
        for model in models.map(\.value) {
            table.rows.append([model.model.shown, model.memory.shown, "\(model.count)", "\(model.available)"])
        }
        Print.out(models.isEmpty ? "No GPUs on this node.\n" : table.render())
    }
}

struct LogsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "logs",
        abstract: "Print a container's logs (the serving revision's unless --revision names another).")

    @Argument(help: "The container's name or id.")
    var name: String
    @Flag(name: [.short, .customLong("follow")], help: "Keep printing new lines as they are written, until interrupted.")
    var follow = false
    @Option(help: ArgumentHelp("How many of the last lines to print first (default 100; with --since, every line since).",
                               valueName: "lines"))
    var tail: Int?
    @Option(help: ArgumentHelp("Only lines since a time: 10m, 2h (ago) or an RFC 3339 time.", valueName: "time"))
    var since: String?
    @Option(help: ArgumentHelp("Another revision's logs, e.g. a rollout's while it starts.", valueName: "revision"))
    var revision: Int?
    @Flag(help: "Start each line with its RFC 3339 time.")
    var timestamps = false
    @OptionGroup var node: NodeOptions

    func run() async throws {
        let client = try node.client()
        let container = try await client.resolve(name)
        let query = BerthClient.LogQuery(tail: tail, since: since, revision: revision, timestamps: timestamps)
        guard follow else {
            return Print.out(try await client.logs(id: container.value.id, query))
        }
        for try await line in try await client.followLogs(id: container.value.id, query) {
            Print.out(line + "\n")
        }
    }
}
