@testable import Runtime
import XCTest

/// The revision lifecycle's decisions, event by event, without containerd: which operation runs,
/// what a newer intent cancels or waits for, and when each caller is answered.
final class RevisionLifecycleTests: XCTestCase {
    typealias Lifecycle = RevisionLifecycle
    static let policy = RestartBackoff.Policy(initial: .seconds(2), max: .seconds(8), resetAfter: .seconds(60))

    private func fresh() -> Lifecycle {
        Lifecycle(image: "registry.test/app:1", port: 8080, grace: .seconds(10), backoff: Self.policy)
    }

    /// Deployed, adopted nothing, pulled, launched (pid 42) and probed ready.
    private func running() -> Lifecycle {
        var m = fresh()
        _ = m.deploy()
        _ = m.adopted(m.operation!, nil)
        _ = m.pulled(m.operation!, digest: "sha256:abc")
        _ = m.launched(m.operation!, pid: 42, address: "10.0.0.2", failure: nil)
        _ = m.probed(m.operation!, ready: true, timeout: .seconds(5), now: .now)
        return m
    }

    func testAFirstStartAdoptsPullsLaunchesAndProbesSayingWhatItWaitsFor() {
        var m = fresh()
        XCTAssertEqual(m.deploy(), [.adopt(1)])
        XCTAssertEqual(m.adopted(1, nil), [.pull(2)])
        XCTAssertEqual(m.status.phase, .pulling)
        XCTAssertEqual(m.status.message, "pulling registry.test/app:1")
        XCTAssertEqual(m.pulled(2, digest: "sha256:abc"), [.launch(3)])
        XCTAssertEqual(m.status.phase, .starting)
        XCTAssertEqual(m.status.imageDigest, "sha256:abc")
        XCTAssertEqual(m.launched(3, pid: 42, address: "10.0.0.2", failure: nil), [.probe(4, address: "10.0.0.2", port: 8080)])
        XCTAssertEqual(m.status.message, "waiting for port 8080")
        XCTAssertEqual(m.probed(4, ready: true, timeout: .seconds(5), now: .now), [])
        XCTAssertEqual(m.state, .running(pid: 42))
        XCTAssertEqual(m.status.phase, .running)
        XCTAssertNil(m.status.message)
        XCTAssertEqual(m.status.endpoint?.address, "10.0.0.2")
    }

    func testATaskLeftRunningIsAdoptedAndAFrozenOneStaysFrozen() {
        var m = fresh()
        _ = m.deploy()
        XCTAssertEqual(m.adopted(1, .init(pid: 7, address: "10.0.0.9", paused: false)), [.probe(2, address: "10.0.0.9", port: 8080)])

        var frozen = fresh()
        _ = frozen.deploy()
        XCTAssertEqual(frozen.adopted(1, .init(pid: 7, address: "10.0.0.9", paused: true)), [])
        XCTAssertEqual(frozen.state, .paused(pid: 7))
        XCTAssertEqual(frozen.deploy(), [], "the reconciler does not thaw an idle revision")
        XCTAssertEqual(frozen.run(waiter: 9), [.resume(2)], "a request does")
    }

    func testAnExitReportedBeforeTheLaunchEndedIsHandledOnceItHas() {
        var m = fresh()
        _ = m.deploy()
        _ = m.adopted(1, nil)
        _ = m.pulled(2, digest: "sha256:abc")
        // The process exits at once: containerd's event comes before the launch's result.
        m.taskExitedDuringLaunch(pid: 42, .init(code: 3, reason: .exited, detail: "exited with code 3"))
        XCTAssertEqual(m.launched(3, pid: 42, address: "10.0.0.2", failure: nil), [.cleanUp(4, kill: false)],
                       "no probe of a task that is gone: it is cleaned up and restarted")
        XCTAssertEqual(m.state, .cleaningUp(4))

        // An exit of another task (an earlier one) does not count against the new one.
        var other = fresh()
        _ = other.deploy()
        _ = other.adopted(1, nil)
        _ = other.pulled(2, digest: "sha256:abc")
        other.taskExitedDuringLaunch(pid: 41, .init(code: 0, reason: .exited, detail: "ended"))
        XCTAssertEqual(other.launched(3, pid: 42, address: "10.0.0.2", failure: nil), [.probe(4, address: "10.0.0.2", port: 8080)])
    }

    // MARK: - Delete supersedes

    func testDeleteDuringAPullCancelsItAndRemovesAtOnce() {
        var m = fresh()
        _ = m.deploy()
        _ = m.adopted(1, nil)
        XCTAssertEqual(m.state, .pulling(2))
        XCTAssertEqual(m.delete(waiter: 5), [.cancel(2), .remove(3)])
        XCTAssertEqual(m.status.phase, .deleted)
        XCTAssertEqual(m.pulled(2, digest: "sha256:late"), [], "the cancelled pull's late result changes nothing")
        XCTAssertEqual(m.removed(3, failure: nil), [.reply(5, .done)])
        XCTAssertTrue(m.isDeleted)
        XCTAssertEqual(m.run(waiter: 6), [.reply(6, .done)], "a deleted revision does not start again")
        XCTAssertEqual(m.deploy(), [])
    }

    func testDeleteDuringALaunchCancelsItAndRemovesOnceItEnded() {
        var m = fresh()
        _ = m.deploy()
        _ = m.adopted(1, nil)
        _ = m.pulled(2, digest: "sha256:abc")
        XCTAssertEqual(m.delete(waiter: 5), [.cancel(3)], "the launch may have made a task: removal waits for it")
        XCTAssertEqual(m.launched(3, pid: nil, address: nil, failure: "cancelled"), [.remove(4)])
        XCTAssertEqual(m.removed(4, failure: nil), [.reply(5, .done)])
    }

    func testDeleteDuringAProbeOrABackOffCancelsIt() {
        var probing = fresh()
        _ = probing.deploy()
        _ = probing.adopted(1, nil)
        _ = probing.pulled(2, digest: "d")
        _ = probing.launched(3, pid: 42, address: "10.0.0.2", failure: nil)
        XCTAssertEqual(probing.delete(), [.cancel(4), .remove(5)])

        var backingOff = fresh()
        _ = backingOff.deploy()
        _ = backingOff.adopted(1, nil)
        XCTAssertEqual(backingOff.pullFailed(2, .retryable("connection refused")), [.timer(3, after: .seconds(2))])
        XCTAssertEqual(backingOff.status.message, "pulling registry.test/app:1: connection refused; retrying in 2 s")
        XCTAssertEqual(backingOff.delete(), [.cancel(3), .remove(4)])
    }

    func testAFailedRemovalIsReportedAndTriedAgainByTheNextDelete() {
        var m = running()
        let removal = m.delete(waiter: 1)
        guard case .remove(let op) = removal.last else { return XCTFail("\(removal)") }
        XCTAssertEqual(m.removed(op, failure: "device busy"), [.reply(1, .failed("device busy"))])
        XCTAssertFalse(m.isDeleted)
        XCTAssertEqual(m.delete(waiter: 2), [.remove(op + 1)])
    }

    // MARK: - Stop and wake, in order

    func testAStopDuringAWakeRunsAfterTheLaunchNeverLost() {
        var m = fresh()
        _ = m.run(waiter: 1)
        _ = m.adopted(1, nil)
        _ = m.pulled(2, digest: "d")
        XCTAssertEqual(m.stop(waiter: 2), [], "the launch under way finishes first")
        XCTAssertEqual(m.launched(3, pid: 42, address: "10.0.0.2", failure: nil), [.stop(4), .reply(1, .done)],
                       "then the stop runs, and the waker learns it was stopped")
        XCTAssertEqual(m.status.phase, .stopped)
        XCTAssertEqual(m.stopEnded(4), [.reply(2, .done)])
        XCTAssertEqual(m.state, .stopped)
        XCTAssertNil(m.status.address)
    }

    func testAStopDuringAPullCancelsItAndStops() {
        var m = fresh()
        _ = m.deploy()
        _ = m.adopted(1, nil)
        XCTAssertEqual(m.stop(waiter: 3), [.cancel(2), .stop(3)])
        XCTAssertEqual(m.stopEnded(3), [.reply(3, .done)])
    }

    func testAWakeDuringAnIdleStopWaitsForItThenStartsTheContainer() {
        var m = running()
        let stop = m.stop(waiter: 1)
        guard case .stop(let op) = stop.first else { return XCTFail("\(stop)") }
        XCTAssertEqual(m.status.phase, .stopped)
        XCTAssertEqual(m.status.message, "stopping: SIGTERM, then SIGKILL after 10 s")
        XCTAssertEqual(m.run(waiter: 2), [], "nothing runs beside the stop")
        XCTAssertEqual(m.stopEnded(op), [.reply(1, .done), .pull(op + 1)], "the stop is answered, then the start begins")
        _ = m.pulled(op + 1, digest: "d")
        _ = m.launched(op + 2, pid: 43, address: "10.0.0.3", failure: nil)
        XCTAssertEqual(m.probed(op + 3, ready: true, timeout: .seconds(5), now: .now), [.reply(2, .done)])
        XCTAssertEqual(m.state, .running(pid: 43))
    }

    func testTheReconcilerDoesNotStartARevisionStoppedForIdleness() {
        var m = running()
        guard case .stop(let op) = m.stop().first else { return XCTFail() }
        _ = m.stopEnded(op)
        XCTAssertEqual(m.deploy(), [])
        XCTAssertEqual(m.state, .stopped)
        XCTAssertEqual(m.run(), [.pull(op + 1)])
    }

    // MARK: - Pause and resume

    func testAWakeDuringAPauseWaitsForItThenResumes() {
        var m = running()
        XCTAssertEqual(m.pause(waiter: 1), [.pause(5)])
        XCTAssertEqual(m.status.phase, .paused, "a request that comes now is held, not sent to a freezing task")
        XCTAssertEqual(m.run(waiter: 2), [])
        XCTAssertEqual(m.pauseEnded(5, ok: true), [.reply(1, .accepted(true)), .resume(6)])
        XCTAssertEqual(m.resumeEnded(6, ok: true), [.reply(2, .done)])
        XCTAssertEqual(m.status.phase, .running)
    }

    func testAFailedResumeFallsBackToARestart() {
        var m = running()
        _ = m.pause(waiter: 1)
        _ = m.pauseEnded(5, ok: true)
        XCTAssertEqual(m.resume(waiter: 2), [.resume(6)])
        XCTAssertEqual(m.resumeEnded(6, ok: false), [.stop(7)])
        XCTAssertEqual(m.status.phase, .starting)
        XCTAssertEqual(m.status.message, "restarting: resuming the paused task failed")
        XCTAssertEqual(m.stopEnded(7), [.pull(8)])
        _ = m.pulled(8, digest: "d")
        _ = m.launched(9, pid: 50, address: "10.0.0.2", failure: nil)
        XCTAssertEqual(m.probed(10, ready: true, timeout: .seconds(5), now: .now), [.reply(2, .accepted(true))])
    }

    func testPauseIsRefusedUnlessRunning() {
        var m = fresh()
        XCTAssertEqual(m.pause(waiter: 1), [.reply(1, .accepted(false))])
        var failed = running()
        _ = failed.pause(waiter: 2)
        XCTAssertEqual(failed.pauseEnded(5, ok: false), [.reply(2, .accepted(false))])
        XCTAssertEqual(failed.state, .running(pid: 42))
        XCTAssertEqual(failed.status.phase, .running)
        XCTAssertEqual(failed.goal, .running)
    }

    // MARK: - Exits and back-off

    func testACrashRestartsAfterTheBackOffAndThenReportsACrashLoop() {
        var m = running()
        let exit = Lifecycle.Exit(code: 3, reason: .exited, detail: "exited with code 3")
        XCTAssertEqual(m.taskExited(pid: 99, exit), [], "another pid's exit is not this task's")
        XCTAssertEqual(m.taskExited(pid: 42, exit), [.cleanUp(5, kill: false)])
        XCTAssertEqual(m.cleanedUp(5, now: .now), [.timer(6, after: .seconds(2))])
        XCTAssertEqual(m.status.phase, .failed)
        XCTAssertEqual(m.status.reason, .exited)
        XCTAssertEqual(m.status.message, "restarting in 2 s after: exited with code 3")
        XCTAssertEqual(m.status.lastExitCode, 3)
        XCTAssertEqual(m.timerFired(6), [.pull(7)])
        _ = m.pulled(7, digest: "d")
        _ = m.launched(8, pid: 43, address: "10.0.0.2", failure: nil)
        _ = m.probed(9, ready: true, timeout: .seconds(5), now: .now)
        _ = m.taskExited(pid: 43, exit)
        XCTAssertEqual(m.cleanedUp(10, now: .now), [.timer(11, after: .seconds(4))])
        XCTAssertEqual(m.status.reason, .crashLoop)
        XCTAssertEqual(m.status.message, "crash loop: exited with code 3; restarted 1 times, next start in 4 s")
    }

    func testATaskThatNeverListensIsKilledAndRestarted() {
        var m = fresh()
        _ = m.deploy()
        _ = m.adopted(1, nil)
        _ = m.pulled(2, digest: "d")
        _ = m.launched(3, pid: 42, address: "10.0.0.2", failure: nil)
        XCTAssertEqual(m.probed(4, ready: false, timeout: .seconds(5), now: .now), [.cleanUp(5, kill: true)])
        _ = m.cleanedUp(5, now: .now)
        XCTAssertEqual(m.status.reason, .notReady)
        XCTAssertEqual(m.status.message, "restarting in 2 s after: did not accept connections on port 8080 within 5.0 seconds")
    }

    func testAnExitDuringAStopIsThatStopsOwn() {
        var m = running()
        _ = m.stop()
        XCTAssertEqual(m.taskExited(pid: 42, .init(code: 143, reason: .exited, detail: "")), [])
    }

    func testAnImageReferenceThatCannotParseFailsForGood() {
        var m = fresh()
        _ = m.run(waiter: 1)
        _ = m.adopted(1, nil)
        XCTAssertEqual(m.pullFailed(2, .permanent("bad reference")), [.reply(1, .done)])
        XCTAssertEqual(m.state, .failed)
        XCTAssertEqual(m.status.phase, .failed)
        XCTAssertEqual(m.deploy(), [])
    }

    func testAFailedLaunchRetriesAfterTheBackOffAndAnswersTheWaker() {
        var m = fresh()
        _ = m.run(waiter: 1)
        _ = m.adopted(1, nil)
        _ = m.pulled(2, digest: "d")
        XCTAssertEqual(m.launched(3, pid: nil, address: nil, failure: "no GPU"), [.timer(4, after: .seconds(2)), .reply(1, .done)])
        XCTAssertEqual(m.status.reason, .startError)
        XCTAssertEqual(m.status.message, "starting: no GPU; retrying in 2 s")
    }

    // MARK: - Waiters and reconnects

    func testAWakerThatGaveUpIsAnsweredNotSettled() {
        var m = fresh()
        _ = m.run(waiter: 1)
        XCTAssertEqual(m.forget(1), [.reply(1, .accepted(false))])
        XCTAssertEqual(m.forget(1), [])
    }

    func testADeleteAnswersWakersAtOnceSoTheyRouteAgain() {
        var m = fresh()
        _ = m.run(waiter: 1)
        _ = m.adopted(1, nil)
        let actions = m.delete(waiter: 2)
        XCTAssertTrue(actions.contains(.reply(1, .done)), "\(actions)")
        XCTAssertFalse(actions.contains(.reply(2, .done)), "the delete itself is answered when the task is gone")
    }

    func testAReconnectChecksTheTaskAndAGoneTaskIsAnExit() {
        var m = running()
        XCTAssertEqual(m.reconnected(), [.check(pid: 42)])
        XCTAssertEqual(m.taskExited(pid: 42, .init(code: nil, reason: .exited, detail: "exited with code unknown")),
                       [.cleanUp(5, kill: false)])
        var unstarted = fresh()
        XCTAssertEqual(unstarted.reconnected(), [])
    }

    /// The default back-off moves each delay by up to ±20 %, so that containers that failed
    /// together retry spread out; the doubling stays underneath.
    func testTheDefaultBackoffIsJitteredWithinItsBounds() {
        var firsts: Set<Duration> = []
        for _ in 0..<50 {
            var backoff = RestartBackoff(policy: .kubelet)
            let first = backoff.delay(afterRunOf: .zero)
            XCTAssertTrue(first >= .seconds(8) && first <= .seconds(12), "\(first)")
            firsts.insert(first)
            let second = backoff.delay(afterRunOf: .zero)
            XCTAssertTrue(second >= .seconds(16) && second <= .seconds(24), "\(second)")
        }
        XCTAssertGreaterThan(firsts.count, 10, "the delays are spread, not one value")
        var exact = RestartBackoff(policy: Self.policy)
        XCTAssertEqual(exact.delay(afterRunOf: .zero), .seconds(2), "no jitter unless the policy asks")
        XCTAssertEqual(exact.delay(afterRunOf: .zero), .seconds(4))
    }
}
