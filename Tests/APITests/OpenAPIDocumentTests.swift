import BerthModel
import Foundation
import XCTest

/// The OpenAPI document (Sources/API/openapi.json) against the implementation's routes, and the
/// validator the API tests check real responses with. No server needed.
final class OpenAPIDocumentTests: XCTestCase {
    static let sourcesURL = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../../Sources/API").standardized
    static let documentURL = sourcesURL.appendingPathComponent("openapi.json")

    func documentData() throws -> Data { try Data(contentsOf: Self.documentURL) }
    func validator() throws -> OpenAPIValidator { try OpenAPIValidator(documentData: try documentData()) }

    /// What the router registers (Application+build.swift, ContainersController.swift,
    /// SystemEndpoints.swift) and every status code each handler can answer with.
    static let routes: [(method: String, path: String, statuses: [Int])] = [
        ("get", "/v1/containers", [200, 400, 401, 403, 500]),
        ("post", "/v1/containers", [201, 400, 401, 409, 413, 415, 500, 503, 507]),
        ("get", "/v1/containers/{id}", [200, 401, 403, 404, 500]),
        ("put", "/v1/containers/{id}", [200, 400, 401, 403, 404, 409, 413, 415, 500, 503, 507]),
        ("delete", "/v1/containers/{id}", [204, 401, 403, 404, 500, 503, 507]),
        ("get", "/v1/containers/{id}/revisions", [200, 401, 403, 404, 500]),
        ("get", "/v1/containers/{id}/instances", [200, 401, 403, 404, 500]),
        ("get", "/v1/containers/{id}/logs", [200, 400, 401, 403, 404, 500]),
        ("get", "/v1/volumes", [200, 401, 403, 500]),
        ("post", "/v1/volumes", [201, 400, 401, 403, 409, 413, 415, 500, 503, 507]),
        ("get", "/v1/volumes/{name}", [200, 401, 403, 404, 500]),
        ("delete", "/v1/volumes/{name}", [204, 401, 403, 404, 409, 500, 503, 507]),
        ("put", "/v1/volumes/{name}/files/{path}", [200, 201, 400, 401, 403, 404, 409, 500, 503, 507]),
        ("get", "/v1/volumes/{name}/files/{path}", [200, 400, 401, 403, 404, 500, 503]),
        ("get", "/v1/secrets", [200, 401, 403, 500]),
        ("post", "/v1/secrets", [201, 400, 401, 403, 409, 413, 415, 500, 503, 507]),
        ("get", "/v1/secrets/{name}", [200, 401, 403, 404, 500]),
        ("put", "/v1/secrets/{name}", [200, 400, 401, 403, 404, 409, 413, 415, 500, 503, 507]),
        ("delete", "/v1/secrets/{name}", [204, 401, 403, 404, 409, 500, 503, 507]),
        ("get", "/v1/gpu-models", [200, 401, 500]),
        ("get", "/healthz", [200]),
        ("get", "/readyz", [200, 503]),
        ("get", "/metrics", [200, 500]),
        ("get", "/openapi.json", [200]),
    ]

    // MARK: - The document

    func testTheDocumentParsesAndIsOpenAPI31() throws {
        let data = try documentData()
        XCTAssertNoThrow(try JSONSerialization.jsonObject(with: data), "openapi.json is not valid JSON")
        let document = try validator().document
        let version = try XCTUnwrap(document["openapi"]?.stringValue)
        XCTAssertEqual(OpenAPIValidator.matches(version, pattern: #"^3\.1\.\d+$"#), true, "openapi is \(version)")
        XCTAssertNotNil(document["info"]?["title"]?.stringValue)
        XCTAssertNotNil(document["info"]?["version"]?.stringValue)
        let servers = document["servers"]?.arrayValue?.compactMap { $0["url"]?.stringValue } ?? []
        XCTAssertTrue(servers.contains("http://127.0.0.1:8080"), "servers: \(servers)")
        let bearer = try XCTUnwrap(document["components"]?["securitySchemes"]?["bearerAuth"])
        XCTAssertEqual(bearer["type"], .string("http"))
        XCTAssertEqual(bearer["scheme"], .string("bearer"))
        XCTAssertEqual(bearer["bearerFormat"], .string("JWT"))
        let description = bearer["description"]?.stringValue ?? ""
        XCTAssertTrue(description.contains("ADMIN") && description.contains("403"), description)
    }

    func testEveryRouteIsDocumentedWithEveryStatusItCanReturn() throws {
        let validator = try validator()
        for route in Self.routes {
            XCTAssertTrue(validator.operation(path: route.path, method: route.method), "\(route.method) \(route.path) is not documented")
            let documented = Set(validator.responseStatuses(path: route.path, method: route.method))
            for status in route.statuses {
                XCTAssertTrue(documented.contains(String(status)), "\(route.method) \(route.path) does not document \(status)")
            }
            XCTAssertEqual(documented, Set(route.statuses.map(String.init)),
                           "\(route.method) \(route.path) documents statuses the implementation cannot return")
        }
        let documented = Set(validator.operations.map { "\($0.method) \($0.path)" })
        XCTAssertEqual(documented, Set(Self.routes.map { "\($0.method) \($0.path)" }), "the document has operations the router does not")
    }

    /// The routes registered in Sources/API are the ones listed above (so a new route fails here
    /// until it is documented): `router.X("p")` is `/p`, `group.X("p")` is `/v1/p`.
    func testTheRoutesRegisteredInTheSourcesAreTheDocumentedOnes() throws {
        let expression = try NSRegularExpression(pattern: #"\b(router|group)\.(get|post|put|delete|patch|head)\(\s*"([^"]*)""#)
        var found: Set<String> = []
        let files = try FileManager.default.contentsOfDirectory(at: Self.sourcesURL, includingPropertiesForKeys: nil)
            .filter { $0.pathExtension == "swift" }
        XCTAssertFalse(files.isEmpty)
        for file in files {
            let source = try String(contentsOf: file, encoding: .utf8)
            for match in expression.matches(in: source, range: NSRange(source.startIndex..., in: source)) {
                let receiver = String(source[Range(match.range(at: 1), in: source)!])
                let method = String(source[Range(match.range(at: 2), in: source)!])
                let path = String(source[Range(match.range(at: 3), in: source)!])
                // `**`, the rest of the path, is the file path in a volume.
                let segments = path.split(separator: "/").map {
                    $0 == "**" ? "{path}" : $0.hasPrefix(":") ? "{\($0.dropFirst())}" : String($0)
                }
                let full = (receiver == "group" ? "/v1/" : "/") + segments.joined(separator: "/")
                found.insert("\(method) \(full)")
            }
        }
        XCTAssertEqual(found, Set(Self.routes.map { "\($0.method) \($0.path)" }))
    }

    func testV1RoutesNeedTheBearerTokenAndSystemRoutesDoNot() throws {
        let validator = try validator()
        for route in Self.routes {
            let operation = try XCTUnwrap(validator.operationObject(path: route.path, method: route.method))
            let security = operation["security"] ?? validator.document["security"]
            if route.path.hasPrefix("/v1/") {
                XCTAssertEqual(security, .array([.object(["bearerAuth": .array([])])]), "\(route.method) \(route.path)")
                XCTAssertTrue(validator.responseStatuses(path: route.path, method: route.method).contains("401"))
            } else {
                XCTAssertEqual(security, .array([]), "\(route.method) \(route.path) should need no token")
            }
        }
    }

    func testEveryReferenceResolves() throws {
        let validator = try validator()
        XCTAssertEqual(validator.unresolvedReferences(), [])
        // And every component schema is a usable schema.
        for name in validator.document["components"]?["schemas"]?.objectValue?.keys.sorted() ?? [] {
            XCTAssertNotNil(validator.resolve(reference: "#/components/schemas/\(name)"), name)
        }
    }

    func testResponsesDocumentTheirHeadersAndProblemBodies() throws {
        let validator = try validator()
        for route in Self.routes {
            let responses = try XCTUnwrap(validator.operationObject(path: route.path, method: route.method)?["responses"]?.objectValue)
            for (status, listed) in responses {
                let response = try XCTUnwrap(validator.resolved(listed), "\(route.path) \(status)")
                let where_ = "\(route.method) \(route.path) \(status)"
                XCTAssertNotNil(response["description"]?.stringValue, where_)
                XCTAssertNotNil(response["headers"]?["X-Request-ID"], "\(where_) lacks X-Request-ID")
                let code = Int(status) ?? 0
                if code >= 400 {
                    let types = response["content"]?.objectValue?.keys.sorted() ?? []
                    XCTAssertEqual(types, ["application/problem+json"], where_)
                }
                if code == 401 { XCTAssertNotNil(response["headers"]?["WWW-Authenticate"], where_) }
                if code == 201 { XCTAssertNotNil(response["headers"]?["Location"], where_) }
                if code == 204 { XCTAssertNil(response["content"], where_) }
            }
        }
        let logs = try XCTUnwrap(validator.operationObject(path: "/v1/containers/{id}/logs", method: "get"))
        XCTAssertNotNil(logs["responses"]?["200"]?["content"]?["text/plain"])
        let parameters = (logs["parameters"]?.arrayValue ?? []).compactMap { validator.resolved($0) }
        let tail = try XCTUnwrap(parameters.first { $0["name"] == .string("tail") })
        XCTAssertEqual(tail["schema"]?["default"], .integer(100))
        XCTAssertEqual(tail["schema"]?["minimum"], .integer(0))
        XCTAssertEqual(tail["schema"]?["maximum"], .integer(100_000))
        XCTAssertEqual(Set(parameters.compactMap { $0["name"]?.stringValue }), ["tail", "follow", "timestamps", "since", "revision"])
    }

    func testTheDocumentsExamplesMatchTheirSchemas() throws {
        do { try validator().validateDocumentExamples() } catch { XCTFail("\(error)") }
    }

    func testTheDocumentedDefaultsAreTheConfiguredOnes() throws {
        let create = try XCTUnwrap(try validator().resolve(reference: "#/components/schemas/CreateContainerRequest"))
        XCTAssertEqual(create["properties"]?["cpu"]?["default"], .integer(1))
        XCTAssertEqual(create["properties"]?["ram"]?["default"], .string("512Mi"))
        XCTAssertEqual(create["properties"]?["ephemeralStorage"]?["default"], .string("1Gi"))
        XCTAssertEqual(create["properties"]?["gpu"]?["default"], .integer(0))
        XCTAssertEqual(create["properties"]?["port"]?["default"], .integer(8080))
        XCTAssertEqual(create["properties"]?["concurrency"]?["default"], .integer(Int64(ScalingPolicy.defaultConcurrency)))
        XCTAssertEqual(create["properties"]?["minInstances"]?["default"], .integer(0))
        XCTAssertEqual(create["properties"]?["maxInstances"]?["default"], .integer(Int64(ScalingPolicy.defaultMaxInstances)))
        XCTAssertEqual(create["properties"]?["timeoutSeconds"]?["default"], .integer(Int64(ScalingPolicy.defaultTimeoutSeconds)))
        XCTAssertEqual(create["required"], .array([.string("name"), .string("image")]))
        XCTAssertEqual(create["additionalProperties"], .bool(false))
        let container = try XCTUnwrap(try validator().resolve(reference: "#/components/schemas/Container"))
        let required = Set(container["required"]?.arrayValue?.compactMap(\.stringValue) ?? [])
        XCTAssertFalse(required.contains("gpuModel"))
        XCTAssertFalse(required.contains("statusMessage"))
        XCTAssertTrue(required.isSuperset(of: ["id", "name", "owner", "image", "cpu", "ram", "gpu", "ephemeralStorage",
                                               "port", "env", "keepWarm", "revision", "latestRevision", "status", "url", "createdAt", "updatedAt"]))
    }

    // MARK: - Valid examples are accepted

    static let container = #"""
    {"cpu":0.5,"createdAt":"2025-06-01T12:00:00.000Z","env":{"FOO":"bar"},"volumes":[],"secretMounts":[],"ephemeralStorage":"1Gi","gpu":0,
     "id":"93cfc912-0660-44a7-ae26-e7e23f919659","image":"docker.io/nginxdemos/hello:0.4","keepWarm":false,
     "concurrency":0,"minInstances":0,"maxInstances":1,"timeoutSeconds":300,"instances":{"desired":1,"ready":0,"starting":1},
     "name":"hello-world","owner":"alice","port":"8080","protocol":"http1","ram":"64Mi","revision":1,"latestRevision":1,"status":"pending",
     "updatedAt":"2025-06-01T12:00:00.000Z","url":"http://hello-world.localhost:8081"}
    """#

    static let gpuContainer = #"""
    {"cpu":8,"createdAt":"2025-05-30T08:00:00.000Z","env":{"HF_TOKEN":{"secret":"hf"},"HF_HOME":"/models"},"ephemeralStorage":"100Gi","gpu":1,
     "volumes":[{"name":"qwen","mountPath":"/models","readOnly":true}],"secretMounts":[{"secret":"hf","path":"/run/secrets/hf"}],
     "gpuModel":"NVIDIA H200","id":"4c00e32c-ebd4-4a0c-b62a-34d74f630b5f","image":"registry.example.com/ml/vllm:0.6.3",
     "keepWarm":true,"concurrency":4,"minInstances":1,"maxInstances":1,"timeoutSeconds":900,
     "instances":{"desired":1,"ready":1,"starting":0},"name":"llm","owner":"bob","port":"8000","protocol":"http1","ram":"64Gi","revision":3,"latestRevision":4,"status":"running",
     "statusMessage":"revision 4 failed: not ready within 5m; revision 3 keeps serving",
     "updatedAt":"2025-06-01T09:30:12.004Z","url":"http://llm.example.net"}
    """#

    static let revision = #"""
    {"cpu":1,"createdAt":"2025-06-01T12:00:00.000Z","env":{"FOO":"bar"},"volumes":[],"secretMounts":[],"ephemeralStorage":"1Gi","gpu":0,
     "image":"docker.io/library/nginx:1.27","imageDigest":"sha256:3f3f3f3f3f3f3f3f3f3f3f3f3f3f3f3f3f3f3f3f3f3f3f3f3f3f3f3f3f3f3f3f",
     "port":"80","protocol":"http1","ram":"512Mi","revision":1,"status":"active","concurrency":0,"minInstances":0,"maxInstances":1,"timeoutSeconds":300}
    """#

    static let failedRevision = #"""
    {"cpu":1,"createdAt":"2025-06-01T12:10:00.250Z","env":{},"volumes":[],"secretMounts":[],"ephemeralStorage":"1Gi","gpu":0,
     "image":"docker.io/library/nginx:1.28","port":"80","protocol":"http1","ram":"512Mi","revision":2,"status":"failed",
     "concurrency":1,"minInstances":0,"maxInstances":4,"timeoutSeconds":60,
     "statusMessage":"pulling docker.io/library/nginx:1.28: manifest unknown"}
    """#

    func testRealisticExamplesOfEverySchemaAreAccepted() throws {
        let validator = try validator()
        let valid: [(String, String)] = [
            ("Container", Self.container),
            ("Container", Self.gpuContainer),
            ("Container", Self.container.replacingOccurrences(of: #""gpu":0,"#, with: #""gpu":0,"gpuModel":null,"#)),
            ("ContainerList", #"{"containers":[\#(Self.container),\#(Self.gpuContainer)]}"#),
            ("ContainerList", #"{"containers":[]}"#),
            ("Revision", Self.revision),
            ("Revision", Self.failedRevision),
            ("RevisionList", #"{"revisions":[\#(Self.failedRevision),\#(Self.revision)]}"#),
            ("InstanceList", #"{"instances":[{"revision":3,"instance":0,"status":"running","since":"2025-06-01T12:00:00.000Z","inFlight":2},{"revision":3,"instance":1,"status":"starting","inFlight":0}]}"#),
            ("InstanceList", #"{"instances":[]}"#),
            ("GPUModel", #"{"available":6,"count":8,"memory":"141Gi","model":"NVIDIA H200"}"#),
            ("GPUModelList", #"{"gpuModels":[{"available":0,"count":2,"memory":"80Gi","model":"NVIDIA A100-SXM4-80GB"}]}"#),
            ("GPUModelList", #"{"gpuModels":[]}"#),
            ("CreateContainerRequest", #"{"name":"hello-world","image":"nginxdemos/hello:latest","cpu":1,"ram":"512Mi","gpu":0,"ephemeralStorage":"10Gi","port":"80","env":{"FOO":"bar"}}"#),
            ("CreateContainerRequest", #"{"name":"a","image":"ghcr.io/org/app@sha256:3f3f3f3f3f3f3f3f3f3f3f3f3f3f3f3f3f3f3f3f3f3f3f3f3f3f3f3f3f3f3f3f"}"#),
            ("CreateContainerRequest", #"{"name":"llm","image":"vllm/vllm-openai:v0.6.3","cpu":0.25,"ram":134217728,"ephemeralStorage":"1.5G","gpu":2,"gpuModel":"NVIDIA H200","port":8000,"keepWarm":true,"env":{"_X":"","HF_HOME":"/cache"}}"#),
            ("UpdateContainerRequest", #"{"image":"nginxdemos/hello:updated","env":{"FOO":"updated-bar"}}"#),
            ("UpdateContainerRequest", #"{}"#),
            ("UpdateContainerRequest", #"{"name":"hello-world","cpu":2,"ram":"1Gi","port":"+0080","gpuModel":null,"keepWarm":false}"#),
            ("Volume", #"{"name":"qwen","owner":"alice","size":"20Gi","sizeBytes":21474836480,"usedBytes":24576,"availableBytes":20940644352,"mountedBy":[{"id":"4c00e32c-ebd4-4a0c-b62a-34d74f630b5f","name":"llm","readOnly":true}],"createdAt":"2025-06-01T12:00:00.000Z"}"#),
            ("VolumeList", #"{"volumes":[{"name":"v","owner":"bob","size":"16Mi","sizeBytes":16777216,"mountedBy":[],"createdAt":"2025-06-01T12:00:00.000Z"}]}"#),
            ("CreateVolumeRequest", #"{"name":"qwen","size":"20Gi"}"#),
            ("CreateVolumeRequest", #"{"name":"qwen","size":21474836480}"#),
            ("VolumeFile", #"{"path":"models/a.bin","bytes":0}"#),
            ("Secret", #"{"name":"hf","owner":"alice","size":37,"version":3,"createdAt":"2025-06-01T12:00:00.000Z","updatedAt":"2025-06-02T12:00:00.000Z"}"#),
            ("SecretList", #"{"secrets":[]}"#),
            ("CreateSecretRequest", #"{"name":"hf","value":""}"#),
            ("ReplaceSecretRequest", #"{"value":"hf_x"}"#),
            ("Problem", #"{"detail":"no container with id x","requestId":"5f1c2a9e8b7d4c3a0000000000000007","status":404,"title":"Not found","type":"https://berth.dev/problems/not-found"}"#),
            ("Problem", #"{"requestId":"r1","status":404,"title":"Not Found","type":"https://berth.dev/problems/http"}"#),
            ("ValidationProblem", #"{"detail":"cpu: must be a number","errors":[{"field":"cpu","message":"must be a number"}],"requestId":"r1","status":400,"title":"Invalid request","type":"https://berth.dev/problems/validation"}"#),
            ("BadRequestProblem", #"{"detail":"the body is not valid JSON","requestId":"r1","status":400,"title":"Bad request","type":"https://berth.dev/problems/bad-request"}"#),
        ]
        for (schema, json) in valid {
            do { try validator.validate(Data(json.utf8), schemaNamed: schema) } catch { XCTFail("\(error)\nin \(json)") }
        }
    }

    // MARK: - Mismatches are caught

    /// The pointers of the mismatches `json` has against `schema` (nil when it is valid).
    func mismatches(_ json: String, _ schema: String) throws -> [String]? {
        do {
            try validator().validate(Data(json.utf8), schemaNamed: schema)
            return nil
        } catch let error as OpenAPIValidator.ValidationError {
            return error.mismatches.map(\.pointer)
        }
    }

    func object(_ json: String) throws -> [String: Any] {
        try XCTUnwrap(JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
    }

    func json(_ object: [String: Any]) throws -> String {
        String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self)
    }

    func containerWith(_ change: (inout [String: Any]) -> Void) throws -> String {
        var container = try object(Self.container)
        change(&container)
        return try json(container)
    }

    func testTheValidatorCatchesWhatAContainerGetsWrong() throws {
        XCTAssertEqual(try mismatches(try containerWith { $0["id"] = nil }, "Container"), [""])
        XCTAssertEqual(try mismatches(try containerWith { $0["cpu"] = "1" }, "Container"), ["/cpu"])
        XCTAssertEqual(try mismatches(try containerWith { $0["port"] = 8080 }, "Container"), ["/port"])
        XCTAssertEqual(try mismatches(try containerWith { $0["port"] = "0" }, "Container"), ["/port"])
        XCTAssertEqual(try mismatches(try containerWith { $0["gpu"] = 1.5 }, "Container"), ["/gpu"])
        XCTAssertEqual(try mismatches(try containerWith { $0["gpu"] = true }, "Container"), ["/gpu"])
        XCTAssertEqual(try mismatches(try containerWith { $0["keepWarm"] = 0 }, "Container"), ["/keepWarm"])
        XCTAssertEqual(try mismatches(try containerWith { $0["status"] = "stopped" }, "Container"), ["/status"])
        XCTAssertEqual(try mismatches(try containerWith { $0["replicas"] = 2 }, "Container"), ["/replicas"])
        XCTAssertEqual(try mismatches(try containerWith { $0["env"] = ["FOO": 1] }, "Container"), ["/env/FOO"])
        XCTAssertEqual(try mismatches(try containerWith { $0["createdAt"] = "yesterday" }, "Container"), ["/createdAt"])
        XCTAssertEqual(try mismatches(try containerWith { $0["createdAt"] = "2025-02-29T00:00:00Z" }, "Container"), ["/createdAt"])
        XCTAssertEqual(try mismatches(try containerWith { $0["updatedAt"] = "2025-06-01 12:00:00" }, "Container"), ["/updatedAt"])
        XCTAssertEqual(try mismatches(try containerWith { $0["id"] = "not-a-uuid" }, "Container"), ["/id"])
        XCTAssertEqual(try mismatches(try containerWith { $0["name"] = "Hello" }, "Container"), ["/name"])
        XCTAssertEqual(try mismatches(try containerWith { $0["ram"] = 536_870_912 }, "Container"), ["/ram"])
        XCTAssertEqual(try mismatches(try containerWith { $0["revision"] = 0 }, "Container"), ["/revision"])
        XCTAssertEqual(try mismatches(try containerWith { $0["latestRevision"] = nil }, "Container"), [""])
        XCTAssertEqual(Set(try mismatches(try containerWith { $0["pull"] = ["phase": "downloading"] }, "Container") ?? []), ["/pull"], "revision, image, layers and bytes are required")
        // statusMessage may be absent but not null (the encoder omits nil).
        XCTAssertEqual(try mismatches(try containerWith { $0["statusMessage"] = NSNull() }, "Container"), ["/statusMessage"])

        // In a list, the pointer says which one.
        let bad = try containerWith { $0["status"] = "stopped"; $0["cpu"] = NSNull() }
        XCTAssertEqual(try mismatches(#"{"containers":[\#(Self.container),\#(bad)]}"#, "ContainerList")?.sorted(),
                       ["/containers/1/cpu", "/containers/1/status"])
        XCTAssertEqual(try mismatches(#"{"containers":{}}"#, "ContainerList"), ["/containers"])
        XCTAssertEqual(try mismatches(#"{"items":[]}"#, "ContainerList")?.sorted(), ["", "/items"])
        XCTAssertEqual(try mismatches(#"[]"#, "ContainerList"), [""])
    }

    func testTheDocumentRefusesASecretsValueInAResponseAndAnUnsizedVolume() throws {
        let secret = #"{"name":"hf","owner":"alice","size":3,"version":1,"createdAt":"2025-06-01T12:00:00.000Z","updatedAt":"2025-06-01T12:00:00.000Z""#
        XCTAssertNil(try mismatches(secret + "}", "Secret"))
        XCTAssertEqual(try mismatches(secret + #","value":"abc"}"#, "Secret"), ["/value"])
        XCTAssertNotNil(try mismatches(#"{"name":"qwen"}"#, "CreateVolumeRequest"))
        XCTAssertNotNil(try mismatches(#"{"name":"q","owner":"a","size":"1Gi","sizeBytes":1,"mountedBy":[],"createdAt":"2025-06-01T12:00:00.000Z"}"#, "Volume"))
    }

    func testTheValidatorCatchesWhatARevisionOrGPUModelGetsWrong() throws {
        var revision = try object(Self.revision)
        revision["status"] = "running"
        XCTAssertEqual(try mismatches(try json(revision), "Revision"), ["/status"])
        revision = try object(Self.revision)
        revision["imageDigest"] = "3f3f"
        XCTAssertEqual(try mismatches(try json(revision), "Revision"), ["/imageDigest"])
        XCTAssertEqual(try mismatches(#"{"available":"6","count":8,"memory":"141Gi","model":"H200"}"#, "GPUModel"), ["/available"])
        XCTAssertEqual(try mismatches(#"{"count":8,"memory":"141Gi","model":"H200"}"#, "GPUModel"), [""])
    }

    func testTheValidatorCatchesWhatARequestGetsWrong() throws {
        XCTAssertEqual(try mismatches(#"{"name":"x","image":"nginx:1","replicas":3}"#, "CreateContainerRequest"), ["/replicas"])
        XCTAssertEqual(try mismatches(#"{"name":"x"}"#, "CreateContainerRequest"), [""])
        XCTAssertEqual(try mismatches(#"{"name":"x","image":"nginx:1","cpu":0}"#, "CreateContainerRequest"), ["/cpu"])
        XCTAssertEqual(try mismatches(#"{"name":"x","image":"nginx:1","gpu":-1}"#, "CreateContainerRequest"), ["/gpu"])
        XCTAssertEqual(try mismatches(#"{"name":"x","image":"nginx:1","port":70000}"#, "CreateContainerRequest"), ["/port"])
        XCTAssertEqual(try mismatches(#"{"name":"x","image":"nginx:1","port":"65536"}"#, "CreateContainerRequest"), ["/port"])
        XCTAssertEqual(try mismatches(#"{"name":"x","image":"nginx:1","port":"http"}"#, "CreateContainerRequest"), ["/port"])
        XCTAssertNil(try mismatches(#"{"name":"x","image":"nginx:1","port":"65535"}"#, "CreateContainerRequest"))
        XCTAssertEqual(try mismatches(#"{"name":"x","image":"nginx:1","ram":"512MiB"}"#, "CreateContainerRequest"), ["/ram"])
        XCTAssertEqual(try mismatches(#"{"name":"x","image":"nginx:1","ram":"100m"}"#, "CreateContainerRequest"), ["/ram"])
        XCTAssertEqual(try mismatches(#"{"name":"x","image":"nginx:1","env":{"1FOO":"a"}}"#, "CreateContainerRequest"), ["/env/1FOO"])
        XCTAssertEqual(try mismatches(#"{"name":"x","image":"nginx:1","env":{"PORT":"80"}}"#, "CreateContainerRequest"), ["/env/PORT"])
        XCTAssertEqual(try mismatches(#"{"name":"x","image":"nginx:1","env":{"A":"a\u0000b"}}"#, "CreateContainerRequest"), ["/env/A"])
        XCTAssertEqual(try mismatches(#"{"name":"x","image":"nginx:1","keepWarm":"yes"}"#, "CreateContainerRequest"), ["/keepWarm"])
        XCTAssertEqual(try mismatches(#"{"name":"-x","image":"nginx:1"}"#, "CreateContainerRequest"), ["/name"])
        XCTAssertEqual(try mismatches(#"{"name":"x-","image":""}"#, "CreateContainerRequest")?.sorted(), ["/image", "/name"])
        XCTAssertEqual(try mismatches(#"{"status":"running"}"#, "UpdateContainerRequest"), ["/status"])
        XCTAssertEqual(try mismatches(#"{"env":[]}"#, "UpdateContainerRequest"), ["/env"])
    }

    func testTheValidatorCatchesWhatAProblemGetsWrong() throws {
        // requestId is always there; a validation problem names its fields.
        XCTAssertEqual(try mismatches(#"{"status":404,"title":"Not found","type":"https://berth.dev/problems/not-found"}"#, "Problem"), [""])
        XCTAssertEqual(try mismatches(#"{"requestId":"r","status":"404","title":"Not found","type":"x:y"}"#, "Problem"), ["/status"])
        XCTAssertEqual(try mismatches(#"{"requestId":"r","status":400,"title":"Invalid request","type":"https://berth.dev/problems/validation"}"#,
                                      "ValidationProblem"), [""])
        XCTAssertEqual(try mismatches(#"{"errors":[{"field":"cpu"}],"requestId":"r","status":400,"title":"t","type":"https://berth.dev/problems/validation"}"#,
                                      "ValidationProblem"), ["/errors/0"])
    }

    func testTheErrorListsEveryMismatchWithItsPointer() throws {
        let bad = try containerWith { $0["id"] = nil; $0["status"] = "stopped"; $0["port"] = 8080; $0["extra"] = true }
        do {
            try validator().validateResponse(path: "/v1/containers/{id}", method: "GET", status: 200, body: Data(bad.utf8),
                                             contentType: "application/json")
            XCTFail("accepted \(bad)")
        } catch let error as OpenAPIValidator.ValidationError {
            XCTAssertEqual(error.mismatches.count, 4, "\(error)")
            let text = "\(error)"
            for expected in ["GET /v1/containers/{id} → 200", "(root): the required property \"id\" is missing",
                             "/status: \"stopped\" is not one of", "/port: expected string, got integer 8080",
                             "/extra: the property \"extra\" is not allowed"] {
                XCTAssertTrue(text.contains(expected), "\(expected) not in:\n\(text)")
            }
        }
    }

    // MARK: - Responses

    func testValidateResponseChecksStatusContentTypeAndBody() throws {
        let validator = try validator()
        let problem = { (type: String, status: Int) in
            Data(#"{"detail":"d","requestId":"0123","status":\#(status),"title":"t","type":"https://berth.dev/problems/\#(type)"}"#.utf8)
        }
        // Accepted.
        try validator.validateResponse(path: "/v1/containers", method: "POST", status: 201, body: Data(Self.container.utf8),
                                       contentType: "application/json")
        try validator.validateResponse(path: "/v1/containers/93cfc912-0660-44a7-ae26-e7e23f919659", method: "get", status: 200,
                                       body: Data(Self.gpuContainer.utf8), contentType: "application/json; charset=utf-8")
        try validator.validateResponse(path: "/v1/containers?all=true", method: "GET", status: 200,
                                       body: Data(#"{"containers":[]}"#.utf8), contentType: "application/json")
        try validator.validateResponse(path: "/v1/containers/{id}", method: "DELETE", status: 204, body: Data(), contentType: nil)
        try validator.validateResponse(path: "/v1/containers/{id}", method: "GET", status: 404, body: problem("not-found", 404),
                                       contentType: "application/problem+json")
        try validator.validateResponse(path: "/v1/containers", method: "POST", status: 409, body: problem("capacity", 409),
                                       contentType: "application/problem+json")
        try validator.validateResponse(path: "/v1/containers", method: "POST", status: 400, body: problem("bad-request", 400),
                                       contentType: "application/problem+json")
        try validator.validateResponse(path: "/v1/containers/{id}/logs", method: "GET", status: 200,
                                       body: Data("2025-06-01T12:00:00.000Z hello\n".utf8), contentType: "text/plain; charset=utf-8")
        try validator.validateResponse(path: "/healthz", method: "GET", status: 200, body: Data("ok\n".utf8), contentType: nil)
        try validator.validateResponse(path: "/readyz", method: "GET", status: 503, body: problem("unavailable", 503),
                                       contentType: "application/problem+json")
        try validator.validateResponse(path: "/metrics", method: "GET", status: 200, body: Data("# TYPE x counter\nx 1\n".utf8),
                                       contentType: "text/plain; version=0.0.4")
        try validator.validateResponse(path: "/openapi.json", method: "GET", status: 200, body: try documentData(),
                                       contentType: "application/json")

        // Refused, each for its own reason.
        let refused: [(String, String, Int, Data, String?, String)] = [
            ("/v1/containers", "GET", 418, Data(), nil, "status 418 is not documented"),
            ("/v1/containers", "PATCH", 200, Data(), nil, "the method is not documented"),
            ("/v1/nothing", "GET", 200, Data(), nil, "the path is not documented"),
            ("/v1/containers/{id}", "DELETE", 204, Data("{}".utf8), nil, "no body is documented"),
            ("/v1/containers/{id}", "GET", 200, Data(Self.container.utf8), "text/html", "Content-Type text/html is not documented"),
            ("/v1/containers/{id}", "GET", 200, Data(Self.container.utf8), nil, "no Content-Type header"),
            ("/v1/containers/{id}", "GET", 200, Data("{".utf8), "application/json", "not valid JSON"),
            ("/v1/containers/{id}", "GET", 404, Data(Self.container.utf8), "application/problem+json", "required property"),
            ("/v1/containers/{id}", "GET", 404, problem("not-found", 404), "application/json", "not documented"),
            ("/v1/containers", "POST", 400, problem("validation", 400), "application/problem+json", "oneOf"),
            ("/healthz", "GET", 200, Data("fine".utf8), "text/plain", "expected \"ok\\n\""),
        ]
        for (path, method, status, body, contentType, expected) in refused {
            do {
                try validator.validateResponse(path: path, method: method, status: status, body: body, contentType: contentType)
                XCTFail("\(method) \(path) \(status) was accepted")
            } catch {
                XCTAssertTrue("\(error)".contains(expected), "\(method) \(path) \(status): expected “\(expected)” in \(error)")
            }
        }
    }

    func testValidateRequestChecksTheDocumentedBody() throws {
        let validator = try validator()
        try validator.validateRequest(path: "/v1/containers", method: "POST",
                                      body: Data(#"{"name":"hello-world","image":"nginxdemos/hello:0.4"}"#.utf8), contentType: "application/json")
        XCTAssertThrowsError(try validator.validateRequest(path: "/v1/containers", method: "POST", body: Data(#"{"name":"x"}"#.utf8),
                                                           contentType: "application/json"))
        XCTAssertThrowsError(try validator.validateRequest(path: "/v1/containers/{id}", method: "PUT", body: Data(#"{"id":"x"}"#.utf8),
                                                           contentType: "application/json"))
    }

    // MARK: - The validator's JSON Schema subset, on schemas of its own

    func testSchemaKeywords() throws {
        let document = #"""
        {"openapi":"3.1.0","info":{"title":"t","version":"1"},"paths":{},
         "components":{"schemas":{
           "Nullable":{"type":["string","null"]},
           "Integer":{"type":"integer","minimum":1,"maximum":3},
           "Number":{"type":"number","exclusiveMinimum":0,"exclusiveMaximum":1},
           "OneOf":{"oneOf":[{"type":"integer"},{"type":"number","minimum":10}]},
           "AnyOf":{"anyOf":[{"type":"string","pattern":"^a"},{"type":"string","pattern":"b$"}]},
           "Not":{"not":{"const":"PORT"}},
           "Enum":{"enum":[1,"one",null]},
           "Items":{"type":"array","items":{"$ref":"#/components/schemas/Integer"},"minItems":1,"maxItems":2,"uniqueItems":true},
           "Closed":{"type":"object","properties":{"a":{"type":"string"}},"additionalProperties":false},
           "Map":{"type":"object","additionalProperties":{"type":"integer"},"propertyNames":{"pattern":"^[a-z]+$"}},
           "Chain":{"$ref":"#/components/schemas/Nullable"},
           "Cycle":{"type":"object","properties":{"next":{"$ref":"#/components/schemas/Cycle"}}},
           "Broken":{"$ref":"#/components/schemas/Missing"},
           "Dates":{"type":"array","items":{"type":"string","format":"date-time"}},
           "Length":{"type":"string","minLength":2,"maxLength":3},
           "Conditional":{"if":{"properties":{"t":{"const":"v"}},"required":["t"]},"then":{"required":["errors"]}},
           "Nothing":false,
           "Anything":true
         }}}
        """#
        let validator = try OpenAPIValidator(documentData: Data(document.utf8))
        func valid(_ json: String, _ schema: String) -> Bool {
            (try? validator.validate(Data(json.utf8), schemaNamed: schema)) != nil
        }
        XCTAssertTrue(valid(#""x""#, "Nullable"))
        XCTAssertTrue(valid("null", "Nullable"))
        XCTAssertFalse(valid("1", "Nullable"))
        XCTAssertTrue(valid("2", "Integer"))
        XCTAssertTrue(valid("2.0", "Integer"))
        XCTAssertFalse(valid("2.5", "Integer"))
        XCTAssertFalse(valid("4", "Integer"))
        XCTAssertFalse(valid("0", "Integer"))
        XCTAssertFalse(valid("true", "Integer"))
        XCTAssertFalse(valid(#""2""#, "Integer"))
        XCTAssertTrue(valid("0.5", "Number"))
        XCTAssertFalse(valid("0", "Number"))
        XCTAssertFalse(valid("1", "Number"))
        XCTAssertTrue(valid("3", "OneOf"))
        XCTAssertTrue(valid("10.5", "OneOf"))
        XCTAssertFalse(valid("12", "OneOf"), "matches both")
        XCTAssertFalse(valid("1.5", "OneOf"), "matches neither")
        XCTAssertTrue(valid(#""ab""#, "AnyOf"))
        XCTAssertTrue(valid(#""xb""#, "AnyOf"))
        XCTAssertFalse(valid(#""xx""#, "AnyOf"))
        XCTAssertTrue(valid(#""HOME""#, "Not"))
        XCTAssertFalse(valid(#""PORT""#, "Not"))
        XCTAssertTrue(valid("1", "Enum"))
        XCTAssertTrue(valid("1.0", "Enum"))
        XCTAssertTrue(valid("null", "Enum"))
        XCTAssertFalse(valid("true", "Enum"))
        XCTAssertFalse(valid(#""two""#, "Enum"))
        XCTAssertTrue(valid("[1,2]", "Items"))
        XCTAssertFalse(valid("[]", "Items"))
        XCTAssertFalse(valid("[1,2,3]", "Items"))
        XCTAssertFalse(valid("[1,1]", "Items"))
        XCTAssertFalse(valid("[1,7]", "Items"))
        XCTAssertTrue(valid(#"{"a":"x"}"#, "Closed"))
        XCTAssertTrue(valid("{}", "Closed"))
        XCTAssertFalse(valid(#"{"a":"x","b":1}"#, "Closed"))
        XCTAssertFalse(valid(#"{"a":1}"#, "Closed"))
        XCTAssertTrue(valid(#"{"x":1,"y":2}"#, "Map"))
        XCTAssertFalse(valid(#"{"x":"1"}"#, "Map"))
        XCTAssertFalse(valid(#"{"X":1}"#, "Map"))
        XCTAssertTrue(valid("null", "Chain"))
        XCTAssertTrue(valid(#"{"next":{"next":{}}}"#, "Cycle"))
        XCTAssertFalse(valid(#"{"next":{"next":1}}"#, "Cycle"))
        XCTAssertFalse(valid("1", "Broken"))
        XCTAssertEqual(validator.unresolvedReferences(), ["/components/schemas/Broken/$ref: #/components/schemas/Missing"])
        XCTAssertTrue(valid(#"["2025-06-01T12:00:00Z","2025-06-01T12:00:00.123456+02:00","2024-02-29t23:59:60z","1999-12-31T00:00:00-00:30"]"#, "Dates"))
        for bad in ["2025-06-01", "2025-06-01T12:00:00", "2025-13-01T00:00:00Z", "2023-02-29T00:00:00Z", "2025-06-01T24:00:00Z",
                    "2025-06-01T12:60:00Z", "2025-06-01T12:00:00+25:00", "2025-06-01 12:00:00Z", "2025-06-01T12:00:00.Z", "x"] {
            XCTAssertFalse(valid(#"["\#(bad)"]"#, "Dates"), bad)
        }
        XCTAssertTrue(valid(#""ab""#, "Length"))
        XCTAssertTrue(valid(#""été""#, "Length"), "lengths count characters, not bytes")
        XCTAssertFalse(valid(#""a""#, "Length"))
        XCTAssertFalse(valid(#""abcd""#, "Length"))
        XCTAssertTrue(valid(#"{"t":"w"}"#, "Conditional"))
        XCTAssertTrue(valid(#"{"t":"v","errors":[]}"#, "Conditional"))
        XCTAssertFalse(valid(#"{"t":"v"}"#, "Conditional"))
        XCTAssertFalse(valid("1", "Nothing"))
        XCTAssertTrue(valid(#"{"any":[1,"thing"]}"#, "Anything"))
        XCTAssertFalse(valid("1", "NoSuchSchema"))
    }

    func testAnUnusableDocumentIsRefused() {
        XCTAssertThrowsError(try OpenAPIValidator(documentData: Data("{".utf8)))
        XCTAssertThrowsError(try OpenAPIValidator(documentData: Data("[]".utf8)))
        XCTAssertThrowsError(try OpenAPIValidator(documentData: Data(#"{"openapi":"3.1.0"}"#.utf8)))
    }
}
