import BerthModel
import Foundation
import JSONValue
import OCI
import Store

/// A create or update request, checked field by field. Every problem is collected, so the
/// client learns about all of them at once; nothing is written unless there are none.
struct ContainerRequest: Sendable {
    var name: String?
    var image: ImageReference?
    var cpu: Double?
    var memory: Quantity?
    var gpu: Int?
    var gpuModel: String?
    var ephemeralStorage: Quantity?
    var port: Int?
    /// `protocol` in the API.
    var servingProtocol: ServingProtocol?
    var env: [String: String]?
    /// Given with `env`: the variables whose values are secrets (variable → secret name).
    var secretEnv: [String: String]?
    var volumes: [VolumeMount]?
    var secretMounts: [SecretMount]?
    var keepWarm: Bool?
    var concurrency: Int?
    var minInstances: Int?
    var maxInstances: Int?
    var timeoutSeconds: Int?

    static let fields: Set<String> = ["name", "image", "cpu", "ram", "gpu", "gpuModel", "ephemeralStorage", "port", "protocol", "env",
                                      "keepWarm", "volumes", "secretMounts", "concurrency", "minInstances", "maxInstances",
                                      "timeoutSeconds"]

    /// Parses a JSON body; `requireCreateFields` demands what a create needs (name, image).
    static func parse(_ body: [UInt8], configuration: APIConfiguration, requireCreateFields: Bool) throws(APIError) -> ContainerRequest {
        let object = try JSONBody.object(body)
        var errors = JSONBody.unknownFields(object, known: fields)
        var request = ContainerRequest()
        func fail(_ field: String, _ message: String) { errors.append(.init(field, message)) }

        if let value = object["name"] {
            if case .string(let name) = value, Self.isDNSLabel(name) {
                if Self.isUUIDShaped(name) {
                    // Ids are UUIDs and `<id>.<domain>` routes to the container with that id: a
                    // name of the same shape could take another container's traffic.
                    fail("name", "must not have the shape of a container id (a UUID)")
                } else {
                    request.name = name
                }
            } else {
                fail("name", "must be a DNS label: 1–63 lowercase letters, digits or '-', starting with a letter and not ending with '-'")
            }
        } else if requireCreateFields {
            fail("name", "is required")
        }
        if let value = object["image"] {
            if case .string(let text) = value {
                do { request.image = try ImageReference(parsing: text) } catch { fail("image", "\(error)") }
            } else {
                fail("image", "must be a string such as \"nginxdemos/hello:0.4\", not \(value.typeName)")
            }
        } else if requireCreateFields {
            fail("image", "is required")
        }
        if let value = object["cpu"] {
            if let cpu = value.numberValue, cpu.isFinite, cpu > 0, cpu <= configuration.maxCPU {
                request.cpu = cpu
            } else {
                fail("cpu", "must be a number of cores greater than 0 and at most \(Self.coresText(configuration.maxCPU)) (this node's cores)")
            }
        }
        request.memory = Self.quantity(object["ram"], field: "ram", minimum: 4 << 20, maximum: configuration.maxMemoryBytes, errors: &errors)
        request.ephemeralStorage = Self.quantity(object["ephemeralStorage"], field: "ephemeralStorage", minimum: 4 << 20,
                                                 maximum: configuration.maxEphemeralStorageBytes, errors: &errors)
        if let value = object["gpu"] {
            if let gpu = value.numberValue, gpu >= 0, gpu <= 64, gpu.rounded() == gpu {
                request.gpu = Int(gpu)
            } else {
                fail("gpu", "must be a whole number of GPUs, 0 or more")
            }
        }
        if let value = object["gpuModel"] {
            if case .string(let model) = value, !model.isEmpty {
                request.gpuModel = model
            } else if value != .null {
                fail("gpuModel", "must be a GPU model name as GET /v1/gpu-models lists it")
            }
        }
        if let value = object["port"] {
            if let port = value.numberValue, port.rounded() == port, (1...65535).contains(port) {
                request.port = Int(port)
            } else if case .string(let text) = value, let port = Int(text), (1...65535).contains(port) {
                request.port = port
            } else {
                fail("port", "must be a port number 1–65535, as a number or a string")
            }
        }
        if let value = object["protocol"] {
            // Exactly a raw value: "H2C" or "http2" is a mistake to report, not a guess to make.
            if case .string(let text) = value, let servingProtocol = ServingProtocol(rawValue: text) {
                request.servingProtocol = servingProtocol
            } else {
                let allowed = ServingProtocol.allCases.map { "\"\($0.rawValue)\"" }.joined(separator: " or ")
                fail("protocol", "must be \(allowed): the HTTP the container serves on its port (h2c: HTTP/2 without TLS, as gRPC servers speak)")
            }
        }
        if let value = object["env"] {
            if case .object(let variables) = value {
                var env: [String: String] = [:]
                var secretEnv: [String: String] = [:]
                for (key, variable) in variables.sorted(by: { $0.key < $1.key }) {
                    guard Self.isEnvironmentName(key) else {
                        fail("env.\(key)", "names must match [A-Za-z_][A-Za-z0-9_]*")
                        continue
                    }
                    guard key != "PORT" else {
                        fail("env.PORT", "PORT is set by Berth to the container's port")
                        continue
                    }
                    if case .object(let reference) = variable {
                        if reference.count == 1, case .string(let secret)? = reference["secret"], Self.isDNSLabel(secret) {
                            secretEnv[key] = secret
                        } else {
                            fail("env.\(key)", "must be a string, or {\"secret\": \"<name>\"} naming one of your secrets")
                        }
                        continue
                    }
                    guard case .string(let text) = variable else {
                        fail("env.\(key)", "must be a string or {\"secret\": \"<name>\"}, not \(variable.typeName)")
                        continue
                    }
                    guard !text.contains("\0") else {
                        fail("env.\(key)", "must not contain NUL bytes")
                        continue
                    }
                    env[key] = text
                }
                request.env = env
                request.secretEnv = secretEnv
            } else {
                fail("env", "must be an object of string values")
            }
        }
        request.volumes = MountRequest.volumes(object["volumes"], errors: &errors)
        request.secretMounts = MountRequest.secretMounts(object["secretMounts"], errors: &errors)
        if let value = object["keepWarm"] {
            if case .bool(let keepWarm) = value { request.keepWarm = keepWarm } else { fail("keepWarm", "must be true or false") }
        }
        typealias Limits = ScalingPolicy
        request.concurrency = Self.count(object["concurrency"], field: "concurrency", in: 0...Limits.maximumConcurrency,
                                         meaning: "requests one instance serves at once (0: no limit)", errors: &errors)
        request.minInstances = Self.count(object["minInstances"], field: "minInstances", in: 0...Limits.maximumInstances,
                                          meaning: "instances always running", errors: &errors)
        request.maxInstances = Self.count(object["maxInstances"], field: "maxInstances", in: 1...Limits.maximumInstances,
                                          meaning: "instances at most", errors: &errors)
        request.timeoutSeconds = Self.count(object["timeoutSeconds"], field: "timeoutSeconds", in: 1...Limits.maximumTimeoutSeconds,
                                            meaning: "seconds a request may take", errors: &errors)
        if let keepWarm = request.keepWarm, let minimum = request.minInstances, keepWarm != (minimum > 0) {
            fail("keepWarm", "contradicts minInstances \(minimum): keepWarm true means minInstances 1, false means 0")
        }
        guard errors.isEmpty else { throw .invalid(errors) }
        return request
    }

    /// A whole number in `range`, or nil (with an error) for anything else.
    private static func count(_ value: JSONValue?, field: String, in range: ClosedRange<Int>, meaning: String,
                              errors: inout [APIError.FieldError]) -> Int? {
        guard let value else { return nil }
        if let number = value.numberValue, number.rounded() == number, Double(range.lowerBound) <= number,
           number <= Double(range.upperBound) {
            return Int(number)
        }
        errors.append(.init(field, "must be a whole number from \(range.lowerBound) to \(range.upperBound): \(meaning)"))
        return nil
    }

    static func quantity(_ value: JSONValue?, field: String, minimum: Int64, maximum: Int64,
                                 errors: inout [APIError.FieldError]) -> Quantity? {
        guard let value else { return nil }
        let text: String
        if case .string(let string) = value {
            text = string
        } else if let number = value.numberValue, number.rounded() == number, number >= 0, number < 9.2e18 {
            text = String(Int64(number))
        } else {
            errors.append(.init(field, "must be a quantity such as \"512Mi\", \"1Gi\" or \"500M\""))
            return nil
        }
        do {
            let quantity = try Quantity(parsing: text)
            guard quantity.bytes >= minimum, quantity.bytes <= maximum else {
                errors.append(.init(field, "must be between \(Quantity(bytes: minimum)) and \(Quantity(bytes: maximum))"))
                return nil
            }
            return quantity
        } catch {
            errors.append(.init(field, "\(error)"))
            return nil
        }
    }

    /// Cores as a message shows them: `2`, `0.5`. Not `formatted()`, whose locale-aware number
    /// formatting loads ICU into berthd for an error message.
    static func coresText(_ cores: Double) -> String {
        cores == cores.rounded() && abs(cores) < 1e15 ? String(Int64(cores)) : String(cores)
    }

    static func isDNSLabel(_ name: String) -> Bool {
        let bytes = Array(name.utf8)
        guard (1...63).contains(bytes.count), let first = bytes.first, let last = bytes.last,
              (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(first), last != UInt8(ascii: "-") else { return false }
        return bytes.allSatisfy {
            (UInt8(ascii: "a")...UInt8(ascii: "z")).contains($0) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) || $0 == UInt8(ascii: "-")
        }
    }

    /// 8-4-4-4-12 hexadecimal digits, as `UUID().uuidString.lowercased()` makes ids.
    static func isUUIDShaped(_ name: String) -> Bool {
        let bytes = Array(name.utf8)
        guard bytes.count == 36 else { return false }
        for (index, byte) in bytes.enumerated() {
            if [8, 13, 18, 23].contains(index) {
                if byte != UInt8(ascii: "-") { return false }
            } else if !((UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains(byte)) {
                return false
            }
        }
        return true
    }

    static func isEnvironmentName(_ name: String) -> Bool {
        let bytes = Array(name.utf8)
        guard let first = bytes.first else { return false }
        func letter(_ c: UInt8) -> Bool {
            (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(c) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(c) || c == UInt8(ascii: "_")
        }
        return letter(first) && bytes.allSatisfy { letter($0) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }
    }

    /// The spec a create produces: what the request gave, defaults for the rest.
    func createSpec(configuration: APIConfiguration, node: ResourceLimits) throws -> RevisionSpec {
        let defaults = configuration.defaults
        let spec = RevisionSpec(image: image!.description, cpu: cpu ?? defaults.cpu,
                                memory: try memory ?? Quantity(parsing: defaults.memory),
                                ephemeralStorage: try ephemeralStorage ?? Quantity(parsing: defaults.ephemeralStorage),
                                gpu: gpu ?? 0, gpuModel: gpuModel, port: port ?? defaults.port,
                                servingProtocol: servingProtocol ?? .http1, env: env ?? [:],
                                secretEnv: secretEnv ?? [:], volumes: volumes ?? [], secretMounts: secretMounts ?? [],
                                scaling: scaling(.default))
        try Self.checkInstances(spec, configuration: configuration, node: node)
        return spec
    }

    /// The spec an update produces: fields present replace, absent ones keep their value.
    func updatedSpec(_ current: RevisionSpec, configuration: APIConfiguration, node: ResourceLimits) throws -> RevisionSpec {
        let spec = merged(into: current)
        try Self.checkInstances(spec, configuration: configuration, node: node)
        return spec
    }

    /// The scaling fields given, over `current`. `keepWarm` is the older spelling of
    /// `minInstances` 0 or 1: true keeps a larger minimum as it is.
    private func scaling(_ current: ScalingPolicy) -> ScalingPolicy {
        var scaling = current
        if let concurrency { scaling.concurrency = concurrency }
        if let keepWarm { scaling.minInstances = keepWarm ? max(1, current.minInstances) : 0 }
        if let minInstances { scaling.minInstances = minInstances }
        if let maxInstances { scaling.maxInstances = maxInstances }
        if let timeoutSeconds { scaling.timeoutSeconds = timeoutSeconds }
        // Raising the minimum past the old maximum raises the maximum with it, as Cloud Run.
        if minInstances != nil || keepWarm == true, maxInstances == nil {
            scaling.maxInstances = max(scaling.maxInstances, scaling.minInstances)
        }
        return scaling
    }

    /// The rules that span fields, checked on the spec that results: the instances asked for
    /// must fit the node's cores and memory. GPUs are not checked here: each instance above the
    /// first takes its own when it starts, and waits (the status says why) while none are free.
    static func checkInstances(_ spec: RevisionSpec, configuration: APIConfiguration, node: ResourceLimits) throws(APIError) {
        let scaling = spec.scaling
        var errors: [APIError.FieldError] = []
        if scaling.minInstances > scaling.maxInstances {
            errors.append(.init("minInstances", "must not exceed maxInstances (\(scaling.maxInstances))"))
        }
        // The node's capacity for containers when one is set (cores and memory minus headroom),
        // else its cores and memory.
        let cores = node.bounds[.cpu].map { Double($0) / 1000 } ?? configuration.maxCPU
        let memory = node.bounds[.ram] ?? configuration.maxMemoryBytes
        let fitting = min(Int((cores / spec.cpu + 1e-9).rounded(.down)), Int(memory / max(spec.memory.bytes, 1)))
        if scaling.maxInstances > 1, let index = spec.volumes.firstIndex(where: { !$0.readOnly }) {
            errors.append(.init("volumes[\(index)].readOnly", "a volume mounted read-write has one writer: set readOnly, or maxInstances 1 (it is \(scaling.maxInstances))"))
        }
        let paths = spec.volumes.map(\.mountPath) + spec.secretMounts.map(\.path)
        for (index, path) in paths.enumerated() {
            if let other = paths[..<index].first(where: { MountPath.overlaps($0, path) }) {
                let field = index < spec.volumes.count ? "volumes[\(index)].mountPath" : "secretMounts[\(index - spec.volumes.count)].path"
                errors.append(.init(field, "\(path) overlaps \(other), mounted by the same revision"))
            }
        }
        if scaling.maxInstances > max(fitting, 1) {
            errors.append(.init("maxInstances", "\(scaling.maxInstances) instances of \(Self.coresText(spec.cpu)) cpu and \(spec.memory) ram do not fit this node: at most \(max(fitting, 1))"))
        }
        if !errors.isEmpty { throw .invalid(errors) }
    }

    private func merged(into current: RevisionSpec) -> RevisionSpec {
        var spec = current
        if let image { spec.image = image.description }
        if let cpu { spec.cpu = cpu }
        if let memory { spec.memory = memory }
        if let ephemeralStorage { spec.ephemeralStorage = ephemeralStorage }
        if let gpu { spec.gpu = gpu }
        if let gpuModel { spec.gpuModel = gpuModel }
        if let port { spec.port = port }
        if let servingProtocol { spec.servingProtocol = servingProtocol }
        if let env { spec.env = env }
        if let secretEnv { spec.secretEnv = secretEnv }
        if let volumes { spec.volumes = volumes }
        if let secretMounts { spec.secretMounts = secretMounts }
        spec.scaling = scaling(current.scaling)
        return spec
    }
}
