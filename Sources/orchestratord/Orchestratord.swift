import ArgumentParser
import Foundation
import Logging
import OrchestratorCore
import Persistence

/// `orchestratord [serve] | migrate | check-config`
@main
struct Orchestratord: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "orchestratord",
        abstract: "Orchestrator: one OpenAI-compatible endpoint in front of many LLM providers.",
        subcommands: [Serve.self, Migrate.self, CheckConfig.self],
        defaultSubcommand: Serve.self)
}

/// Options shared by every subcommand.
struct CommonOptions: ParsableArguments {
    @Option(name: .long, help: "Config file (default: $ORCH_CONFIG, else ./orchestrator.yaml if present).")
    var config: String?
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the gateway (the default).")

    @OptionGroup var common: CommonOptions
    @Option(help: "Listen address (default 127.0.0.1).") var host: String?
    @Option(help: "Listen port; 0 picks a free one (default 8000).") var port: Int?
    @Option(name: .customLong("database-url"), help: "sqlite:///abs.db, sqlite://./rel.db, sqlite::memory: or mysql://…")
    var databaseURL: String?
    @Option(name: .customLong("redis-url"), help: "redis://host:6379/0 (optional).") var redisURL: String?

    func run() async throws {
        AllocatorTuning.reexecIfUntuned()
        let environment = ProcessInfo.processInfo.environment
        let logger = Bootstrap.logger(environment)
        let settings = try Bootstrap.settings(
            configPath: common.config, environment: environment,
            overrides: .init(host: host, port: port, databaseURL: databaseURL, redisURL: redisURL))
        let gateway: Gateway
        do {
            gateway = try await Gateway.build(settings: settings, environment: environment, logger: logger)
        } catch {
            Bootstrap.fail("\(error)")
        }
        try await gateway.run()
    }
}

struct Migrate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Apply pending database migrations and exit.")

    @OptionGroup var common: CommonOptions
    @Option(name: .customLong("database-url"), help: "Database URL (overrides the config file).") var databaseURL: String?

    func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        let logger = Bootstrap.logger(environment)
        let settings = try Bootstrap.settings(
            configPath: common.config, environment: environment, overrides: .init(databaseURL: databaseURL))
        let url: DatabaseURL
        do {
            url = try DatabaseURL(parsing: settings.database.url)
        } catch {
            Bootstrap.fail("database.url: \(error)")
        }
        let store: SQLStore
        do {
            store = try await SQLStore.open(url: url, secretKey: environment["ORCH_SECRET_KEY"], logger: logger).0
        } catch {
            Bootstrap.fail("database.url: \(url): \(error)")
        }
        let versions = try await store.appliedMigrations()
        await store.close()
        print("ok: schema at version \(versions.last ?? 0) (\(versions.count) migration(s) applied)")
    }
}

struct CheckConfig: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check-config", abstract: "Validate the config file: prints ok, or one path: message per problem.")

    @OptionGroup var common: CommonOptions

    func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        do {
            _ = try Bootstrap.loadFile(configPath: common.config, environment: environment)
            print("ok")
        } catch {
            print(error.description)
            throw ExitCode(1)
        }
    }
}

/// Reading settings and setting up logging, shared by the subcommands.
enum Bootstrap {
    struct Overrides {
        var host: String?
        var port: Int?
        var databaseURL: String?
        var redisURL: String?
    }

    static func logger(_ environment: [String: String]) -> Logger {
        let level = environment["ORCH_LOG_LEVEL"].flatMap { Logger.Level(rawValue: $0.lowercased()) } ?? .info
        let format = environment["ORCH_LOG_FORMAT"].flatMap { StderrLogHandler.Format(rawValue: $0.lowercased()) } ?? .text
        LoggingSystem.bootstrap { label in StderrLogHandler(label: label, format: format, level: level) }
        return Logger(label: "orchestrator")
    }

    /// The config file to read: the flag, else `ORCH_CONFIG`, else `./orchestrator.yaml` if present.
    static func configFile(_ flag: String?, _ environment: [String: String]) -> String? {
        if let flag { return flag }
        if let env = environment["ORCH_CONFIG"], !env.isEmpty { return env }
        return FileManager.default.fileExists(atPath: "orchestrator.yaml") ? "orchestrator.yaml" : nil
    }

    static func loadFile(configPath: String?, environment: [String: String]) throws(ConfigProblems) -> GatewaySettings {
        guard let path = configFile(configPath, environment) else { return GatewaySettings() }
        return try ConfigLoader(environment: environment).load(file: path)
    }

    /// File, then environment, then flags (each beats the one before).
    static func settings(configPath: String?, environment: [String: String], overrides: Overrides) throws -> GatewaySettings {
        var settings: GatewaySettings
        do {
            settings = try loadFile(configPath: configPath, environment: environment)
        } catch {
            fail(error.description)
        }
        var problems: [String] = []
        if let v = environment["ORCH_HOST"], !v.isEmpty { settings.server.host = v }
        if let v = environment["ORCH_PORT"], !v.isEmpty {
            if let port = Int(v), (0...65535).contains(port) {
                settings.server.port = port
            } else {
                problems.append("ORCH_PORT: expected a port number, got \"\(v)\"")
            }
        }
        if let v = environment["ORCH_DATABASE_URL"], !v.isEmpty { settings.database.url = v }
        if let v = environment["ORCH_REDIS_URL"], !v.isEmpty { settings.redis = RedisSettings(url: v) }
        if let v = environment["ORCH_ADMIN_KEY"], !v.isEmpty { settings.admin.key = v }
        if let v = overrides.host { settings.server.host = v }
        if let v = overrides.port {
            if (0...65535).contains(v) { settings.server.port = v } else { problems.append("--port: must be between 0 and 65535") }
        }
        if let v = overrides.databaseURL { settings.database.url = v }
        if let v = overrides.redisURL { settings.redis = RedisSettings(url: v) }
        do {
            _ = try DatabaseURL(parsing: settings.database.url)
        } catch {
            problems.append("database.url: \(error)")
        }
        if !problems.isEmpty { fail(problems.joined(separator: "\n")) }
        return settings
    }

    static func fail(_ message: String) -> Never {
        FileHandle.standardError.write(Data((message + "\n").utf8))
        exit(1)
    }
}
