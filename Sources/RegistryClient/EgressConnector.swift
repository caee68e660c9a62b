import AsyncHTTPClient
import Foundation
import NIOCore
import Synchronization

/// Why a connection is made: named in the error when it is refused.
enum EgressPurpose: Sendable {
    /// The first request to a registry or mirror endpoint.
    case registry
    case redirect
    case tokenRealm

    func target(_ url: String) -> String {
        switch self {
        case .registry: "registry \(url)"
        case .redirect: "registry redirect to \(url)"
        case .tokenRealm: "token realm \(url)"
        }
    }
}

/// Makes every connection of the registry client go to an address `EgressPolicy` allows.
///
/// AsyncHTTPClient has no hook into its resolver or its connect, so the name is resolved here
/// (getaddrinfo), every address it has is checked, and the request goes through a client whose
/// `dnsOverride` maps the name to the one checked address: AHC then connects to that IP literal
/// (no second lookup that a rebinding DNS server could answer differently) while it still sends
/// the name as `Host`, as TLS SNI, and verifies the certificate for the name. URLs naming an IP
/// literal need no lookup and use the shared client. Pinned clients are kept per (name, address)
/// while responses from them are alive, and shut down once idle.
final class EgressConnector: Sendable {
    typealias Resolver = @Sendable (_ host: String) async throws -> [IPAddressBytes]

    let policy: EgressPolicy
    private let configuration: HTTPClient.Configuration
    private let direct: HTTPClient
    private let resolve: Resolver
    private let pins = Mutex(PinTable())

    /// Pinned clients idle this long are shut down; at most `pinLimit` idle ones are kept.
    static let pinIdleTime: Duration = .seconds(60)
    static let pinLimit = 32

    init(policy: EgressPolicy, configuration: HTTPClient.Configuration, resolve: @escaping Resolver = EgressConnector.systemResolve) {
        self.policy = policy
        self.configuration = configuration
        self.resolve = resolve
        direct = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    func shutdown() async throws {
        let clients = pins.withLock { table in
            defer { table.entries = [:] }
            return table.entries.values.map(\.client)
        }
        for client in clients { try? await client.shutdown() }
        try await direct.shutdown()
    }

    /// Checks `url` for `purpose` and sends `request` to the checked address. `plainHTTPAccepted`
    /// says whether the endpoint this request belongs to is itself plain HTTP (the operator chose
    /// that); otherwise only hosts in `insecureHosts` are spoken to over HTTP.
    /// Failures to resolve are `TransportFailure`s of `endpoint`, so they are retried like others.
    func execute(_ request: HTTPClientRequest, url: String, purpose: EgressPurpose, plainHTTPAccepted: Bool,
                 endpoint: String, deadline: NIODeadline) async throws -> HTTPClientResponse {
        let target = try checkedTarget(url, purpose: purpose, plainHTTPAccepted: plainHTTPAccepted)
        if let literal = IPAddressBytes(target.host) {
            try refuseIfNotPublic(literal, target: target, resolvedFrom: nil)
            return try await direct.execute(request, deadline: deadline)
        }
        let addresses: [IPAddressBytes]
        do {
            addresses = try await resolve(target.host)
        } catch let error as ResolveFailure {
            throw TransportFailure.connection(endpoint: endpoint, underlying: "cannot resolve \(Sanitized.text(target.host)): \(error.reason)")
        }
        guard !addresses.isEmpty else {
            throw TransportFailure.connection(endpoint: endpoint, underlying: "\(Sanitized.text(target.host)) has no address")
        }
        // Every address is checked, not only the one used: a name with one public and one
        // private address is refused outright rather than sometimes.
        for address in addresses {
            try refuseIfNotPublic(address, target: target, resolvedFrom: target.host)
        }
        // In getaddrinfo's order; the next address only when no answer came from this one
        // (`localhost` is ::1 first, and a server may listen on 127.0.0.1 only). Every request
        // is a GET, so sending it again is harmless.
        for (index, address) in addresses.enumerated() {
            let lease = lease(host: target.host, address: address.text)
            do {
                var response = try await lease.client.execute(request, deadline: deadline)
                response.body = .stream(LeasedBody(body: response.body, lease: lease))
                return response
            } catch where index < addresses.count - 1 && !(error is CancellationError) && NIODeadline.now() < deadline {
                continue
            }
        }
        preconditionFailure("the last address returns or throws")
    }

    struct Target {
        var scheme: String
        var host: String
        var port: Int
        var display: String
        var purpose: EgressPurpose
    }

    /// The URL's scheme and host, if the policy allows speaking to it at all.
    func checkedTarget(_ url: String, purpose: EgressPurpose, plainHTTPAccepted: Bool) throws -> Target {
        guard let components = URLComponents(string: url), let rawScheme = components.scheme,
              let rawHost = components.host, !rawHost.isEmpty
        else {
            throw RegistryError.egressRefused(target: purpose.target(Sanitized.text(RegistryClient.redacted(url))),
                                              reason: "not an http or https URL with a host")
        }
        let scheme = rawScheme.lowercased()
        let host = EgressPolicy.bare(rawHost).lowercased()
        let port = components.port ?? (scheme == "https" ? 443 : 80)
        let hostText = host.contains(":") ? "[\(host)]" : host
        let authority = components.port.map { "\(hostText):\($0)" } ?? hostText
        let display = Sanitized.text("\(scheme)://\(authority)")
        guard scheme == "http" || scheme == "https" else {
            throw RegistryError.egressRefused(target: purpose.target(display), reason: "only http and https URLs are allowed")
        }
        if scheme == "http", !plainHTTPAccepted, !policy.insecureHosts.contains(authority) {
            throw RegistryError.egressRefused(target: purpose.target(display),
                                              reason: "plain HTTP is allowed only for hosts in registry.insecure")
        }
        return Target(scheme: scheme, host: host, port: port, display: display, purpose: purpose)
    }

    private func refuseIfNotPublic(_ address: IPAddressBytes, target: Target, resolvedFrom name: String?) throws {
        let kind = AddressClass.of(address.bytes)
        guard !kind.isPublic, !policy.allowsAnyAddress(host: target.host, port: target.port) else { return }
        let what = name.map { _ in "it resolves to \(address.text), a \(kind)," } ?? "\(kind)"
        throw RegistryError.egressRefused(
            target: target.purpose.target(target.display),
            reason: "\(what) not allowed (name the host in registry.allow_private to allow it)")
    }

    // MARK: - Pinned clients

    private struct PinKey: Hashable {
        var host: String
        var address: String
    }

    private struct Pin {
        var client: HTTPClient
        var leases = 0
        var lastUsed = ContinuousClock.now
    }

    private struct PinTable {
        var entries: [PinKey: Pin] = [:]
    }

    final class Lease: Sendable {
        let client: HTTPClient
        private let release: @Sendable () -> Void

        init(client: HTTPClient, release: @escaping @Sendable () -> Void) {
            self.client = client
            self.release = release
        }

        deinit { release() }
    }

    private func lease(host: String, address: String) -> Lease {
        let key = PinKey(host: host, address: address)
        let (client, retired) = pins.withLock { table -> (HTTPClient, [HTTPClient]) in
            let now = ContinuousClock.now
            var pin = table.entries[key] ?? Pin(client: makePinnedClient(host: host, address: address))
            pin.leases += 1
            pin.lastUsed = now
            table.entries[key] = pin
            // Idle pins go: old ones, and the least recently used beyond the limit.
            var idle = table.entries.filter { $0.value.leases == 0 }.sorted { $0.value.lastUsed < $1.value.lastUsed }
            var retired: [HTTPClient] = []
            while let oldest = idle.first, now - oldest.value.lastUsed > Self.pinIdleTime || idle.count > Self.pinLimit {
                retired.append(oldest.value.client)
                table.entries[oldest.key] = nil
                idle.removeFirst()
            }
            return (pin.client, retired)
        }
        for old in retired {
            Task { try? await old.shutdown() }
        }
        return Lease(client: client) { [weak self] in
            self?.pins.withLock { table in
                guard var pin = table.entries[key] else { return }
                pin.leases -= 1
                pin.lastUsed = .now
                table.entries[key] = pin
            }
        }
    }

    private func makePinnedClient(host: String, address: String) -> HTTPClient {
        var pinned = configuration
        pinned.dnsOverride = [host: address]
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: pinned)
    }

    /// Pinned clients alive now, for tests.
    var pinnedCount: Int { pins.withLock { $0.entries.count } }

    // MARK: - Resolving

    struct ResolveFailure: Error {
        var reason: String
    }

    /// Every address getaddrinfo gives for `host`, in its order (RFC 6724), without repeats.
    /// getaddrinfo blocks, so it runs on a Dispatch thread rather than the cooperative pool.
    static func systemResolve(_ host: String) async throws -> [IPAddressBytes] {
        try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async {
                var hints = addrinfo()
                hints.ai_family = AF_UNSPEC
                hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
                var list: UnsafeMutablePointer<addrinfo>?
                let status = getaddrinfo(host, nil, &hints, &list)
                guard status == 0 else {
                    continuation.resume(throwing: ResolveFailure(reason: String(cString: gai_strerror(status)).lowercased()))
                    return
                }
                defer { freeaddrinfo(list) }
                var addresses: [IPAddressBytes] = []
                var next = list
                while let info = next?.pointee {
                    next = info.ai_next
                    guard let raw = info.ai_addr else { continue }
                    let address: IPAddressBytes
                    switch info.ai_family {
                    case AF_INET:
                        var sin = raw.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { $0.pointee.sin_addr }
                        address = IPAddressBytes(bytes: withUnsafeBytes(of: &sin) { Array($0) })
                    case AF_INET6:
                        var sin6 = raw.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { $0.pointee.sin6_addr }
                        address = IPAddressBytes(bytes: withUnsafeBytes(of: &sin6) { Array($0) })
                    default:
                        continue
                    }
                    if !addresses.contains(address) { addresses.append(address) }
                }
                continuation.resume(returning: addresses)
            }
        }
    }
}

/// A response body that holds its pinned client's lease until the body is gone.
struct LeasedBody: AsyncSequence, Sendable {
    typealias Element = ByteBuffer
    let body: HTTPClientResponse.Body
    let lease: EgressConnector.Lease

    struct AsyncIterator: AsyncIteratorProtocol {
        var inner: HTTPClientResponse.Body.AsyncIterator
        let lease: EgressConnector.Lease

        mutating func next() async throws -> ByteBuffer? {
            try await inner.next()
        }
    }

    func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(inner: body.makeAsyncIterator(), lease: lease)
    }
}
