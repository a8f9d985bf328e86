import DICOMIntake
import Foundation
import Indicators
import Logging
import ModelStore
import ServiceLifecycle

/// Builds the appliance from its configuration: the same builder serves `ichtriaged` and the
/// tests, so what is tested is what runs.
public struct ApplianceRuntime: Sendable {
    public let configuration: ApplianceConfiguration
    public let store: JobStore
    public let status: ApplianceStatus
    public let notifier: SystemdNotifier
    public let watchdog: Watchdog
    /// How the previous run ended, when systemd recorded it (`ichtriaged --record-exit`).
    public let previousExit: ExitRecord?
    /// Jobs the previous run left `running` when it crashed: charged one failure each.
    public let jobsChargedWithCrash: [Int64]

    public init(configuration: ApplianceConfiguration, notifier: SystemdNotifier = SystemdNotifier()) throws {
        self.configuration = configuration
        let fm = FileManager.default
        for folder in [configuration.stateDirectory, configuration.quarantineDirectory, configuration.outboxDirectory,
                       configuration.stateDirectory + "/alerts"] {
            do { try fm.createDirectory(atPath: folder, withIntermediateDirectories: true) } catch {
                throw ApplianceError(.configuration, "cannot create \(folder): \(error.localizedDescription)")
            }
        }
        store = try JobStore(path: configuration.stateDirectory + "/" + Self.databaseFileName)
        // Before any job is handed out: did the previous run crash on the series it was analysing?
        previousExit = ExitRecord.take(stateDirectory: configuration.stateDirectory)
        if let previousExit, previousExit.isCrash {
            jobsChargedWithCrash = try store.recordCrashOfRunningJobs(
                reason: "the service failed while analysing this series: \(previousExit.description)")
        } else {
            jobsChargedWithCrash = []
        }
        status = ApplianceStatus()
        self.notifier = notifier
        watchdog = Watchdog(notifier: notifier)
    }

    /// The job store's file in the state directory (`ichtriage ack` opens it too).
    public static let databaseFileName = "ichtriage.sqlite"

    public var alertsDirectory: URL { URL(fileURLWithPath: configuration.stateDirectory + "/alerts", isDirectory: true) }

    public var intakeConfiguration: IntakeConfiguration {
        var intake = IntakeConfiguration()
        intake.quarantineFolder = URL(fileURLWithPath: configuration.quarantineDirectory)
        intake.stabilitySeconds = configuration.stableSeconds
        intake.seriesQuietSeconds = configuration.quietPeriodSeconds
        intake.rescanSeconds = configuration.rescanSeconds
        return intake
    }

    /// The services, in start order (a ServiceGroup stops them in reverse).
    public func services(analyzer: SeriesAnalyzer, modelDescription: @escaping @Sendable () -> String,
                         modelStore: ModelStore? = nil, logger: Logger) -> [Service] {
        var outputs = IndicatorService.Outputs()
        outputs.framebuffer = configuration.display.framebuffer
        outputs.png = configuration.display.png
        outputs.identifiers = configuration.display.identifiers.compactMap(IdentifierField.init(rawValue:))
        let indicators = IndicatorService(
            store: store, status: status, outputs: outputs, gpio: gpioConfig, alertsDirectory: alertsDirectory,
            watchedFolder: configuration.dropFolders.joined(separator: ", "), modelDescription: modelDescription,
            modelUpdate: { modelStore?.lastReceipt().flatMap(ModelUpdateNotice.init) }, logger: logger)
        let analysis = AnalysisService(
            store: store, analyzer: analyzer, status: status, notifier: notifier, watchdog: watchdog,
            intake: intakeConfiguration, alertsDirectory: alertsDirectory, logger: logger,
            onAlert: { indicators.alertRaised($0) })
        let intake = IntakeService(folders: configuration.dropFolders, intake: intakeConfiguration, store: store,
                                   status: status, logger: logger, onSlice: { analyzer.sliceArrived($0) })
        let housekeeping = HousekeepingService(store: store, status: status, configuration: configuration, logger: logger)
        var services: [Service] = [indicators, housekeeping, analysis, intake]
        if let modelStore {
            services.append(ModelUpdateService(store: modelStore, folders: configuration.dropFolders + [configuration.stateDirectory + "/updates"], logger: logger))
        }
        return services
    }

    var gpioConfig: GPIOConfig? {
        let g = configuration.gpio
        guard g.enabled else { return nil }
        var config = GPIOConfig()
        config.chip = g.chip
        func line(_ name: String, _ offset: Int) -> GPIOConfig.Line {
            GPIOConfig.Line(offset: offset, activeLow: g.activeLow.contains(name))
        }
        config.red = line("red", g.red)
        config.amber = line("amber", g.amber)
        config.green = line("green", g.green)
        config.buzzer = line("buzzer", g.buzzer)
        config.button = line("button", g.button)
        return config
    }
}
