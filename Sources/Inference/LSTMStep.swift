import CKernels
import Foundation

/// ONNX LSTM (layout 0, gates i, o, f, c; default activations Sigmoid/Tanh/Tanh; optional peepholes), float32,
/// forward, reverse or bidirectional. Y [seq, dirs, batch, H], Y_h and Y_c [dirs, batch, H].
final class LSTMStep: Step {
    let label: String
    let x: Buffer, w: Buffer, r: Buffer, bias: Buffer, peep: Buffer?
    let initialH: Buffer?, initialC: Buffer?
    let y: Buffer?, yh: Buffer?, yc: Buffer?
    /// Arena scratch: input projections [seq*batch, 4H], gates [batch, 4H], h and c [batch, H].
    let gx: Buffer, gates: Buffer, h: Buffer, c: Buffer
    let seq: Int, batch: Int, input: Int, hidden: Int, directions: [Bool]  // true = reverse
    var macs: Int { directions.count * seq * batch * 4 * hidden * (input + hidden) }

    init(label: String, x: Buffer, w: Buffer, r: Buffer, bias: Buffer, peep: Buffer?, initialH: Buffer?,
         initialC: Buffer?, y: Buffer?, yh: Buffer?, yc: Buffer?, gx: Buffer, gates: Buffer, h: Buffer, c: Buffer,
         seq: Int, batch: Int, input: Int, hidden: Int, directions: [Bool]) {
        self.label = label
        self.x = x; self.w = w; self.r = r; self.bias = bias; self.peep = peep
        self.initialH = initialH; self.initialC = initialC
        self.y = y; self.yh = yh; self.yc = yc
        self.gx = gx; self.gates = gates; self.h = h; self.c = c
        self.seq = seq; self.batch = batch; self.input = input; self.hidden = hidden; self.directions = directions
    }

    func run(_ ctx: RunContext) throws {
        let H = hidden, G = 4 * hidden
        let px = x.ptr.assumingMemoryBound(to: Float.self)
        let pgx = gx.ptr.assumingMemoryBound(to: Float.self), pg = gates.ptr.assumingMemoryBound(to: Float.self)
        let ph = h.ptr.assumingMemoryBound(to: Float.self), pc = c.ptr.assumingMemoryBound(to: Float.self)
        let dirs = directions.count
        for (d, reverse) in directions.enumerated() {
            let pw = w.ptr.assumingMemoryBound(to: Float.self) + d * G * input
            let pr = r.ptr.assumingMemoryBound(to: Float.self) + d * G * H
            let pb = bias.ptr.assumingMemoryBound(to: Float.self) + d * G
            let pp = peep.map { $0.ptr.assumingMemoryBound(to: Float.self) + d * 3 * H }
            // Input projections for every time step at once.
            ick_sgemm(Int32(seq * batch), Int32(G), Int32(input), px, input, pw, input, pb, pgx, G, 0)
            if let initialH {
                ph.update(from: initialH.ptr.assumingMemoryBound(to: Float.self) + d * batch * H, count: batch * H)
            } else {
                ph.update(repeating: 0, count: batch * H)
            }
            if let initialC {
                pc.update(from: initialC.ptr.assumingMemoryBound(to: Float.self) + d * batch * H, count: batch * H)
            } else {
                pc.update(repeating: 0, count: batch * H)
            }
            for s in 0..<seq {
                let t = reverse ? seq - 1 - s : s
                pg.update(from: pgx + t * batch * G, count: batch * G)
                ick_sgemm(Int32(batch), Int32(G), Int32(H), ph, H, pr, H, nil, pg, G, 1)
                for b in 0..<batch {
                    let g = pg + b * G, hb = ph + b * H, cb = pc + b * H
                    for j in 0..<H {
                        let cPrev = cb[j]
                        let i = sigmoid(g[j] + (pp.map { $0[j] * cPrev } ?? 0))
                        let f = sigmoid(g[2 * H + j] + (pp.map { $0[2 * H + j] * cPrev } ?? 0))
                        let cand = Foundation.tanh(g[3 * H + j])
                        let cNew = f * cPrev + i * cand
                        let o = sigmoid(g[H + j] + (pp.map { $0[H + j] * cNew } ?? 0))
                        cb[j] = cNew
                        hb[j] = o * Foundation.tanh(cNew)
                    }
                    if let y {
                        (y.ptr.assumingMemoryBound(to: Float.self) + ((t * dirs + d) * batch + b) * H).update(from: hb, count: H)
                    }
                }
            }
            if let yh { (yh.ptr.assumingMemoryBound(to: Float.self) + d * batch * H).update(from: ph, count: batch * H) }
            if let yc { (yc.ptr.assumingMemoryBound(to: Float.self) + d * batch * H).update(from: pc, count: batch * H) }
        }
    }
}
