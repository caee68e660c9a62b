import CNI
import ContainerdClient
import ImagePull
import Logging

/// What every supervisor needs, shared.
struct RuntimeContext: Sendable {
    let configuration: RuntimeConfiguration
    let containerd: ContainerdClient
    let puller: ImagePuller
    let network: CNINetwork
    let logs: ContainerLogs
    let probe: ReadinessProbe
    let logger: Logger

    func directory(_ runtimeID: String) -> String {
        configuration.containersDirectory + "/" + runtimeID
    }

    func storage(_ runtimeID: String) -> EphemeralStorage {
        EphemeralStorage(directory: directory(runtimeID))
    }

    func files(_ runtimeID: String) -> ContainerFiles {
        ContainerFiles(directory: directory(runtimeID) + "/etc")
    }

    func secretFiles(_ runtimeID: String) -> SecretFiles {
        SecretFiles(directory: directory(runtimeID) + "/secrets")
    }

    static func viewKey(_ runtimeID: String) -> String { "berth-view-\(runtimeID)" }
}
