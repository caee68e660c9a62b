import GRPCCore

/// A failed containerd call, with the gRPC status mapped to what callers decide on.
public struct ContainerdError: Error, Equatable, Sendable, CustomStringConvertible {
    public enum Code: Sendable, Equatable {
        case notFound
        case alreadyExists
        case unavailable
        case failedPrecondition
        case invalidArgument
        case deadlineExceeded
        case cancelled
        case permissionDenied
        case resourceExhausted
        case aborted
        case outOfRange
        case unimplemented
        case `internal`
        case unknown
    }

    public var code: Code
    public var message: String
    /// The RPC that failed, e.g. "Content.Write".
    public var operation: String

    public init(code: Code, message: String, operation: String) {
        self.code = code
        self.message = message
        self.operation = operation
    }

    public var description: String {
        "containerd \(operation): \(code): \(message)"
    }

    init(_ error: RPCError, operation: String) {
        let code: Code
        switch error.code {
        case .notFound: code = .notFound
        case .alreadyExists: code = .alreadyExists
        case .unavailable: code = .unavailable
        case .failedPrecondition: code = .failedPrecondition
        case .invalidArgument: code = .invalidArgument
        case .deadlineExceeded: code = .deadlineExceeded
        case .cancelled: code = .cancelled
        case .permissionDenied, .unauthenticated: code = .permissionDenied
        case .resourceExhausted: code = .resourceExhausted
        case .aborted: code = .aborted
        case .outOfRange: code = .outOfRange
        case .unimplemented: code = .unimplemented
        case .internalError, .dataLoss: code = .internal
        default: code = .unknown
        }
        self.init(code: code, message: error.message, operation: operation)
    }
}
