import GRPCCore
import Synchronization

/// A small gRPC service for the proxy's end-to-end tests, run in a container behind Berth's
/// proxy. Messages are raw bytes (no protobuf), so the service needs no generated code.
///
/// - `Get` (unary): answers the request's bytes; its initial metadata echoes the request's
///   `x-echo`, its trailing metadata holds `x-trailer: done` and the `grpc-timeout` the call
///   arrived with (`x-grpc-timeout`, empty when none): a deadline passed through shows there.
/// - `Expand` (server streaming): for the request `N` (decimal text), answers `0` … `N-1`, then
///   trailing metadata `x-count: N`.
/// - `Sleep` (unary): sleeps the request's milliseconds (decimal text), then answers `slept`.
///   Calls are counted as they start, and again when they end early (the client's RST_STREAM,
///   or the deadline).
/// - `Stats` (unary): answers `started=<Sleep calls> cancelled=<those that ended early>`.
public struct EchoService: RegistrableRPCService {
    public static let service = "berth.test.Echo"
    public static let get = MethodDescriptor(fullyQualifiedService: service, method: "Get")
    public static let expand = MethodDescriptor(fullyQualifiedService: service, method: "Expand")
    public static let sleep = MethodDescriptor(fullyQualifiedService: service, method: "Sleep")
    public static let stats = MethodDescriptor(fullyQualifiedService: service, method: "Stats")

    private let started = Counter()
    private let cancelled = Counter()

    public init() {}

    public func registerMethods<Transport: ServerTransport>(with router: inout RPCRouter<Transport>) {
        router.registerHandler(forMethod: Self.get, deserializer: RawBytes(), serializer: RawBytes()) { request, _ in
            let single = try await ServerRequest(stream: request)
            var metadata = Metadata()
            for value in single.metadata[stringValues: "x-echo"] { metadata.addString(value, forKey: "x-echo") }
            let timeout = single.metadata[stringValues: "grpc-timeout"].first(where: { _ in true }) ?? ""
            return StreamingServerResponse(single: ServerResponse(
                message: single.message, metadata: metadata,
                trailingMetadata: ["x-trailer": "done", "x-grpc-timeout": "\(timeout)"]))
        }
        router.registerHandler(forMethod: Self.expand, deserializer: RawBytes(), serializer: RawBytes()) { request, _ in
            let single = try await ServerRequest(stream: request)
            let count = Int(String(decoding: single.message, as: UTF8.self)) ?? 0
            return StreamingServerResponse { writer in
                for index in 0..<count { try await writer.write(Array("\(index)".utf8)) }
                return ["x-count": "\(count)"]
            }
        }
        router.registerHandler(forMethod: Self.sleep, deserializer: RawBytes(), serializer: RawBytes()) { [started, cancelled] request, context in
            let single = try await ServerRequest(stream: request)
            started.add()
            let milliseconds = Int(String(decoding: single.message, as: UTF8.self)) ?? 0
            // gRPC tells a handler of its call's end (a reset stream, the deadline) through the
            // context's handle, not by cancelling its task: the sleep races that handle.
            let slept = try await withThrowingTaskGroup(of: Bool.self) { group in
                group.addTask {
                    try await Task.sleep(for: .milliseconds(milliseconds))
                    return true
                }
                group.addTask {
                    try await context.cancellation.cancelled
                    return false
                }
                defer { group.cancelAll() }
                return try await group.next() ?? false
            }
            guard slept else {
                cancelled.add()
                throw RPCError(code: .cancelled, message: "the call ended before the sleep")
            }
            return StreamingServerResponse(single: ServerResponse(message: Array("slept".utf8)))
        }
        router.registerHandler(forMethod: Self.stats, deserializer: RawBytes(), serializer: RawBytes()) { [started, cancelled] request, _ in
            _ = try await ServerRequest(stream: request)
            let text = "started=\(started.value) cancelled=\(cancelled.value)"
            return StreamingServerResponse(single: ServerResponse(message: Array(text.utf8)))
        }
    }
}

/// A count shared by the service's handlers.
final class Counter: Sendable {
    private let count = Mutex(0)

    func add() { count.withLock { $0 += 1 } }

    var value: Int { count.withLock { $0 } }
}

/// A message that is its bytes, both ways.
public struct RawBytes: MessageSerializer, MessageDeserializer {
    public init() {}

    public func serialize<Bytes: GRPCContiguousBytes>(_ message: [UInt8]) throws -> Bytes {
        Bytes(message)
    }

    public func deserialize<Bytes: GRPCContiguousBytes>(_ serializedMessageBytes: Bytes) throws -> [UInt8] {
        serializedMessageBytes.withUnsafeBytes { Array($0) }
    }
}
