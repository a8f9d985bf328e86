import ArgumentParser

struct ICHTriage: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ichtriage",
        abstract: "Offline intracranial hemorrhage triage appliance: command-line tools.",
        subcommands: [
            AnalyzeCommand.self, ScanCommand.self, PhantomCommand.self, ScreenCommand.self, AckCommand.self,
            ModelCommand.self, RunModelCommand.self, BenchCommand.self, SelftestCommand.self, SoftwareCommand.self,
        ]
    )
}
ICHTriage.main()
