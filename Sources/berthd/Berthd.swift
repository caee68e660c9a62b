import ArgumentParser

@main
struct Berthd: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "berthd",
        abstract: "Berth: serverless containers on your own GPU hosts, on containerd.",
        version: BerthVersion.current,
        subcommands: [ServeCommand.self, TokenCommand.self, ImageCommand.self]
    )
}

enum BerthVersion {
    static let current = "0.1.0"
}
