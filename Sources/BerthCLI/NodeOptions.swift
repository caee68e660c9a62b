import ArgumentParser
import BerthClient
import Foundation

/// Which node to talk to and as whom: flags, then `BERTH_URL` / `BERTH_TOKEN`, then what
/// `berth login` wrote.
struct NodeOptions: ParsableArguments {
    @Option(help: ArgumentHelp("The node's API address, e.g. http://127.0.0.1:8080.",
                               discussion: "Default: $BERTH_URL, then the address `berth login` saved.", valueName: "address"))
    var url: String?

    @Option(help: ArgumentHelp("A bearer token (JWT).", discussion: "Default: $BERTH_TOKEN, then the token `berth login` saved.",
                               valueName: "jwt"))
    var token: String?

    func client(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> BerthClient {
        let path = ConfigFile.path(environment: environment)
        let saved = try ConfigFile.load(path)
        guard let url = url ?? environment["BERTH_URL"].flatMap({ $0.isEmpty ? nil : $0 }) ?? saved.url else {
            throw CLIFailure(.usage, "no node: run `berth login URL` or set BERTH_URL")
        }
        try Self.checkURL(url)
        var token = token ?? environment["BERTH_TOKEN"].flatMap { $0.isEmpty ? nil : $0 } ?? saved.token
        if token == nil, let file = saved.tokenFile {
            token = try Self.readToken(file)
        }
        guard let token else {
            throw CLIFailure(.unauthorized, "no token: run `berth login \(url) --token T` or set BERTH_TOKEN")
        }
        return BerthClient(baseURL: url, token: token)
    }

    static func checkURL(_ url: String) throws {
        guard let parsed = URLComponents(string: url), ["http", "https"].contains(parsed.scheme ?? ""),
              !(parsed.host ?? "").isEmpty, parsed.query == nil, parsed.path.isEmpty || parsed.path == "/"
        else {
            throw CLIFailure(.usage, "\(url) is not a node address such as http://127.0.0.1:8080")
        }
    }

    static func readToken(_ path: String) throws -> String {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw CLIFailure(.usage, "cannot read the token file \(path)")
        }
        let token = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard !token.isEmpty, !token.contains(where: \.isWhitespace) else {
            throw CLIFailure(.usage, "the token file \(path) does not hold one token")
        }
        return token
    }
}
