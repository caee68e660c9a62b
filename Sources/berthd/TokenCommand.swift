import ArgumentParser
import Auth
import Daemon
import Foundation

struct TokenCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "token",
        abstract: "Mint an HS256 token with the configured secret, for development and scripts."
    )

    @Option(name: .customLong("config"), help: "TOML configuration file to read the secret file and claims from.")
    var configFile: String?
    @Option(name: .customLong("jwt-secret-file")) var jwtSecretFile: String?
    @Option(help: "The token's subject: the caller's identity and the owner of what it creates.") var sub: String
    @Option(name: .customLong("role"), help: "A role, e.g. ADMIN; repeatable.") var roles: [String] = []
    @Option(help: "How long the token is valid: 90s, 30m, 1h, 7d.") var ttl: String = "1h"

    func run() async throws {
        do {
            var flags = DaemonFlags()
            flags.configFile = configFile
            flags.jwtSecretFile = jwtSecretFile
            let configuration = try DaemonConfiguration.resolve(flags: flags, environment: ProcessInfo.processInfo.environment)
            guard let secretFile = configuration.jwtSecretFile else {
                throw UsageError(description: "no HS256 secret configured: pass --jwt-secret-file or set auth.jwt_secret_file")
            }
            guard !sub.isEmpty else { throw UsageError(description: "--sub must not be empty") }
            let minter = await TokenMinter(hs256Secret: try AuthConfiguration.loadSecret(path: secretFile))
            let token = try await minter.mint(subject: sub, roles: roles, ttl: try parseDuration(ttl),
                                              rolesClaim: configuration.rolesClaim, issuer: configuration.jwtIssuer,
                                              audience: configuration.jwtAudience)
            print(token)
        } catch {
            throw fail(error)
        }
    }
}
