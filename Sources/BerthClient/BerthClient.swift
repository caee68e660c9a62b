import AsyncHTTPClient
import Foundation
import JSONValue
import NIOCore
import NIOHTTP1

/// The public Container Service API of one node, as a client sees it: every call is one HTTP
/// request with the bearer token; answers are decoded into the API's shapes and kept as the JSON
/// that was sent, so a client can print exactly what the node said.
public struct BerthClient: Sendable {
    /// `http://host:port`, without a trailing slash.
    public let baseURL: String
    public let token: String?
    /// How long one request may take, answer included (a log follow has none).
    public var timeout: TimeAmount = .seconds(30)
    private let http: HTTPClient

    public init(baseURL: String, token: String?, http: HTTPClient = .shared) {
        var url = baseURL
        while url.hasSuffix("/") { url.removeLast() }
        self.baseURL = url
        self.token = token
        self.http = http
    }

    // MARK: - Containers

    /// Every page of the list, followed by its `nextPageToken`.
    public func containers(all: Bool = false, name: String? = nil) async throws -> [Fetched<Container>] {
        var query: [String] = ["pageSize=1000"]
        if all { query.append("all=true") }
        if let name { query.append("name=\(Self.escape(name))") }
        var containers: [Fetched<Container>] = []
        var token: String?
        repeat {
            let page = query + (token.map { ["pageToken=\(Self.escape($0))"] } ?? [])
            let json = try await send(.GET, "/v1/containers?" + page.joined(separator: "&"))
            containers += try Fetched.list(json, key: "containers")
            token = json["nextPageToken"]?.stringValue
        } while token != nil
        return containers
    }

    public func container(id: String) async throws -> Fetched<Container> {
        try Fetched(try await send(.GET, "/v1/containers/\(Self.escape(id))"))
    }

    /// The container a person named: an id (a UUID), or a name among the caller's containers
    /// and, for an ADMIN, every owner's (asked for only when the caller has none of that name;
    /// anyone else's `all=true` is refused with 403, which then means not found).
    public func resolve(_ nameOrID: String) async throws -> Fetched<Container> {
        if UUID(uuidString: nameOrID) != nil {
            return try await container(id: nameOrID.lowercased())
        }
        if let own = try await containers(name: nameOrID).first { return own }
        do {
            if let any = try await containers(all: true, name: nameOrID).first { return any }
        } catch ClientError.api(status: 403, _) {}
        throw ClientError.notFound("no container named \(nameOrID)")
    }

    public func create(_ body: JSONValue) async throws -> Fetched<Container> {
        try Fetched(try await send(.POST, "/v1/containers", body: body))
    }

    public func update(id: String, _ body: JSONValue) async throws -> Fetched<Container> {
        try Fetched(try await send(.PUT, "/v1/containers/\(Self.escape(id))", body: body))
    }

    public func delete(id: String) async throws {
        _ = try await send(.DELETE, "/v1/containers/\(Self.escape(id))")
    }

    /// Newest first.
    public func revisions(id: String) async throws -> [Fetched<Revision>] {
        try Fetched.list(try await send(.GET, "/v1/containers/\(Self.escape(id))/revisions"), key: "revisions")
    }

    public func instances(id: String) async throws -> [Fetched<Instance>] {
        try Fetched.list(try await send(.GET, "/v1/containers/\(Self.escape(id))/instances"), key: "instances")
    }

    public func gpuModels() async throws -> [Fetched<GPUModel>] {
        try Fetched.list(try await send(.GET, "/v1/gpu-models"), key: "gpuModels")
    }

    // MARK: - Logs

    public struct LogQuery: Sendable {
        public var tail: Int?
        public var since: String?
        public var revision: Int?
        public var timestamps = false

        public init(tail: Int? = nil, since: String? = nil, revision: Int? = nil, timestamps: Bool = false) {
            self.tail = tail
            self.since = since
            self.revision = revision
            self.timestamps = timestamps
        }

        func path(id: String, follow: Bool) -> String {
            var query: [String] = []
            if let tail { query.append("tail=\(tail)") }
            if let since { query.append("since=\(BerthClient.escape(since))") }
            if let revision { query.append("revision=\(revision)") }
            if timestamps { query.append("timestamps=true") }
            if follow { query.append("follow=true") }
            return "/v1/containers/\(BerthClient.escape(id))/logs" + (query.isEmpty ? "" : "?" + query.joined(separator: "&"))
        }
    }

    /// The log lines the query selects, as text.
    public func logs(id: String, _ query: LogQuery) async throws -> String {
        let response = try await execute(.GET, query.path(id: id, follow: false), body: nil, deadline: .now() + timeout)
        let body = try await response.body.collect(upTo: 256 << 20)
        try Self.check(response.status, body)
        return String(buffer: body)
    }

    /// The log lines, then every new one as it is written, until the container is deleted or
    /// the caller stops reading (the follow has no deadline: the person following ends it).
    public func followLogs(id: String, _ query: LogQuery) async throws -> AsyncThrowingStream<String, any Error> {
        let response = try await execute(.GET, query.path(id: id, follow: true), body: nil, deadline: .distantFuture)
        if response.status.code >= 400 {
            try Self.check(response.status, try await response.body.collect(upTo: 1 << 20))
        }
        return AsyncThrowingStream { continuation in
            let reader = Task {
                var pending: [UInt8] = []
                do {
                    for try await chunk in response.body {
                        pending += chunk.readableBytesView
                        while let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
                            continuation.yield(String(decoding: pending[..<newline], as: UTF8.self))
                            pending.removeSubrange(...newline)
                        }
                    }
                    if !pending.isEmpty { continuation.yield(String(decoding: pending, as: UTF8.self)) }
                    continuation.finish()
                } catch {
                    continuation.finish(throwing: ClientError.unreachable(url: baseURL, reason: "the log stream broke: \(error)"))
                }
            }
            continuation.onTermination = { _ in reader.cancel() }
        }
    }

    // MARK: - Requests

    /// One request; the answer's JSON (`.null` for an empty body). 4xx and 5xx throw
    /// `ClientError.api` with the problem's detail.
    public func send(_ method: HTTPMethod, _ path: String, body: JSONValue? = nil) async throws -> JSONValue {
        let response = try await execute(method, path, body: body, deadline: .now() + timeout)
        let bytes: ByteBuffer
        do {
            bytes = try await response.body.collect(upTo: 64 << 20)
        } catch {
            throw ClientError.unreachable(url: baseURL, reason: "the answer broke off: \(error)")
        }
        try Self.check(response.status, bytes)
        guard bytes.readableBytes > 0 else { return .null }
        do {
            return try JSONValue.parse(Data(bytes.readableBytesView))
        } catch {
            throw ClientError.badResponse("\(method) \(path) answered \(response.status.code) with a body that is not JSON")
        }
    }

    private func execute(_ method: HTTPMethod, _ path: String, body: JSONValue?, deadline: NIODeadline) async throws -> HTTPClientResponse {
        var request = HTTPClientRequest(url: baseURL + path)
        request.method = method
        request.headers.add(name: "User-Agent", value: "berth/1")
        request.headers.add(name: "Accept", value: "application/json, application/problem+json, text/plain")
        if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: Array(try body.serialized())))
        }
        do {
            return try await http.execute(request, deadline: deadline)
        } catch let error as HTTPClientError where error == .deadlineExceeded || error == .readTimeout {
            throw ClientError.unreachable(url: baseURL, reason: "no answer within \(timeout.nanoseconds / 1_000_000_000)s")
        } catch {
            throw ClientError.unreachable(url: baseURL, reason: Self.reason(error))
        }
    }

    /// Throws the node's refusal as one line: the problem's detail, else its title, else the
    /// status line.
    static func check(_ status: HTTPResponseStatus, _ body: ByteBuffer) throws {
        guard status.code >= 400 else { return }
        let problem = try? JSONDecoder().decode(Problem.self, from: Data(body.readableBytesView))
        var message = problem?.detail ?? problem?.title ?? String(buffer: body).trimmingCharacters(in: .whitespacesAndNewlines)
        if message.isEmpty { message = "\(status.code) \(status.reasonPhrase)" }
        throw ClientError.api(status: Int(status.code), message: message.split(whereSeparator: \.isNewline).joined(separator: " "))
    }

    static func reason(_ error: any Error) -> String {
        let text = "\(error)"
        if text.contains("connectionRefused") || text.contains("Connection refused") { return "connection refused" }
        return text.split(whereSeparator: \.isNewline).first.map(String.init) ?? text
    }

    /// Percent-escapes a path segment or query value.
    static func escape(_ text: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~:")
        return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? text
    }
}

/// Why a call failed, by kind: a client tells a person what to do next from it.
public enum ClientError: Error, Sendable, CustomStringConvertible {
    /// The node could not be reached or did not answer.
    case unreachable(url: String, reason: String)
    /// The node answered with a 4xx or 5xx status; `message` is one line.
    case api(status: Int, message: String)
    /// Nothing of that name or id.
    case notFound(String)
    /// The node answered something that is not the API's.
    case badResponse(String)

    public var description: String {
        switch self {
        case .unreachable(let url, let reason): return "cannot reach \(url): \(reason)"
        case .api(_, let message): return message
        case .notFound(let message): return message
        case .badResponse(let message): return message
        }
    }
}
