import DICOMIntake
import Foundation
import Triage

/// Incremental inference: runs the detector's CNN on each slice as it arrives, on one background
/// queue, and keeps the results until its series is analysed, so that only the sequence head, the
/// decision and Grad-CAM remain when the series completes. Everything here is an optimisation: a
/// slice that was not prepared (too late, evicted, another model, a restart) is simply prepared by
/// the analysis itself, with the same result.
final class SlicePreparation: @unchecked Sendable {
    /// Prepared slices kept at most (each holds its 256x256 brain window and the CNN's feature
    /// map, about 0.3 MB): the oldest go first.
    let capacity: Int
    /// Slices thinner than this are not prepared: thin series are averaged into slabs before the CNN.
    let minimumThicknessMm: Double

    private let queue = DispatchQueue(label: "ichtriage.slice-preparation", qos: .utility)
    private let lock = NSLock()
    private var prepared: [String: (model: String, slice: PreparedSlice)] = [:]
    private var order: [String] = []
    /// Offered and not yet taken: a series analysed before its queue drained cancels the rest.
    private var pending = Set<String>()

    init(capacity: Int = 300, minimumThicknessMm: Double = 2) {
        self.capacity = capacity
        self.minimumThicknessMm = minimumThicknessMm
    }

    func offer(_ slice: CTSlice, pipeline: TriagePipeline, model: String) {
        if let thickness = slice.sliceThickness, thickness < minimumThicknessMm { return }
        let uid = slice.sopInstanceUID
        lock.lock()
        if pending.count >= capacity * 10 { pending.removeAll() }  // series that never completed
        pending.insert(uid)
        lock.unlock()
        queue.async { [self] in
            lock.lock()
            let wanted = pending.contains(uid)
            lock.unlock()
            guard wanted, let result = try? pipeline.prepare(slice) else { return }
            lock.lock()
            defer { lock.unlock() }
            guard pending.remove(uid) != nil else { return }
            if prepared.updateValue((model, result), forKey: uid) == nil { order.append(uid) }
            while order.count > capacity { prepared.removeValue(forKey: order.removeFirst()) }
        }
    }

    /// The prepared slices of `series` made with `model`; they are forgotten here either way.
    func take(for series: CTSeries, model: String) -> [String: PreparedSlice] {
        lock.lock()
        defer { lock.unlock() }
        var out: [String: PreparedSlice] = [:]
        for slice in series.slices {
            pending.remove(slice.sopInstanceUID)
            if let entry = prepared.removeValue(forKey: slice.sopInstanceUID), entry.model == model {
                out[slice.sopInstanceUID] = entry.slice
            }
        }
        if order.count > prepared.count { order.removeAll { prepared[$0] == nil } }
        return out
    }

    /// Slices prepared and waiting for their series (tests, status).
    var count: Int {
        lock.lock(); defer { lock.unlock() }
        return prepared.count
    }
}
