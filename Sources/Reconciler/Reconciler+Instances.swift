import BerthModel
import Runtime
import Store

extension Reconciler {
    /// The serving revision's instances for this pass (see `InstanceBudget`), those above the
    /// first with GPUs of their own, recorded with what the instances above the reservation hold
    /// and why any wait.
    func plan(_ container: StoredContainer, _ serving: StoredRevision, _ first: RevisionDeployment) throws -> [RevisionDeployment] {
        let perInstance = ResourceAmounts(instanceOf: serving.spec)
        let policy = serving.spec.scaling
        let node = database.capacityPolicy.node
        let target = scaleBook.withLock { $0.targets[container.id] }
        // What every container reserves is read only when instances above this one's
        // reservation are asked for: a resync passes over every container.
        let needsCapacity = (target ?? 0) > policy.reservedInstances && !node.isUnlimited
        let reserved = needsCapacity ? try database.reserved() : ResourceAmounts()
        let budget = scaleBook.withLock { book in
            InstanceBudget(policy: policy, target: book.targets[container.id], perInstance: perInstance, node: node,
                           reserved: reserved, granted: book.granted(exceptFor: container.id))
        }
        var instances = [first]
        var shortfall = budget.shortfall
        for index in 1..<max(budget.count, 1) {
            guard let devices = try instanceGPUs(container.id, serving, index) else {
                shortfall = "\(budget.count - index) of \(budget.count) instances wait for free GPUs (\(serving.spec.gpu) each)"
                break
            }
            instances.append(first.instance(index, gpuDevices: devices))
        }
        let count = instances.count
        let changed = scaleBook.withLock { book in
            book.grants[container.id] = perInstance.times(max(0, count - policy.reservedInstances))
            let changed = book.shortfalls[container.id] != shortfall
            book.shortfalls[container.id] = shortfall
            book.plan(count, for: container.id)
            return changed
        }
        // The status says why instances wait (and no longer says it once they run).
        if changed, container.phase == .running, container.latestRevision == container.revision {
            try database.setStatus(containerID: container.id, phase: .running, message: shortfall,
                                   asOf: (container.revision, container.latestRevision))
        }
        return instances
    }

    /// The GPUs of an instance above the first: none for a revision without GPUs, those it holds
    /// or newly allocated ones, or nil when too few are free.
    func instanceGPUs(_ containerID: String, _ revision: StoredRevision, _ index: Int) throws -> [String]? {
        guard revision.spec.gpu > 0 else { return [] }
        guard let chooser = gpuChooser?(revision.spec.gpu, revision.spec.gpuModel) else { return nil }
        do {
            return try database.allocateInstanceGPUs(containerID: containerID, revision: revision.number, instance: index,
                                                     choosing: chooser)
        } catch let error as StoreError {
            throw error
        } catch {
            // The chooser found too few free devices: the instance waits.
            return nil
        }
    }
}
