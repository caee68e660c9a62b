import BerthModel
import JSONValue

/// A request's `volumes` and `secretMounts`, checked item by item like the other fields.
enum MountRequest {
    static let maximumVolumes = 16
    static let maximumSecretMounts = 32

    static func volumes(_ value: JSONValue?, errors: inout [APIError.FieldError]) -> [VolumeMount]? {
        guard let value else { return nil }
        guard case .array(let items) = value, items.count <= maximumVolumes else {
            errors.append(.init("volumes", "must be an array of at most \(maximumVolumes) {\"name\", \"mountPath\", \"readOnly\"} objects"))
            return nil
        }
        var mounts: [VolumeMount] = []
        for (index, item) in items.enumerated() {
            let field = "volumes[\(index)]"
            guard case .object(let object) = item else {
                errors.append(.init(field, "must be an object with name, mountPath and readOnly"))
                continue
            }
            let before = errors.count
            for key in object.keys.sorted() where !["name", "mountPath", "readOnly"].contains(key) {
                errors.append(.init("\(field).\(key)", "unknown field"))
            }
            let name = self.name(object["name"], field: "\(field).name", what: "volume", errors: &errors)
            let path = self.path(object["mountPath"], field: "\(field).mountPath", errors: &errors)
            var readOnly = false
            if let flag = object["readOnly"] {
                if case .bool(let given) = flag { readOnly = given } else { errors.append(.init("\(field).readOnly", "must be true or false")) }
            }
            if errors.count == before, let name, let path {
                if mounts.contains(where: { $0.name == name }) {
                    errors.append(.init("\(field).name", "volume \"\(name)\" is mounted twice"))
                } else {
                    mounts.append(VolumeMount(name: name, mountPath: path, readOnly: readOnly))
                }
            }
        }
        return mounts
    }

    static func secretMounts(_ value: JSONValue?, errors: inout [APIError.FieldError]) -> [SecretMount]? {
        guard let value else { return nil }
        guard case .array(let items) = value, items.count <= maximumSecretMounts else {
            errors.append(.init("secretMounts", "must be an array of at most \(maximumSecretMounts) {\"secret\", \"path\"} objects"))
            return nil
        }
        var mounts: [SecretMount] = []
        for (index, item) in items.enumerated() {
            let field = "secretMounts[\(index)]"
            guard case .object(let object) = item else {
                errors.append(.init(field, "must be an object with secret and path"))
                continue
            }
            let before = errors.count
            for key in object.keys.sorted() where !["secret", "path"].contains(key) {
                errors.append(.init("\(field).\(key)", "unknown field"))
            }
            let secret = name(object["secret"], field: "\(field).secret", what: "secret", errors: &errors)
            let path = self.path(object["path"], field: "\(field).path", errors: &errors)
            if errors.count == before, let secret, let path { mounts.append(SecretMount(secret: secret, path: path)) }
        }
        return mounts
    }

    private static func name(_ value: JSONValue?, field: String, what: String, errors: inout [APIError.FieldError]) -> String? {
        guard case .string(let name)? = value, ContainerRequest.isDNSLabel(name) else {
            errors.append(.init(field, "must name one of your \(what)s (a DNS label)"))
            return nil
        }
        return name
    }

    private static func path(_ value: JSONValue?, field: String, errors: inout [APIError.FieldError]) -> String? {
        guard case .string(let path)? = value else {
            errors.append(.init(field, "must be an absolute path inside the container, such as /models"))
            return nil
        }
        if let problem = MountPath.problem(path) {
            errors.append(.init(field, problem))
            return nil
        }
        return path
    }
}
