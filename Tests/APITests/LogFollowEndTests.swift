import BerthModel
import Foundation
import Hummingbird
import HummingbirdTesting
@testable import Store
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// `GET /v1/containers/:id/logs?follow=true` ends with its container or its client. The
/// container here never wrote a log, so the follow waits for its first file: only the end
/// signal can stop it.
final class LogFollowEndTests: XCTestCase {
    private func makeContainer(_ api: InProcessAPI) throws -> StoredContainer {
        let spec = RevisionSpec(image: "registry.test/app:1", cpu: 1, memory: try Quantity(parsing: "64Mi"),
                                ephemeralStorage: try Quantity(parsing: "64Mi"), port: 8080)
        return try api.database.createContainer(name: "web", owner: "alice", spec: spec).0
    }

    /// Polls `condition` for up to `seconds`.
    private static func eventually(_ seconds: Double, _ condition: () -> Bool) async throws -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if condition() { return true }
            try await Task.sleep(for: .milliseconds(20))
        }
        return condition()
    }

    func testAFollowEndsWhenItsContainerIsDeleted() async throws {
        for delete in ["mark deleting", "delete the row"] {
            let api = try await InProcessAPI()
            let container = try makeContainer(api)
            let token = try await api.token("alice")
            let finished = ManagedAtomicFlag()
            let follow = Task {
                defer { finished.set() }
                return try await api.request(.get, "/v1/containers/\(container.id)/logs?follow=true", token: token).status
            }
            let following = try await Self.eventually(5) { api.database.containerChanges.subscriberCount == 1 }
            XCTAssertTrue(following, delete)
            try await Task.sleep(for: .milliseconds(200))
            XCTAssertFalse(finished.isSet, "the follow ended on its own (\(delete))")

            if delete == "mark deleting" {
                try api.database.markDeleting(containerID: container.id)
            } else {
                try api.database.deleteContainer(id: container.id)
            }
            let ended = try await Self.eventually(5) { finished.isSet }
            XCTAssertTrue(ended, "the follow outlived its container (\(delete))")
            if !finished.isSet { try? api.database.deleteContainer(id: container.id) }
            let status = try await follow.value
            XCTAssertEqual(status, 200)
            XCTAssertEqual(api.database.containerChanges.subscriberCount, 0, "the follow's subscription went with it")
        }
    }

    /// Over a real socket: the client closes its end and the server stops following.
    func testAFollowEndsWhenItsClientGoesAway() async throws {
        let api = try await InProcessAPI()
        let container = try makeContainer(api)
        let token = try await api.token("alice")
        let app = Application(router: api.router)
        try await app.test(.live) { client in
            let port = try XCTUnwrap(client.port)
            let socket = try LoopbackSocket(port: port)
            try socket.send("GET /v1/containers/\(container.id)/logs?follow=true HTTP/1.1\r\nHost: localhost\r\n"
                + "Authorization: Bearer \(token)\r\n\r\n")
            let head = try socket.receive(until: "\r\n\r\n")
            XCTAssertTrue(head.hasPrefix("HTTP/1.1 200"), head)
            let following = try await Self.eventually(5) { api.database.containerChanges.subscriberCount == 1 }
            XCTAssertTrue(following)

            socket.close()
            let ended = try await Self.eventually(5) { api.database.containerChanges.subscriberCount == 0 }
            XCTAssertTrue(ended, "the follow went on after its client left")
            // Unblocks the server's shutdown if it did not end.
            if !ended { try api.database.deleteContainer(id: container.id) }
        }
    }
}

/// A flag set once, read from any thread.
final class ManagedAtomicFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    var isSet: Bool { lock.withLock { value } }
    func set() { lock.withLock { value = true } }
}

/// A blocking TCP client to 127.0.0.1, for what an HTTP client library hides (closing mid-response).
final class LoopbackSocket: @unchecked Sendable {
    private var descriptor: Int32

    init(port: Int) throws {
        descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw POSIXError(.init(rawValue: errno) ?? .EIO) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var timeout = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard connected == 0 else {
            let error = errno
            Glibc.close(descriptor)
            throw POSIXError(.init(rawValue: error) ?? .ECONNREFUSED)
        }
    }

    func send(_ text: String) throws {
        let bytes = Array(text.utf8)
        var sent = 0
        while sent < bytes.count {
            let count = bytes[sent...].withUnsafeBytes { Glibc.send(descriptor, $0.baseAddress, $0.count, 0) }
            guard count > 0 else { throw POSIXError(.init(rawValue: errno) ?? .EIO) }
            sent += count
        }
    }

    /// Reads until `marker` has arrived (or the 5 s receive timeout), returning what was read.
    func receive(until marker: String) throws -> String {
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while !String(decoding: received, as: UTF8.self).contains(marker) {
            let count = buffer.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) }
            guard count > 0 else { break }
            received += buffer[..<count]
        }
        return String(decoding: received, as: UTF8.self)
    }

    func close() {
        if descriptor >= 0 { Glibc.close(descriptor) }
        descriptor = -1
    }

    deinit { close() }
}
