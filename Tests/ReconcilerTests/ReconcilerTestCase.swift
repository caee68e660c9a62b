import BerthModel
import Foundation
import Reconciler
import Runtime
import Store
import XCTest

/// An in-memory store and runtime, and a reconciler between them, for each test.
class ReconcilerTestCase: XCTestCase {
    var database: BerthDatabase!
    var runtime: FakeRuntime!
    var reconciler: Reconciler!
    var runner: Task<Void, any Error>?

    override func setUp() async throws {
        database = try BerthDatabase.inMemory()
        runtime = FakeRuntime()
    }

    override func tearDown() async throws {
        runner?.cancel()
        _ = try? await runner?.value
    }

    func start(rolloutTimeout: Duration = .seconds(60), resyncPeriod: Duration = .seconds(60)) async throws {
        reconciler = Reconciler(database: database, runtime: runtime, rolloutTimeout: rolloutTimeout,
                                resyncPeriod: resyncPeriod, retryDelay: .milliseconds(10))
        let reconciler = reconciler!
        runner = Task { try await reconciler.run() }
        try await eventually("recovered") { reconciler.isRecovered }
    }

    func spec(image: String = "registry.test/app:1", gpu: Int = 0) throws -> RevisionSpec {
        RevisionSpec(image: image, cpu: 0.5, memory: try Quantity(parsing: "64Mi"),
                     ephemeralStorage: try Quantity(parsing: "1Gi"), gpu: gpu, gpuModel: gpu > 0 ? "A100" : nil,
                     port: 8080, env: [:])
    }

    func eventually(_ what: String, within timeout: Duration = .seconds(5),
                    _ condition: @escaping () throws -> Bool) async throws {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if try condition() { return }
            try await Task.sleep(for: .milliseconds(5))
        }
        XCTFail("not within \(timeout): \(what)")
        throw CancellationError()
    }

    static func chooser(_ count: Int) -> GPUChooser {
        { taken in Array((0..<4).map { "gpu\($0)" }.filter { !taken.contains($0) }.prefix(count)) }
    }
}
