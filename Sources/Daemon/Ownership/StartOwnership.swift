import CNI
import ContainerdClient
import Logging
import Runtime
import Store

/// Carries out `OwnershipDecision` at start, before recovery: lists the namespace's Berth
/// objects of other identities and refuses, warns or purges. Runs on a connection of its own,
/// since the node's connection is a service that runs only once the node does.
struct StartOwnership {
    let socketPath: String
    let namespace: String
    let node: NodeIdentityRecord
    let purgeForeign: Bool
    let logger: Logger

    var ownership: NodeOwnership {
        NodeOwnership(identity: node.identity, adoptsUnlabelled: node.adoptsUnlabelled)
    }

    /// Throws `StartRefused` when this node must not start.
    func enforce(network: CNINetwork) async throws {
        try await withContainerdClient(socketPath: socketPath, namespace: namespace, logger: logger) { client in
            let objects = ForeignObjects(client: client, ownership: ownership)
            let inventory = try await objects.list()
            let decision = OwnershipDecision.decide(
                namespace: namespace, databaseInUse: node.hasRecordedContainers, foreignCount: inventory.count,
                foreignSummary: "\(inventory.summary); \(inventory.identitySummary)", purgeForeign: purgeForeign)
            switch decision {
            case .start:
                if purgeForeign { logger.notice("--purge-foreign: no foreign Berth objects", metadata: ["namespace": "\(namespace)"]) }
            case .warn(let message):
                logger.warning("\(message)")
            case .refuse(let message):
                throw StartRefused(description: message)
            case .purge:
                logger.notice("--purge-foreign: removing other nodes' Berth objects", metadata: [
                    "namespace": "\(namespace)", "objects": "\(inventory.summary)", "identities": "\(inventory.identitySummary)",
                ])
                let removed = try await objects.purge(inventory, network: network, logger: logger)
                logger.notice("--purge-foreign: done", metadata: ["removed": "\(removed.count)"])
            }
        }
    }
}
