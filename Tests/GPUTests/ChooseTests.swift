import GPU
import XCTest

/// Whole-GPU choices: one model, exclusive, the model asked for, clear refusals.
final class ChooseTests: XCTestCase {
    let inventory = GPUInventory(devices: [
        GPUDevice(id: "GPU-h0", model: "NVIDIA H200", memoryBytes: 143_771 << 20, minor: 0),
        GPUDevice(id: "GPU-h1", model: "NVIDIA H200", memoryBytes: 143_771 << 20, minor: 1),
        GPUDevice(id: "GPU-a2", model: "NVIDIA A100-SXM4-80GB", memoryBytes: 81_920 << 20, minor: 2),
        GPUDevice(id: "GPU-a3", model: "NVIDIA A100-SXM4-80GB", memoryBytes: 81_920 << 20, minor: 3),
        GPUDevice(id: "GPU-a4", model: "NVIDIA A100-SXM4-80GB", memoryBytes: 81_920 << 20, minor: 4),
    ], source: .driver)

    func ids(_ devices: [GPUDevice]) -> [String] { devices.map(\.id) }

    func testTakesFreeDevicesOfTheModelWithTheMostFree() throws {
        XCTAssertEqual(ids(try inventory.choose(2, model: nil, allocated: [])), ["GPU-a2", "GPU-a3"])
        XCTAssertEqual(ids(try inventory.choose(1, model: nil, allocated: ["GPU-a2", "GPU-a3"])), ["GPU-h0"])
        // A tie goes to the model listed first.
        XCTAssertEqual(ids(try inventory.choose(1, model: nil, allocated: ["GPU-a2"])), ["GPU-h0"])
        XCTAssertEqual(ids(try inventory.choose(0, model: nil, allocated: [])), [])
    }

    func testAllocatedDevicesAreNeverChosen() throws {
        var allocated: Set<String> = []
        for _ in 0..<5 {
            let chosen = try inventory.choose(1, model: nil, allocated: allocated)
            XCTAssertEqual(chosen.count, 1)
            XCTAssertFalse(allocated.contains(chosen[0].id))
            allocated.insert(chosen[0].id)
        }
        XCTAssertEqual(allocated.count, 5)
        XCTAssertThrowsError(try inventory.choose(1, model: nil, allocated: allocated))
    }

    func testOneModelOnly() {
        // Four are free, but no model has three.
        XCTAssertThrowsError(try inventory.choose(3, model: nil, allocated: ["GPU-a4"])) { error in
            XCTAssertEqual(error as? GPUError, .insufficient(
                "3 GPUs of one model asked, at most 2 free of any one model "
                    + "(NVIDIA H200: 2 of 2 free, NVIDIA A100-SXM4-80GB: 2 of 3 free)"))
        }
    }

    func testTheModelAskedForIsChosen() throws {
        XCTAssertEqual(ids(try inventory.choose(2, model: "NVIDIA H200", allocated: [])), ["GPU-h0", "GPU-h1"])
        XCTAssertEqual(ids(try inventory.choose(1, model: "nvidia h200", allocated: ["GPU-h0"])), ["GPU-h1"])
        XCTAssertThrowsError(try inventory.choose(2, model: "NVIDIA H200", allocated: ["GPU-h1"])) { error in
            XCTAssertEqual(error as? GPUError, .insufficient(
                "2 × NVIDIA H200 asked, 1 free (NVIDIA H200: 1 of 2 free, NVIDIA A100-SXM4-80GB: 3 of 3 free)"))
        }
    }

    func testUnknownModel() {
        XCTAssertThrowsError(try inventory.choose(1, model: "NVIDIA B200", allocated: [])) { error in
            XCTAssertEqual(error as? GPUError, .unknownModel("NVIDIA B200", available: ["NVIDIA H200", "NVIDIA A100-SXM4-80GB"]))
            XCTAssertEqual("\(error)", #"no GPU model "NVIDIA B200" on this node; it has "NVIDIA H200", "NVIDIA A100-SXM4-80GB""#)
        }
        XCTAssertThrowsError(try GPUInventory.empty.choose(1, model: "NVIDIA H200", allocated: [])) { error in
            XCTAssertEqual("\(error)", #"no GPU model "NVIDIA H200": this node has no GPUs"#)
        }
    }

    func testNegativeCountIsRefused() {
        XCTAssertThrowsError(try inventory.choose(-1, model: nil, allocated: [])) { error in
            XCTAssertEqual(error as? GPUError, .invalidRequest("a GPU count must be 0 or more, not -1"))
        }
    }

    func testModelsCountAndFree() {
        let models = inventory.models(allocated: ["GPU-a3", "GPU-h0", "GPU-h1"])
        XCTAssertEqual(models.map(\.model), ["NVIDIA H200", "NVIDIA A100-SXM4-80GB"])
        XCTAssertEqual(models.map(\.memory), ["141Gi", "80Gi"])
        XCTAssertEqual(models.map(\.count), [2, 3])
        XCTAssertEqual(models.map(\.available), [0, 2])
    }
}
