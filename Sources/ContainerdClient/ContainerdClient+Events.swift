import ContainerdAPI
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import SwiftProtobuf
import Synchronization

/// The task events Berth acts on; anything else arrives as `.other` with its topic.
public enum ContainerdEvent: Sendable, Equatable {
    case taskStart(containerID: String, pid: UInt32)
    /// `execID` is empty for the init process.
    case taskExit(containerID: String, execID: String, pid: UInt32, exitStatus: UInt32, exitedAt: Date?)
    case taskOOM(containerID: String)
    case taskDelete(containerID: String, pid: UInt32, exitStatus: UInt32)
    case taskPaused(containerID: String)
    case taskResumed(containerID: String)
    case other(topic: String)
}

public struct ContainerdEnvelope: Sendable, Equatable {
    public var timestamp: Date?
    public var namespace: String
    public var topic: String
    public var event: ContainerdEvent
}

extension ContainerdClient {
    var events: Containerd_Services_Events_V1_Events.Client<HTTP2ClientTransport.Posix> {
        .init(wrapping: grpc)
    }

    /// Streams events in this client's namespace, matching containerd filters such as
    /// `topic~="/tasks/"`, until the stream breaks (containerd restarted) or the caller's task
    /// is cancelled. `onSubscribed` runs once the subscription is live, so a caller can reconcile
    /// its state knowing no later event will be missed.
    ///
    /// containerd sends the stream's headers only with its first event, so being subscribed is
    /// proven by publishing a marker event until it comes back through the stream.
    public func subscribeEvents(
        topicFilter: String? = nil,
        onSubscribed: @escaping @Sendable () async throws -> Void = {},
        _ handle: @escaping @Sendable (ContainerdEnvelope) async throws -> Void
    ) async throws {
        let scope = "namespace==\"\(namespace)\""
        let marker = "/berth/subscribed/\(UUID().uuidString.lowercased())"
        let request = Containerd_Services_Events_V1_SubscribeRequest.with {
            $0.filters = [topicFilter.map { "\(scope),\($0)" } ?? scope, "\(scope),topic==\"\(marker)\""]
        }
        let live = SubscriptionFlag()
        // Each child says whether it was the subscription that ended.
        try await withThrowingTaskGroup(of: Bool.self) { group in
            group.addTask {
                try await call("Events.Subscribe") {
                    try await events.subscribe(request, metadata: metadata, options: Self.streamingOptions) { response in
                        for try await proto in response.messages {
                            if proto.topic == marker {
                                if live.set() { try await onSubscribed() }
                                continue
                            }
                            try await handle(ContainerdEnvelope(proto))
                        }
                    }
                }
                return true
            }
            group.addTask {
                for _ in 0..<200 where !live.isSet {
                    try await publish(topic: marker)
                    try await Task.sleep(for: .milliseconds(50))
                }
                guard live.isSet else {
                    throw ContainerdError(code: .deadlineExceeded, message: "the event subscription did not come live within 10 s",
                                          operation: "Events.Subscribe")
                }
                return false
            }
            while let subscriptionEnded = try await group.next() {
                if subscriptionEnded {
                    group.cancelAll()
                    return
                }
            }
        }
    }

    /// Publishes an event with an empty payload on `topic` in this namespace.
    public func publish(topic: String) async throws {
        _ = try await unary("Events.Publish") {
            try await events.publish(.with {
                $0.topic = topic
                $0.event = Google_Protobuf_Any.with { $0.typeURL = "types.berth.dev/ping" }
            }, metadata: metadata, options: Self.unaryOptions)
        }
    }
}

extension ContainerdEnvelope {
    init(_ proto: Containerd_Types_Envelope) {
        self.init(timestamp: proto.timestamp.dateIfSet, namespace: proto.namespace, topic: proto.topic,
                  event: ContainerdEvent(topic: proto.topic, any: proto.event))
    }
}

extension ContainerdEvent {
    /// Decodes by type URL, which containerd sets to the bare message name
    /// ("containerd.events.TaskExit"), with or without a "types.googleapis.com/"-style prefix.
    init(topic: String, any: Google_Protobuf_Any) {
        let name = any.typeURL.split(separator: "/").last.map(String.init) ?? any.typeURL
        do {
            switch name {
            case "containerd.events.TaskStart":
                let e = try Containerd_Events_TaskStart(serializedBytes: any.value)
                self = .taskStart(containerID: e.containerID, pid: e.pid)
            case "containerd.events.TaskExit":
                let e = try Containerd_Events_TaskExit(serializedBytes: any.value)
                self = .taskExit(containerID: e.containerID, execID: e.id == e.containerID ? "" : e.id, pid: e.pid,
                                 exitStatus: e.exitStatus, exitedAt: e.exitedAt.dateIfSet)
            case "containerd.events.TaskOOM":
                self = .taskOOM(containerID: try Containerd_Events_TaskOOM(serializedBytes: any.value).containerID)
            case "containerd.events.TaskDelete":
                let e = try Containerd_Events_TaskDelete(serializedBytes: any.value)
                self = .taskDelete(containerID: e.containerID, pid: e.pid, exitStatus: e.exitStatus)
            case "containerd.events.TaskPaused":
                self = .taskPaused(containerID: try Containerd_Events_TaskPaused(serializedBytes: any.value).containerID)
            case "containerd.events.TaskResumed":
                self = .taskResumed(containerID: try Containerd_Events_TaskResumed(serializedBytes: any.value).containerID)
            default:
                self = .other(topic: topic)
            }
        } catch {
            self = .other(topic: topic)
        }
    }
}

/// Set once the subscription has seen its marker event.
private final class SubscriptionFlag: Sendable {
    private let value = Atomic(false)

    var isSet: Bool { value.load(ordering: .acquiring) }

    /// Sets the flag; true for the caller that set it first.
    func set() -> Bool {
        !value.exchange(true, ordering: .acquiringAndReleasing)
    }
}
