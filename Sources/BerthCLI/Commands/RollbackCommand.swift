import ArgumentParser
import BerthClient
import JSONValue
import OCI

struct RollbackCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rollback",
        abstract: "Serve an earlier revision's spec again, as a new revision.",
        discussion: """
            The new revision takes every setting of the one rolled back to, its protocol included, with its \
            image pinned to the digest that revision ran, so a tag moved since does not change what runs. \
            Without --to, the newest revision before the serving one that served. Waits as `berth deploy` does.
            """
    )

    @Argument(help: "The container's name or id.")
    var name: String

    @Option(name: .customLong("to"), help: ArgumentHelp("The revision to roll back to.", valueName: "revision"))
    var target: Int?

    @OptionGroup var wait: WaitOptions
    @OptionGroup var node: NodeOptions
    @OptionGroup var output: OutputOptions

    func run() async throws {
        let deadline = try wait.deadline()
        let client = try node.client()
        let container = try await client.resolve(name).value
        let revisions = try await client.revisions(id: container.id).map(\.value)
        let chosen = try Self.choose(target, among: revisions, serving: container.revision)
        let body = try Self.body(pinning: chosen)
        if output.format == .table {
            Print.err("rolling \(container.name.shown) back to revision \(chosen.revision) (\(try Self.pinned(chosen).shown))\n")
        }
        let recorded = try await client.update(id: container.id, body)
        try await DeployCommand.finish(recorded, revision: recorded.value.newestRevision, client: client,
                                       wait: deadline, format: output.format)
    }

    /// `--to`'s revision, or the newest one before the serving one that served and was pulled.
    static func choose(_ target: Int?, among revisions: [Revision], serving: Int) throws -> Revision {
        if let target {
            guard let found = revisions.first(where: { $0.revision == target }) else {
                throw CLIFailure(.notFound, "the container has no revision \(target)")
            }
            return found
        }
        guard let previous = revisions.filter({ $0.revision < serving && $0.status == "retired" && $0.imageDigest != nil })
            .max(by: { $0.revision < $1.revision })
        else {
            throw CLIFailure(.refused, "no earlier revision served before revision \(serving); give --to REVISION")
        }
        return previous
    }

    /// The image of `revision` pinned to the digest it ran: `repository:tag@digest`.
    static func pinned(_ revision: Revision) throws -> String {
        guard let digestText = revision.imageDigest else {
            throw CLIFailure(.refused, "revision \(revision.revision) was never pulled, so it has no digest to pin")
        }
        do {
            let reference = try ImageReference(parsing: revision.image)
            let digest = try Digest(digestText)
            return ImageReference(registry: reference.registry, repository: reference.repository, tag: reference.tag,
                                  digest: digest).description
        } catch {
            throw CLIFailure(.refused, "revision \(revision.revision)'s image \(revision.image)@\(digestText) cannot be pinned: \(error)")
        }
    }

    /// Every setting of `revision`, as a PUT body.
    static func body(pinning revision: Revision) throws -> JSONValue {
        var fields: [String: JSONValue] = [
            "image": .string(try pinned(revision)),
            "cpu": .number(revision.cpu),
            "ram": .string(revision.ram),
            "gpu": .integer(Int64(revision.gpu)),
            "ephemeralStorage": .string(revision.ephemeralStorage),
            "port": .string(revision.port),
            "env": .object(revision.env.mapValues(\.json)),
            "concurrency": .integer(Int64(revision.concurrency)),
            "minInstances": .integer(Int64(revision.minInstances)),
            "maxInstances": .integer(Int64(revision.maxInstances)),
            "timeoutSeconds": .integer(Int64(revision.timeoutSeconds)),
        ]
        if let model = revision.gpuModel { fields["gpuModel"] = .string(model) }
        // A node older than the field neither sends it nor accepts it (unknown fields are refused).
        if let servingProtocol = revision.protocol { fields["protocol"] = .string(servingProtocol) }
        if let volumes = revision.volumes { fields["volumes"] = volumes }
        if let secretMounts = revision.secretMounts { fields["secretMounts"] = secretMounts }
        return .object(fields)
    }
}
