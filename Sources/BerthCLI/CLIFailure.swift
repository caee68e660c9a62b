import BerthClient

/// A failure as `berth` reports it: one line on standard error and an exit status that tells
/// its kind apart, so scripts can react without reading the message.
public struct CLIFailure: Error, CustomStringConvertible, Sendable {
    public enum Kind: Int32, Sendable, CaseIterable {
        /// Anything not listed below.
        case other = 1
        /// Bad flags or arguments, a bad configuration file, no node configured.
        case usage = 2
        /// No such container or revision (404).
        case notFound = 3
        /// No token, or the node refused it (401) or the caller may not (403).
        case unauthorized = 4
        /// The node refused the request as asked (400, 409, 413, 415, 422).
        case refused = 5
        /// The revision deployed failed, or a newer one replaced it before it served.
        case deployFailed = 6
        /// The node could not be reached, failed (5xx), or a wait ran out of time.
        case unavailable = 7
    }

    public var kind: Kind
    public var message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { message }

    /// The failure for any error a command threw.
    static func from(_ error: any Error) -> CLIFailure {
        switch error {
        case let failure as CLIFailure:
            return failure
        case let error as ClientError:
            switch error {
            case .unreachable: return CLIFailure(.unavailable, error.description)
            case .notFound(let message): return CLIFailure(.notFound, message)
            case .badResponse(let message): return CLIFailure(.unavailable, message)
            case .api(let status, let message):
                switch status {
                case 401: return CLIFailure(.unauthorized, "the node refused the token: \(message) (berth login again?)")
                case 403: return CLIFailure(.unauthorized, message)
                case 404: return CLIFailure(.notFound, message)
                case 400..<500: return CLIFailure(.refused, message)
                default: return CLIFailure(.unavailable, "the node failed (\(status)): \(message)")
                }
            }
        default:
            return CLIFailure(.other, "\(error)")
        }
    }
}
