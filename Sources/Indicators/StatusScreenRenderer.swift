import CCairo
import Foundation
import Triage

/// Draws the status screen: header with clock and overall state, an optional fault banner, the
/// most urgent alert as a large card (tier, identifiers, times, per-subtype probabilities, Grad-CAM
/// thumbnails, model), the other alerts as rows, and a health line.
///
/// Deterministic: the frame depends only on the `ScreenState` (which carries `now`), the panel
/// size, the configuration and the font and thumbnail files.
public final class StatusScreenRenderer: @unchecked Sendable {
    public let config: ScreenConfig
    private let fonts: Fonts
    private let lock = NSLock()  // one Cairo context at a time per renderer

    public init(config: ScreenConfig = ScreenConfig()) throws {
        self.config = config
        fonts = try Fonts(regularPaths: config.regularFontPaths, boldPaths: config.boldFontPaths)
    }

    public func render(_ state: ScreenState, size: PanelSize) throws -> Frame {
        lock.lock()
        defer { lock.unlock() }
        guard let surface = cairo_image_surface_create(CAIRO_FORMAT_ARGB32, Int32(size.width), Int32(size.height)),
              cairo_surface_status(surface) == CAIRO_STATUS_SUCCESS else {
            throw IndicatorsError(.cairo, "cannot create a \(size) image surface")
        }
        defer { cairo_surface_destroy(surface) }
        guard let cr = cairo_create(surface) else { throw IndicatorsError(.cairo, "cannot create a Cairo context") }
        defer { cairo_destroy(cr) }
        let options = cairo_font_options_create()
        defer { cairo_font_options_destroy(options) }
        cairo_font_options_set_antialias(options, CAIRO_ANTIALIAS_GRAY)
        cairo_font_options_set_hint_style(options, CAIRO_HINT_STYLE_SLIGHT)
        cairo_font_options_set_hint_metrics(options, CAIRO_HINT_METRICS_ON)
        cairo_set_font_options(cr, options)

        let layout = ScreenLayout(canvas: Canvas(cr: cr, fonts: fonts), size: size, state: state, config: config)
        layout.draw()
        let status = cairo_status(cr)
        guard status == CAIRO_STATUS_SUCCESS else {
            throw IndicatorsError(.cairo, "drawing failed: \(String(cString: cairo_status_to_string(status)))")
        }
        return Frame.copy(from: surface)
    }
}

/// The layout of one frame. Sizes are in units `u` of 1% of the panel's shorter side, so every
/// panel from 800x480 to 1920x1080, landscape or portrait, gets the same proportions.
struct ScreenLayout {
    let canvas: Canvas
    let size: PanelSize
    let state: ScreenState
    let config: ScreenConfig
    let u: Double
    let text = TextFormat()

    init(canvas: Canvas, size: PanelSize, state: ScreenState, config: ScreenConfig) {
        self.canvas = canvas
        self.size = size
        self.state = state
        self.config = config
        u = Double(min(size.width, size.height)) / 100
    }

    var portrait: Bool { size.isPortrait }
    var margin: Double { 2 * u }

    func draw() {
        var rest = Rect(x: 0, y: 0, w: Double(size.width), h: Double(size.height))
        canvas.fill(rest, .background)
        let alerts = state.orderedAlerts

        let header: Rect
        (header, rest) = rest.sliceTop(10 * u)
        drawHeader(header, alerts: alerts)

        if let fault = state.health.fault {
            let banner: Rect
            (banner, rest) = rest.sliceTop(14 * u)
            drawFault(banner, fault: fault)
        }

        var footerLines = healthLineTexts().map { (text: $0, colour: Colour.secondary) }
        if let update = state.health.modelUpdate {
            let colour = update.outcome.needsAttention ? Colour.amber : Colour(0x66BB6A)
            footerLines.insert(contentsOf: modelUpdateTexts(update).map { ($0, colour) }, at: 0)
        }
        let footer: Rect
        (footer, rest) = rest.sliceBottom(Double(footerLines.count) * 4.2 * u + 1.6 * u)
        drawHealth(footer, lines: footerLines)

        let body = rest.inset(margin)
        guard let first = alerts.first else {
            drawNoAlerts(body)
            return
        }
        let others = Array(alerts.dropFirst())
        let rowHeight = 8 * u
        var cardRect = body
        if !others.isEmpty {
            // Rows for the other alerts take at most 30% (landscape) or a third (portrait) of the body.
            let share = portrait ? 0.34 : 0.3
            let rows = max(1, min(others.count, Int((body.h * share) / rowHeight)))
            let list: Rect
            (list, cardRect) = body.sliceBottom(Double(rows) * rowHeight + u)
            drawList(Rect(x: list.x, y: list.y + u, w: list.w, h: list.h - u), alerts: others, rows: rows, rowHeight: rowHeight)
        }
        drawCard(cardRect, alert: first)
    }

    // MARK: header, banner, footer

    private func drawHeader(_ r: Rect, alerts: [ScreenAlert]) {
        canvas.fill(r, Colour(0x1E272E))
        let baseline = r.y + r.h * 0.68
        let (status, short, colour) = overallStatus(alerts)
        let clock = text.clock(state.now, zone: config.timeZone)
        let clockWidth = canvas.text(clock, x: r.maxX - margin, baseline: baseline, size: 5.5 * u, colour: .text,
                                     bold: true, align: .right)
        let titleWidth = canvas.text(config.title, x: margin, baseline: baseline, size: 4 * u, colour: .secondary,
                                     bold: true, maxWidth: r.w * 0.3)
        let left = margin + titleWidth + 2 * u
        let right = r.maxX - margin - clockWidth - 2 * u
        let fits = canvas.fittingSize(status, bold: true, size: 4.5 * u, maxWidth: right - left) >= 4.5 * u * 0.75
        canvas.text(fits ? status : short, x: (left + right) / 2, baseline: baseline, size: 4.5 * u, colour: colour,
                    bold: true, maxWidth: right - left, align: .centre)
    }

    /// The overall state in words, with a shorter form for narrow panels.
    private func overallStatus(_ alerts: [ScreenAlert]) -> (String, String, Colour) {
        if alerts.contains(where: { $0.record.tier == .critical && $0.acknowledgedAt == nil }) {
            return ("CRITICAL — NOT ACKNOWLEDGED", "NOT ACKNOWLEDGED", TierStyle.critical.textColour)
        }
        if state.health.fault != nil { return ("FAULT", "FAULT", .amber) }
        if alerts.first?.record.tier == .critical { return ("CRITICAL acknowledged", "Acknowledged", TierStyle.critical.textColour) }
        if state.analysing { return ("Analysing…", "Analysing…", .amber) }
        return ("Ready", "Ready", Colour(0x66BB6A))
    }

    private func drawFault(_ r: Rect, fault: Fault) {
        canvas.fill(r, .amber)
        canvas.stripes(Rect(x: r.x, y: r.y, w: r.w, h: 1.2 * u), .dark, period: 3 * u)
        canvas.stripes(Rect(x: r.x, y: r.maxY - 1.2 * u, w: r.w, h: 1.2 * u), .dark, period: 3 * u)
        canvas.text("FAULT: " + fault.message, x: r.x + margin, baseline: r.y + 6.6 * u,
                    size: 4.5 * u, colour: .dark, bold: true, maxWidth: r.w - 2 * margin, minScale: 0.5)
        canvas.text("No new alerts can be raised until this is fixed", x: r.x + margin,
                    baseline: r.y + 11.0 * u, size: 2.8 * u, colour: .dark, maxWidth: r.w - 2 * margin)
    }

    /// The health facts, joined into as few lines as fit the panel (at most two).
    func healthLineTexts() -> [String] {
        let h = state.health
        var parts = ["Watching " + h.watchedFolder]
        if let seen = h.lastSeriesSeen {
            parts.append("last series " + text.clock(seen, zone: config.timeZone) + " (" + text.elapsed(from: seen, to: state.now) + ")")
        } else {
            parts.append("no series yet")
        }
        if let free = h.diskFreeBytes {
            var disk = "disk " + text.bytes(free) + " free"
            if let total = h.diskTotalBytes, total > 0 { disk += " of " + text.bytes(total) }
            parts.append(disk)
        }
        let model = h.model.map { "model \($0.name) \($0.version): " } ?? "model: "
        parts.append(model + h.modelStatus)
        let maxWidth = Double(size.width) - 2 * margin
        let single = parts.joined(separator: " · ")
        if canvas.textWidth(single, bold: false, size: healthFontSize * 0.9) <= maxWidth { return [single] }
        // Two lines, split where the longer line is shortest.
        let splits = (1..<parts.count).map { i in
            [parts[..<i].joined(separator: " · "), parts[i...].joined(separator: " · ")]
        }
        return splits.min { a, b in
            a.map { canvas.textWidth($0, bold: false, size: healthFontSize) }.max()!
                < b.map { canvas.textWidth($0, bold: false, size: healthFontSize) }.max()!
        }!
    }

    var healthFontSize: Double { 2.9 * u }

    private func drawHealth(_ r: Rect, lines: [(text: String, colour: Colour)]) {
        canvas.fill(r, Colour(0x161B21))
        for (i, line) in lines.enumerated() {
            canvas.text(line.text, x: margin, baseline: r.y + 1.0 * u + Double(i + 1) * 4.2 * u - 1.0 * u,
                        size: healthFontSize, colour: line.colour, maxWidth: r.w - 2 * margin, minScale: 0.75)
        }
    }

    /// "Model update 14:02 (5 min ago): REJECTED ich-det 1.2.0 · active: ich-det 1.0.0", and for a
    /// refusal, failure or rollback a second line with the reason (cut with an ellipsis when long).
    func modelUpdateTexts(_ n: ModelUpdateNotice) -> [String] {
        let what = n.action == "install" ? "Model update" : n.action == "rollback" ? "Model rollback" : "Automatic rollback"
        var line = what + " " + text.clock(n.time, zone: config.timeZone) + " (" + text.elapsed(from: n.time, to: state.now) + "): "
        line += n.outcome.words
        if let subject = n.subject { line += " " + subject }
        line += " · active: " + (n.activeModel ?? "NONE")
        guard let reason = n.reason, n.outcome.needsAttention else { return [line] }
        return [line, "Why: " + reason]
    }

    private func drawNoAlerts(_ r: Rect) {
        canvas.fill(r, .card, radius: 1.5 * u)
        let colour = state.health.fault == nil ? Colour(0x66BB6A) : Colour.amber
        canvas.text(state.health.fault == nil ? "No alerts" : "Not ready", x: r.x + r.w / 2, baseline: r.y + r.h * 0.48,
                    size: 10 * u, colour: colour, bold: true, maxWidth: r.w - 2 * margin, align: .centre)
        let sub = state.health.fault != nil ? "Alerts are paused until the fault above is fixed"
            : state.analysing ? "Analysing a series…" : "Waiting for the next head CT series"
        canvas.text(sub, x: r.x + r.w / 2, baseline: r.y + r.h * 0.48 + 8 * u, size: 4 * u, colour: .secondary,
                    maxWidth: r.w - 2 * margin, align: .centre)
    }

    // MARK: the primary card

    private func drawCard(_ r: Rect, alert: ScreenAlert) {
        let style = TierStyle(alert.record.tier)
        canvas.fill(r, .card, radius: 1.5 * u)
        // Tier band: the biggest text on screen, readable from two metres.
        // Landscape keeps about 46u for the details below the band; portrait has room to spare.
        let bandHeight = portrait ? min(r.h * 0.42, 24 * u) : min(24 * u, max(14 * u, r.h - 46 * u))
        let (band, body) = r.sliceTop(bandHeight)
        canvas.fill(band, style.colour, radius: 1.5 * u)
        let tierSize = band.h * 0.62
        let inner = band.w - 2 * margin
        let tierBaseline = band.y + band.h * 0.60
        canvas.text(style.word, x: band.x + margin, baseline: tierBaseline, size: tierSize, colour: .text, bold: true,
                    maxWidth: portrait ? inner : inner * 0.62, minScale: 0.4)
        let (ackLine, ackBold) = acknowledgementText(alert)
        if portrait {
            canvas.text(ackLine, x: band.x + margin, baseline: band.maxY - 1.6 * u, size: 3.4 * u, colour: .text,
                        bold: ackBold, maxWidth: inner)
        } else {
            canvas.text(ackLine, x: band.maxX - margin, baseline: tierBaseline, size: 3.6 * u, colour: .text,
                        bold: ackBold, maxWidth: inner * 0.36, align: .right)
        }

        let content = body.inset(margin)
        if portrait {
            let thumbs = min(content.w / 3, content.h * 0.36)
            let (lower, upper) = content.sliceBottom(thumbs + 5 * u)
            drawDetails(upper, alert: alert)
            drawThumbnails(lower, alert: alert)
        } else {
            let (left, right) = content.sliceLeft(content.w * 0.5)
            drawDetails(Rect(x: left.x, y: left.y, w: left.w - 2 * u, h: left.h), alert: alert)
            drawThumbnails(right, alert: alert)
        }
    }

    private func acknowledgementText(_ alert: ScreenAlert) -> (String, Bool) {
        guard alert.record.tier == .critical else {
            return ("analysed " + text.elapsed(from: alert.record.completionTime, to: state.now), false)
        }
        if let at = alert.acknowledgedAt {
            return ("Acknowledged " + text.clock(at, zone: config.timeZone), false)
        }
        return ("Press ACK to acknowledge", true)
    }

    /// Identifiers, times, per-subtype probabilities (or the reason), model line.
    private func drawDetails(_ r: Rect, alert: ScreenAlert) {
        let record = alert.record
        // Natural height of the column in units; scaled down when the panel is short.
        let natural = 6.0 + 5.0 + 6 * 4.6 + 4.0
        let k = min(portrait ? 1.3 : 1.0, r.h / (natural * u))
        let unit = u * k
        var y = r.y
        let ids = config.identifiers.compactMap { field in field.value(in: record).map { "\(field.label) \($0)" } }
        y += 5.2 * unit
        canvas.text(ids.isEmpty ? "(no identifiers)" : ids.joined(separator: "   "), x: r.x, baseline: y,
                    size: 5.0 * unit, colour: .text, bold: true, maxWidth: r.w)
        y += 4.8 * unit
        var times: [String] = []
        if let study = record.studyDateTime { times.append("Study " + text.studyTime(study)) }
        times.append("arrived " + text.elapsed(from: record.arrivalTime, to: state.now))
        canvas.text(times.joined(separator: " · "), x: r.x, baseline: y, size: 3.3 * unit, colour: .secondary, maxWidth: r.w)
        y += 1.6 * unit

        if record.tier == .notAnalysable {
            y += 5 * unit
            canvas.text("Not analysable:", x: r.x, baseline: y, size: 4 * unit, colour: .text, bold: true, maxWidth: r.w)
            // Reasons are sentences (docs/triage.md): wrapped over the room left above the model line.
            let size = 3.3 * unit, lineHeight = 4.4 * unit
            let room = max(1, Int((r.maxY - 4 * unit - y) / lineHeight))
            for line in canvas.wrapped(record.reason ?? "no reason recorded", bold: false, size: size, maxWidth: r.w, maxLines: room) {
                y += lineHeight
                canvas.text(line, x: r.x, baseline: y, size: size, colour: .text, maxWidth: r.w)
            }
        } else {
            let style = TierStyle(record.tier)
            for label in HemorrhageLabel.allCases {
                let row = Rect(x: r.x, y: y, w: r.w, h: 4.6 * unit)
                drawProbability(row, label: label, value: record.probabilities[label], style: style)
                y += 4.6 * unit
            }
        }
        // Landscape: at the foot of the column, level with the thumbnail caption; portrait: under the bars.
        let modelBaseline = portrait ? min(r.maxY - 0.6 * unit, y + 5 * unit) : r.maxY - 0.6 * unit
        canvas.text("Model \(record.model.name) \(record.model.version) · NOT FOR DIAGNOSTIC USE", x: r.x,
                    baseline: modelBaseline, size: 2.7 * unit, colour: .secondary, maxWidth: r.w)
    }

    private func drawProbability(_ row: Rect, label: HemorrhageLabel, value: Double?, style: TierStyle) {
        let labelWidth = row.w * 0.38
        let valueWidth = row.w * 0.14
        let fontSize = row.h * 0.68
        let baseline = row.y + row.h * 0.74
        canvas.text(text.labelName(label), x: row.x, baseline: baseline, size: fontSize, colour: .text,
                    bold: label == .any, maxWidth: labelWidth - u)
        let track = Rect(x: row.x + labelWidth, y: row.y + row.h * 0.22, w: row.w - labelWidth - valueWidth, h: row.h * 0.56)
        canvas.fill(track, .track, radius: track.h / 2)
        if let value {
            let clamped = min(1, max(0, value))
            if clamped > 0 {
                canvas.fill(Rect(x: track.x, y: track.y, w: max(track.h, track.w * clamped), h: track.h),
                            clamped >= 0.5 ? style.colour : Colour(0x78909C), radius: track.h / 2)
            }
        }
        canvas.text(value.map(text.percent) ?? "–", x: row.maxX, baseline: baseline, size: fontSize, colour: .text,
                    bold: true, align: .right)
    }

    private func drawThumbnails(_ r: Rect, alert: ScreenAlert) {
        let files = Array(alert.thumbnailFiles.prefix(3))
        let captionHeight = 4.5 * u
        let area = Rect(x: r.x, y: r.y, w: r.w, h: r.h - captionHeight)
        if files.isEmpty {
            canvas.fill(area, Colour(0x222A33), radius: u)
            let message = alert.record.tier == .negative ? "No key images: negative series" : "No key images"
            canvas.text(message, x: area.x + area.w / 2, baseline: area.y + area.h / 2 + u, size: 3.2 * u,
                        colour: .secondary, maxWidth: area.w - 2 * u, align: .centre)
            return
        }
        let gap = 1.2 * u
        let cell = min((area.w - gap * Double(files.count - 1)) / Double(files.count), area.h)
        let totalWidth = cell * Double(files.count) + gap * Double(files.count - 1)
        var x = area.x + (area.w - totalWidth) / 2
        let y = area.y + (area.h - cell) / 2
        for (i, file) in files.enumerated() {
            let box = Rect(x: x, y: y, w: cell, h: cell)
            canvas.fill(box, .dark)
            if !canvas.image(atPath: file.path, in: box) {
                canvas.fill(box.inset(0.3 * u), Colour(0x2A333D))
                canvas.text("image missing", x: box.x + box.w / 2, baseline: box.y + box.h / 2, size: 2.6 * u,
                            colour: .secondary, maxWidth: box.w - u, align: .centre)
            }
            // The overlay text on every key image: these are pointers, not diagnostic images.
            let strip = Rect(x: box.x, y: box.maxY - 3.2 * u, w: box.w, h: 3.2 * u)
            canvas.setColour(.dark, alpha: 0.65)
            cairo_rectangle(canvas.cr, strip.x, strip.y, strip.w, strip.h)
            cairo_fill(canvas.cr)
            canvas.text("NOT FOR DIAGNOSTIC USE", x: strip.x + strip.w / 2, baseline: strip.maxY - 0.9 * u,
                        size: 2.1 * u, colour: .text, bold: true, maxWidth: strip.w - 0.6 * u, align: .centre, minScale: 0.4)
            if i < alert.record.keySlices.count {
                let key = alert.record.keySlices[i]
                canvas.text("#\(key.index + 1)  \(text.percent(key.probability))", x: box.x + 0.8 * u, baseline: box.y + 3.2 * u,
                            size: 2.4 * u, colour: .text, bold: true, maxWidth: box.w - 1.6 * u)
            }
            x += cell + gap
        }
        canvas.text("Key slices (Grad-CAM): where the model looked", x: area.x + area.w / 2, baseline: r.maxY - 1.0 * u,
                    size: 2.6 * u, colour: .secondary, maxWidth: r.w, align: .centre)
    }

    // MARK: other alerts

    private func drawList(_ r: Rect, alerts: [ScreenAlert], rows: Int, rowHeight: Double) {
        let shown = alerts.count > rows ? rows - 1 : rows
        for (i, alert) in alerts.prefix(shown).enumerated() {
            let row = Rect(x: r.x, y: r.y + Double(i) * rowHeight, w: r.w, h: rowHeight - 0.8 * u)
            drawRow(row, alert: alert)
        }
        if alerts.count > rows {
            let y = r.y + Double(shown) * rowHeight + rowHeight * 0.62
            canvas.text("+\(alerts.count - shown) more", x: r.x + u, baseline: y, size: 3.2 * u, colour: .secondary)
        }
    }

    private func drawRow(_ row: Rect, alert: ScreenAlert) {
        let style = TierStyle(alert.record.tier)
        canvas.fill(row, .card, radius: u)
        let (chip, rest) = row.sliceLeft(min(row.w * 0.3, 26 * u))
        canvas.fill(chip, style.colour, radius: u)
        let baseline = row.y + row.h * 0.68
        let fontSize = 3.3 * u
        canvas.text(style.word, x: chip.x + chip.w / 2, baseline: baseline, size: fontSize, colour: .text, bold: true,
                    maxWidth: chip.w - u, align: .centre, minScale: 0.5)
        let record = alert.record
        let ids = config.identifiers.compactMap { $0.value(in: record) }.joined(separator: "  ")
        let ago = text.elapsed(from: record.arrivalTime, to: state.now)
        var finding = ""
        if record.tier == .notAnalysable {
            finding = record.reason ?? ""
        } else if let top = HemorrhageLabel.allCases.dropFirst().max(by: { (record.probabilities[$0] ?? 0) < (record.probabilities[$1] ?? 0) }),
                  let p = record.probabilities[top], record.tier != .negative {
            finding = "\(text.labelName(top)) \(text.percent(p))"
        }
        let agoWidth = canvas.text(ago, x: rest.maxX - u, baseline: baseline, size: fontSize, colour: .secondary, align: .right)
        let available = rest.w - agoWidth - 3 * u
        let idWidth = canvas.text(ids, x: rest.x + 1.5 * u, baseline: baseline, size: fontSize, colour: .text, bold: true,
                                  maxWidth: available * 0.55)
        canvas.text(finding, x: rest.x + 3 * u + idWidth, baseline: baseline, size: fontSize, colour: .secondary,
                    maxWidth: max(0, available - idWidth - 1.5 * u))
    }
}

/// Colour and word for each tier. Not colour alone: the word is always shown too.
struct TierStyle {
    let colour: Colour
    let word: String
    var textColour: Colour { Colour(0xFF6659) }

    static let critical = TierStyle(.critical)

    init(_ tier: Tier) {
        switch tier {
        case .critical: colour = Colour(0xC62828); word = "CRITICAL"
        case .suspect: colour = Colour(0xE65100); word = "SUSPECT"
        case .negative: colour = Colour(0x2E7D32); word = "NEGATIVE"
        case .notAnalysable: colour = Colour(0x546E7A); word = "NOT ANALYSABLE"
        }
    }
}
