import ArgumentParser
import Auth
import BerthClient
import Foundation

struct RemoveCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "rm", abstract: "Delete containers.", aliases: ["delete"])

    @Argument(help: "The containers' names or ids.")
    var names: [String]
    @Flag(name: [.short, .customLong("yes")], help: "Do not ask (needed when standard input is not a terminal).")
    var yes = false
    @OptionGroup var node: NodeOptions

    func validate() throws {
        guard !names.isEmpty else { throw ValidationError("name at least one container") }
    }

    func run() async throws {
        let client = try node.client()
        var containers: [Container] = []
        for name in names { containers.append(try await client.resolve(name).value) }
        if !yes {
            guard isatty(STDIN_FILENO) == 1 else {
                throw CLIFailure(.usage, "refusing to delete without --yes when standard input is not a terminal")
            }
            Print.err("Delete \(containers.map(\.name).joined(separator: ", "))? [y/N] ")
            guard let answer = readLine(), ["y", "yes"].contains(answer.lowercased()) else {
                throw CLIFailure(.other, "nothing deleted")
            }
        }
        for container in containers {
            try await client.delete(id: container.id)
            Print.out("deleted \(container.name)\n")
        }
    }
}

struct LoginCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "login",
        abstract: "Remember a node and a token for the next commands.",
        discussion: """
            Writes the address and the token (or the token file's path, read at each command) to \
            ~/.config/berth/config.toml ($XDG_CONFIG_HOME/berth/config.toml if set) with mode 0600, after \
            checking that the node accepts the token. BERTH_URL and BERTH_TOKEN override it.
            """
    )

    @Argument(help: "The node's API address, e.g. http://127.0.0.1:8080.")
    var url: String
    @Option(help: "The bearer token (visible to other users in `ps`: prefer --token-file).")
    var token: String?
    @Option(name: .customLong("token-file"), help: ArgumentHelp("A file holding the token; its path is saved, not the token.", valueName: "file"))
    var tokenFile: String?

    func validate() throws {
        guard (token == nil) != (tokenFile == nil) else { throw ValidationError("give one of --token and --token-file") }
    }

    func run() async throws {
        try NodeOptions.checkURL(url)
        var saved = ConfigFile(url: url)
        let bearer: String
        if let tokenFile {
            let path = tokenFile.hasPrefix("/") ? tokenFile : FileManager.default.currentDirectoryPath + "/" + tokenFile
            bearer = try NodeOptions.readToken(path)
            saved.tokenFile = path
        } else {
            bearer = token!
            saved.token = bearer
        }
        let count = try await BerthClient(baseURL: url, token: bearer).containers().count
        let path = ConfigFile.path(environment: ProcessInfo.processInfo.environment)
        try saved.save(path)
        let subject = Self.subject(of: bearer).map { " as \($0.shown)" } ?? ""
        Print.out("logged in to \(saved.url!)\(subject) (\(count) container\(count == 1 ? "" : "s")); saved in \(path)\n")
    }

    /// The token's `sub`, read without checking the signature: only to say who logged in.
    static func subject(of token: String) -> String? {
        let parts = token.split(separator: ".")
        guard parts.count == 3 else { return nil }
        var base64 = parts[1].replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        base64 += String(repeating: "=", count: (4 - base64.count % 4) % 4)
        guard let data = Data(base64Encoded: base64),
              let claims = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { return nil }
        return claims["sub"] as? String
    }
}

struct TokenCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "token",
        abstract: "Mint a token with the node's HS256 secret (for operators).",
        discussion: """
            Needs the secret file itself (auth.jwt_secret_file of the node, readable by root only), so it is \
            run on the node or where the secret is kept. The claims names match the node's defaults; give \
            --roles-claim, --issuer and --audience when its configuration sets them.

            Example: berth token --secret-file /etc/berth/jwt-secret --sub alice --ttl 8h
            """
    )

    @Option(name: .customLong("secret-file"), help: ArgumentHelp("The node's HS256 secret file.", valueName: "file"))
    var secretFile: String
    @Option(help: "The token's subject: the caller, and the owner of what it creates.")
    var sub: String
    @Option(name: .customLong("role"), help: ArgumentHelp("A role, e.g. ADMIN; repeatable.", valueName: "role"))
    var roles: [String] = []
    @Option(help: ArgumentHelp("How long the token is valid: 90s, 30m, 8h, 7d.", valueName: "duration"))
    var ttl = "1h"
    @Option(name: .customLong("roles-claim"), help: "The claim that holds the roles.")
    var rolesClaim = "roles"
    @Option(help: "The issuer (iss) the node expects, if any.")
    var issuer: String?
    @Option(help: "The audience (aud) the node expects, if any.")
    var audience: String?

    func run() async throws {
        guard !sub.isEmpty else { throw CLIFailure(.usage, "--sub must not be empty") }
        do {
            let secret = try AuthConfiguration.loadSecret(path: secretFile)
            let minter = await TokenMinter(hs256Secret: secret)
            let token = try await minter.mint(subject: sub, roles: roles, ttl: try parseDuration(ttl), rolesClaim: rolesClaim,
                                              issuer: issuer, audience: audience)
            Print.out(token + "\n")
        } catch let error as AuthConfigurationError {
            throw CLIFailure(.usage, "\(error)")
        }
    }
}

struct CompletionCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "completion",
        abstract: "Print a shell completion script.",
        discussion: """
            bash: berth completion bash > /etc/bash_completion.d/berth
            zsh:  berth completion zsh > "${fpath[1]}/_berth"
            fish: berth completion fish > ~/.config/fish/completions/berth.fish
            """
    )

    @Argument(help: "bash, zsh or fish.")
    var shell: String

    func run() throws {
        guard let kind = CompletionShell(rawValue: shell) else {
            throw CLIFailure(.usage, "no completion for \(shell): choose bash, zsh or fish")
        }
        Print.out(BerthCommand.completionScript(for: kind))
    }
}
