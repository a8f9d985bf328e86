/// Class activation maps for a global-average-pool + linear slice head: the logit of class c is
/// b_c + sum_k w_ck mean(A_k), so CAM_c = ReLU(sum_k w_ck A_k) is exactly the class's spatial
/// evidence (Grad-CAM reduces to this for such a head: the gradient of the logit w.r.t. A_k is w_ck / hw).
enum GradCAM {
    /// CAM [h*w] of `label` from one slice's feature map [C,h,w]; not normalised.
    static func map(features: UnsafeBufferPointer<Float>, channels: Int, height: Int, width: Int,
                    head: [Float], headInputs: Int, label: Int) -> [Float] {
        precondition(headInputs == channels && features.count >= channels * height * width)
        let plane = height * width
        var cam = [Float](repeating: 0, count: plane)
        let w = head[(label * channels)..<((label + 1) * channels)]
        for (k, weight) in zip(0..<channels, w) where weight != 0 {
            let base = k * plane
            for p in 0..<plane { cam[p] += weight * features[base + p] }
        }
        for p in 0..<plane { cam[p] = max(cam[p], 0) }
        return cam
    }

    /// Bilinear upsampling (pixel centres aligned, as torch's align_corners=False) to size x size.
    static func upsample(_ cam: [Float], height: Int, width: Int, size: Int) -> [Float] {
        var out = [Float](repeating: 0, count: size * size)
        func coord(_ o: Int, _ n: Int) -> (Int, Int, Float) {
            let s = max(0, (Float(o) + 0.5) * Float(n) / Float(size) - 0.5)
            let i0 = min(Int(s), n - 1)
            return (i0, min(i0 + 1, n - 1), s - Float(i0))
        }
        for y in 0..<size {
            let (y0, y1, fy) = coord(y, height)
            for x in 0..<size {
                let (x0, x1, fx) = coord(x, width)
                let top = cam[y0 * width + x0] * (1 - fx) + cam[y0 * width + x1] * fx
                let bottom = cam[y1 * width + x0] * (1 - fx) + cam[y1 * width + x1] * fx
                out[y * size + x] = top * (1 - fy) + bottom * fy
            }
        }
        return out
    }

    /// Inferno colormap (perceptually uniform), 9 anchors from matplotlib's table, linearly interpolated.
    static let inferno: [(Float, Float, Float)] = [
        (0, 0, 4), (31, 12, 72), (85, 15, 109), (136, 34, 106), (186, 54, 85),
        (227, 89, 51), (249, 140, 10), (249, 201, 50), (252, 255, 164),
    ]

    static func color(_ t: Float) -> (Float, Float, Float) {
        let s = min(max(t, 0), 1) * Float(inferno.count - 1)
        let i = min(Int(s), inferno.count - 2)
        let f = s - Float(i)
        let a = inferno[i], b = inferno[i + 1]
        return (a.0 + (b.0 - a.0) * f, a.1 + (b.1 - a.1) * f, a.2 + (b.2 - a.2) * f)
    }

    /// RGB (interleaved bytes) of the brain-window image (0...1 grey) with the normalised CAM blended in:
    /// the overlay's opacity grows with the map, so low-evidence areas stay plain grey.
    static func blend(grey: UnsafeBufferPointer<Float>, cam: [Float], opacity: Float) -> [UInt8] {
        let peak = cam.max() ?? 0
        var rgb = [UInt8](repeating: 0, count: cam.count * 3)
        for p in 0..<cam.count {
            let g = min(max(grey[p], 0), 1) * 255
            let t = peak > 0 ? cam[p] / peak : 0
            let (r, gg, b) = color(t)
            let a = opacity * t
            rgb[3 * p] = UInt8(((1 - a) * g + a * r).rounded())
            rgb[3 * p + 1] = UInt8(((1 - a) * g + a * gg).rounded())
            rgb[3 * p + 2] = UInt8(((1 - a) * g + a * b).rounded())
        }
        return rgb
    }
}
