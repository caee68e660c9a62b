import Foundation
import ImagePull

/// Puts together the spec inputs for a revision from what the launcher prepared.
struct SpecAssembly {
    let context: RuntimeContext
    let deployment: RevisionDeployment
    let image: PulledImage
    let lowerDirectories: [String]
    let files: ContainerFiles

    func specJSON() throws -> Data {
        var inputs = SpecInputs(
            runtimeID: deployment.runtimeID,
            hostname: deployment.name,
            revision: deployment.spec,
            image: image.config,
            passwd: RootFilesystem.readImageFile("/etc/passwd", lowerDirectories: lowerDirectories),
            group: RootFilesystem.readImageFile("/etc/group", lowerDirectories: lowerDirectories),
            networkNamespacePath: context.network.netnsPath(containerID: deployment.runtimeID))
        inputs.limitSwap = CgroupVersion.swapLimitSupported()
        inputs.pidsLimit = context.configuration.pidsLimit
        inputs.hostsPath = files.hostsPath
        inputs.resolvConfPath = files.resolvConfPath
        inputs.hostnamePath = files.hostnamePath
        if deployment.spec.gpu > 0 {
            inputs.edits = try context.configuration.deviceEdits(deployment)
        }
        inputs.annotations = ["berth.container": deployment.containerID, "berth.revision": String(deployment.revision)]
        return try RuntimeSpecBuilder.build(inputs).encoded()
    }

    static func cgroupsPath(_ runtimeID: String) -> String {
        SpecInputs.cgroupsPath(runtimeID: runtimeID)
    }
}
