import ArgumentParser
import BerthClient
import Foundation

/// `berth`: the command line for a Berth node, over its public API only.
public struct BerthCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "berth",
        abstract: "Deploy and run serverless containers on a Berth node.",
        discussion: """
            Start with `berth login URL --token T`, then `berth deploy NAME --image IMAGE`. Set NO_COLOR to \
            turn colour off.

            Exit status: 0 success; 1 another failure; 2 bad usage or configuration; 3 not found; 4 no token \
            or not allowed; 5 refused by the node (bad or conflicting input); 6 the deployed revision failed \
            or was replaced; 7 the node unreachable or failing, or a wait timed out.
            """,
        version: "1.0.0",
        subcommands: [LoginCommand.self, DeployCommand.self, ListCommand.self, DescribeCommand.self, RevisionsCommand.self,
                      LogsCommand.self, RollbackCommand.self, RemoveCommand.self, GPUsCommand.self, TokenCommand.self,
                      CompletionCommand.self]
    )

    public init() {}

    /// Parses and runs one command line; returns the exit status. Help, version and completion
    /// requests print as usual; every error is one line on standard error.
    public static func run(_ arguments: [String]) async -> Int32 {
        do {
            let command = try parseAsRoot(arguments)
            if var asynchronous = command as? any AsyncParsableCommand {
                try await asynchronous.run()
            } else {
                var synchronous = command
                try synchronous.run()
            }
            return 0
        } catch let code as ExitCode {
            return code.rawValue
        } catch let error where error is CLIFailure || error is ClientError {
            let failure = CLIFailure.from(error)
            Print.err("berth: \(failure.message.split(whereSeparator: \.isNewline).joined(separator: " ").shown)\n")
            return failure.kind.rawValue
        } catch {
            if exitCode(for: error) == .success {
                // --help, --version, --generate-completion-script, or no subcommand: the parser prints.
                exit(withError: error)
            }
            // The parser's errors (unknown flags, missing arguments, failed validation).
            let message = message(for: error).split(whereSeparator: \.isNewline).first.map(String.init) ?? "bad usage"
            let usage = String(reflecting: type(of: error)).hasPrefix("ArgumentParser.") || error is ValidationError
            Print.err("berth: \(message.shown)" + (usage ? " (see berth --help)" : "") + "\n")
            return usage ? CLIFailure.Kind.usage.rawValue : CLIFailure.Kind.other.rawValue
        }
    }
}
