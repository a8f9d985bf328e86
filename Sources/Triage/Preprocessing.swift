/// From decoded HU to the detector's input, exactly as the training toolkit does it
/// (Training/PREPROCESSING.md): three HU windows as channels, area-averaged to 256x256.
///
/// Order matters and is fixed: window each pixel first (the windows clip, so windowing after
/// averaging would give other values), then average. Padding pixels must already be -1024 HU.
public struct Preprocessing: Sendable, Equatable {
    /// An HU window, centre and width.
    public struct Window: Sendable, Equatable, Codable {
        public var center: Float
        public var width: Float
        public init(center: Float, width: Float) {
            self.center = center
            self.width = width
        }
    }

    /// Brain 40/80, subdural 80/200, soft tissue 40/380 (Burduja et al. 2020).
    public static let paperWindows = [
        Window(center: 40, width: 80), Window(center: 80, width: 200), Window(center: 40, width: 380),
    ]

    public var windows: [Window]
    public var outputSize: Int

    public init(windows: [Window] = Preprocessing.paperWindows, outputSize: Int = 256) {
        self.windows = windows
        self.outputSize = outputSize
    }

    public var channelCount: Int { windows.count }
    public var valuesPerSlice: Int { windows.count * outputSize * outputSize }

    /// Writes one slice as float32 CHW (values in 0...1) into `output` (valuesPerSlice values).
    /// `hu` is rows x columns, row-major.
    public func slice(hu: UnsafeBufferPointer<Float>, rows: Int, columns: Int,
                      into output: UnsafeMutableBufferPointer<Float>) {
        precondition(hu.count >= rows * columns && output.count >= valuesPerSlice)
        let plane = outputSize * outputSize
        for (c, window) in windows.enumerated() {
            let low = window.center - window.width / 2
            let width = window.width  // divide, as the toolkit does: a reciprocal can differ in the last bit
            let channel = UnsafeMutableBufferPointer(rebasing: output[(c * plane)..<((c + 1) * plane)])
            if rows == 2 * outputSize && columns == 2 * outputSize {
                Self.windowAndHalve(hu, columns: columns, low: low, width: width, size: outputSize, into: channel)
            } else {
                Self.windowAndResample(hu, rows: rows, columns: columns, low: low, width: width,
                                       size: outputSize, into: channel)
            }
        }
    }

    /// The common case, 512 -> 256: the mean of each 2x2 block of windowed values.
    @inline(__always)
    static func windowAndHalve(_ hu: UnsafeBufferPointer<Float>, columns: Int, low: Float, width: Float,
                               size: Int, into out: UnsafeMutableBufferPointer<Float>) {
        for y in 0..<size {
            let row0 = 2 * y * columns
            let row1 = row0 + columns
            for x in 0..<size {
                let a = window(hu[row0 + 2 * x], low, width)
                let b = window(hu[row0 + 2 * x + 1], low, width)
                let c = window(hu[row1 + 2 * x], low, width)
                let d = window(hu[row1 + 2 * x + 1], low, width)
                out[y * size + x] = ((a + b) + (c + d)) * 0.25
            }
        }
    }

    /// Any other matrix: exact area averaging (each output pixel is the area-weighted mean of
    /// the input pixels its footprint covers, fractional overlaps included).
    static func windowAndResample(_ hu: UnsafeBufferPointer<Float>, rows: Int, columns: Int, low: Float,
                                  width: Float, size: Int, into out: UnsafeMutableBufferPointer<Float>) {
        let rowWeights = areaWeights(input: rows, output: size)
        let columnWeights = areaWeights(input: columns, output: size)
        var rowBuffer = [Float](repeating: 0, count: size)
        for y in 0..<size {
            for x in 0..<size { out[y * size + x] = 0 }
            for (inputRow, wy) in rowWeights[y] {
                for x in 0..<size {
                    var sum: Float = 0
                    for (inputColumn, wx) in columnWeights[x] {
                        sum += wx * window(hu[inputRow * columns + inputColumn], low, width)
                    }
                    rowBuffer[x] = sum
                }
                for x in 0..<size { out[y * size + x] += wy * rowBuffer[x] }
            }
        }
    }

    /// For each output index, the input indices it covers and their weights (summing to 1).
    static func areaWeights(input: Int, output: Int) -> [[(Int, Float)]] {
        let scale = Double(input) / Double(output)
        return (0..<output).map { o in
            let start = Double(o) * scale
            let end = start + scale
            var weights: [(Int, Float)] = []
            var i = Int(start.rounded(.down))
            while Double(i) < end && i < input {
                let overlap = min(end, Double(i + 1)) - max(start, Double(i))
                if overlap > 1e-12 { weights.append((i, Float(overlap / scale))) }
                i += 1
            }
            return weights
        }
    }

    @inline(__always)
    static func window(_ hu: Float, _ low: Float, _ width: Float) -> Float {
        min(max((hu - low) / width, 0), 1)
    }
}
