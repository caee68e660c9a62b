import Foundation
import ImagePull
import OCI

/// Puts together the spec inputs for a revision from what the launcher prepared.
struct SpecAssembly {
    let context: RuntimeContext
    let deployment: RevisionDeployment
    let image: PulledImage
    let lowerDirectories: [String]
    let files: ContainerFiles
    var userNamespace: UserNamespaceMapping? = nil
    /// The deployment's secrets, opened, by name.
    var secretValues: [String: [UInt8]] = [:]

    func specJSON() throws -> Data {
        var inputs = SpecInputs(
            runtimeID: deployment.runtimeID,
            hostname: deployment.name,
            revision: deployment.spec,
            image: image.config,
            passwd: try imageFile("/etc/passwd"),
            group: try imageFile("/etc/group"),
            networkNamespacePath: context.network.netnsPath(containerID: deployment.runtimeID))
        inputs.limitSwap = CgroupVersion.swapLimitSupported()
        inputs.pidsLimit = context.configuration.pidsLimit
        inputs.seccomp = context.configuration.seccomp.profile()
        inputs.hostsPath = files.hostsPath
        inputs.resolvConfPath = files.resolvConfPath
        inputs.hostnamePath = files.hostnamePath
        inputs.userNamespace = userNamespace
        for (variable, secret) in deployment.spec.secretEnv {
            inputs.env[variable] = String(decoding: secretValues[secret] ?? [], as: UTF8.self)
        }
        let volumes = context.configuration.volumes
        inputs.extraMounts = deployment.volumes.map { volume in
            RuntimeSpec.Mount(destination: volume.mountPath, type: "bind", source: volumes.mountPoint(volume.id),
                              options: ["rbind", "nosuid", "nodev", volume.readOnly ? "ro" : "rw"])
        } + deployment.spec.secretMounts.enumerated().map { index, mount in
            RuntimeSpec.Mount(destination: mount.path, type: "bind", source: context.secretFiles(deployment.runtimeID).path(index),
                              options: ["rbind", "ro", "nosuid", "nodev", "noexec"])
        }
        if deployment.spec.gpu > 0 {
            inputs.edits = try context.configuration.deviceEdits(deployment)
        }
        inputs.annotations = ["berth.container": deployment.containerID, "berth.revision": String(deployment.revision)]
        return try RuntimeSpecBuilder.build(inputs).encoded()
    }

    /// The image's user as the container runs it (ids inside the container).
    func processUser() throws -> UserResolver.Resolved {
        do {
            return try UserResolver.resolveUser(image.config.config?.User ?? "", passwd: try imageFile("/etc/passwd"),
                                                group: try imageFile("/etc/group"))
        } catch let error as SpecError {
            throw RuntimeError.invalidImage(error.description)
        }
    }

    /// An image's passwd or group, read inside the image's root. One that exists but is not a
    /// regular file of at most 1 MiB (a link to /proc or /dev, a FIFO, a huge file) fails the
    /// revision whatever its `User`: it is read for the primary and supplementary groups of
    /// numeric users too, and such a file is a hostile or broken image. A missing one (a link
    /// to nothing in the image included) is as before: fine unless a name must be looked up.
    private func imageFile(_ path: String) throws -> String? {
        do {
            return try RootFilesystem.readImageFile(path, lowerDirectories: lowerDirectories)
        } catch {
            throw RuntimeError.invalidImage(error.description)
        }
    }

    static func cgroupsPath(_ runtimeID: String) -> String {
        SpecInputs.cgroupsPath(runtimeID: runtimeID)
    }
}
