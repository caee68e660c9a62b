import ArgumentParser
import BerthClient
import BerthModel
import Foundation

struct DeployCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "deploy",
        abstract: "Create a container, or update it with a new revision, and wait until it serves.",
        discussion: """
            If no container has NAME, one is created from the flags (--image is then required). If one has, it \
            is updated with only the flags given: every other setting stays, and the update is a new revision, \
            rolled out while the old one serves. The wait shows the revision's phases (pending, pulling with \
            layers and bytes, starting, ready), redrawn in place on a terminal and one line each otherwise, on \
            standard error; the container's URL goes to standard output. If the revision fails, its reason and \
            last log lines are shown and the exit status is 6.

            Examples:
              berth deploy hello --image nginxdemos/hello:0.4 --port 80
              berth deploy hello --env GREETING=hi --max-instances 4
              berth deploy greeter --image acme/greeter:1 --port 50051 --protocol h2c
            """
    )

    @Argument(help: "The container's name (its hostname: <name>.<domain>), or its id to update it.")
    var name: String

    @OptionGroup(title: "What the revision runs")
    var spec: SpecOptions

    @OptionGroup var wait: WaitOptions
    @OptionGroup var node: NodeOptions
    @OptionGroup var output: OutputOptions

    func run() async throws {
        let deadline = try wait.deadline()
        let client = try node.client()
        let existing: Fetched<Container>?
        do {
            existing = try await client.resolve(name)
        } catch ClientError.notFound {
            existing = nil
        }
        let recorded: Fetched<Container>
        if let existing {
            var environment = existing.value.env
            if spec.changesEnvironment, existing.value.newestRevision != existing.value.revision {
                // A rollout under way or failed: the latest revision is the template an update
                // derives from, as the API's PUT does.
                let latest = try await client.revisions(id: existing.value.id).first { $0.value.revision == existing.value.newestRevision }
                environment = latest?.value.env ?? environment
            }
            recorded = try await client.update(id: existing.value.id, try spec.body(name: nil, currentEnv: environment))
        } else {
            guard spec.image != nil else {
                throw CLIFailure(.usage, "no container named \(name): give --image to create it")
            }
            recorded = try await client.create(try spec.body(name: name, currentEnv: [:]))
        }
        try await Self.finish(recorded, revision: recorded.value.newestRevision, client: client, wait: deadline,
                              format: output.format)
    }

    /// Waits for `revision` (unless `wait` is nil) and prints the outcome: the URL for people,
    /// the container for scripts.
    static func finish(_ recorded: Fetched<Container>, revision: Int, client: BerthClient, wait: Duration?,
                       format: OutputFormat) async throws {
        var result = recorded
        if let wait {
            let view = DeployProgressView(subject: "revision \(revision) of \(recorded.value.name)", image: recorded.value.image,
                                          terminal: isatty(STDERR_FILENO) == 1,
                                          style: .detect(fd: STDERR_FILENO))
            result = try await RevisionWaiter(client: client, container: recorded.value, revision: revision, deadline: wait)
                .wait(showing: view)
        } else if format == .table {
            Print.err("revision \(revision) of \(recorded.value.name) recorded; not waiting for it\n")
        }
        if format == .table {
            Print.out(result.value.url + "\n")
        } else {
            try Print.structured(result.json, as: format)
        }
    }

}

/// Whether and how long a command that records a revision waits for it to serve.
struct WaitOptions: ParsableArguments {
    @Flag(name: .customLong("no-wait"), help: "Return as soon as the node has recorded the revision.")
    var noWait = false

    @Option(name: .customLong("wait-timeout"), help: ArgumentHelp("How long to wait for the revision to serve.", valueName: "duration"))
    var waitTimeout = "10m"

    /// How long to wait; nil for --no-wait.
    func deadline() throws -> Duration? {
        guard let duration = DurationText.parse(waitTimeout), duration > .zero else {
            throw CLIFailure(.usage, "--wait-timeout \(waitTimeout): give a duration such as 90s, 10m or 1h")
        }
        return noWait ? nil : duration
    }
}
