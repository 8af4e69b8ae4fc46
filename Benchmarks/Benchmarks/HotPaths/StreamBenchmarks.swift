import Benchmark
import Foundation
import Logging
import NIOCore
import OrchestratorCore
import Providers

/// Per-event stream work, on the bench harness's stream (22 chunks, a usage-only chunk,
/// `[DONE]`).
///
/// The "per event" benchmarks run 1,000 events per measured iteration, cycling through
/// the stream's events (`.kilo`), so their numbers are per event directly. The adapter
/// benchmarks measure whole streams (`.one`): divide by 24 for a per-event figure.
func streamBenchmarks() {
    let events = Fixtures.streamEvents
    let payloads = Fixtures.streamEventData

    // The SSE grammar alone, fed one event per read (a paced upstream). A scanner keeps
    // its state between reads, so one serves each measured iteration. `SSEScanner` is
    // what the pass-through path uses (event data handed over in place);
    // `SSEParser` wraps it and builds strings per event, for translating adapters.
    Benchmark("sse: scan (SSEScanner.feed), per event, one event per read") { benchmark in
        var scanner = SSEScanner()
        for i in benchmark.scaledIterations {
            try scanner.feed(events[i % events.count]) { event in
                blackHole(event.data.count)
                return true
            }
        }
    }

    Benchmark("sse: parse into strings (SSEParser.feed), per event, one event per read") { benchmark in
        var parser = SSEParser()
        for i in benchmark.scaledIterations {
            blackHole(try parser.feed(events[i % events.count]))
        }
    }

    // The same-style pass-through reads each chunk without decoding it: structure,
    // `error`, `usage`, `choices` and output text length.
    let payloadBytes = payloads.map { Array($0.utf8) }
    Benchmark("sse: pass-through scan (PassThroughSummary.scan), per event") { benchmark in
        for i in benchmark.scaledIterations {
            blackHole(try payloadBytes[i % payloadBytes.count].withUnsafeBytes { try PassThroughSummary.scan(bytes: $0) })
        }
    }

    // Re-framing a forwarded event's data as `data: …\n\n`, into a new buffer per read
    // sized from the read, as the adapter does.
    Benchmark("sse: re-frame (SSEWriter.write), per event, one event per read") { benchmark in
        for i in benchmark.scaledIterations {
            let payload = payloadBytes[i % payloadBytes.count]
            var frames = ByteBuffer()
            frames.reserveCapacity(payload.count + 8 + 64)
            payload.withUnsafeBytes { SSEWriter.write(dataBytes: $0, into: &frames) }
            blackHole(frames)
        }
    }

    // The cross-style path (not used by the bench's OpenAI-to-OpenAI traffic): full
    // decode of each upstream chunk, and the inbound codec encoding a canonical chunk.
    Benchmark("sse: decode chunk (validated, read from the bytes; cross-style path), per event") { benchmark in
        for i in benchmark.scaledIterations {
            blackHole(try payloadBytes[i % payloadBytes.count].withUnsafeBytes {
                try JSONCoding.decode(ChatCompletionChunk.self, from: $0)
            })
        }
    }

    // The same with Foundation's JSONDecoder, which decoded every chunk before: the reference.
    Benchmark("sse: decode chunk with JSONDecoder, per event") { benchmark in
        for i in benchmark.scaledIterations {
            blackHole(try payloadBytes[i % payloadBytes.count].withUnsafeBytes {
                try JSONCoding.decodeWithJSONDecoder(ChatCompletionChunk.self, from: $0)
            })
        }
    }

    let chunks: [ChatCompletionChunk] = payloads.compactMap { try? JSONCoding.decode(ChatCompletionChunk.self, from: $0) }
    Benchmark("sse: encode chunk (OpenAIStreamEncoder, JSONEncoder), per event") { benchmark in
        var encoder = OpenAIStreamEncoder(includeUsage: true)
        for i in benchmark.scaledIterations {
            blackHole(try encoder.encode(chunks[i % chunks.count]))
        }
    }

    // The OpenAI adapter's stream translation (internal `OpenAIStreamTranslator` driven by `SSETranslation`: SSE
    // scan, pass-through scan, re-frame, usage and text bookkeeping) through its public
    // entry point, over an upstream that hands the body over in memory. Includes the
    // adapter's per-call work (upstream body rewrite, headers): one stream per iteration.
    let whole = AdapterStreamFixture(upstream: CannedUpstream(streamReads: [Fixtures.streamBody]))
    let paced = AdapterStreamFixture(upstream: CannedUpstream(streamReads: events))
    for (fixture, reads) in [(whole, "24 events in 1 read"), (paced, "1 event per read (paced)")] {
        Benchmark(
            "sse: OpenAI adapter stream, \(reads), per stream",
            configuration: .init(metrics: HotPathMetrics.threaded, scalingFactor: .one, maxIterations: 10_000)
        ) { benchmark in
            try await ProcessCPUTime.record(in: benchmark) {
                for _ in benchmark.scaledIterations {
                    try await fixture.consumeOneStream()
                }
            }
        }
    }
}

/// One `OpenAIAdapter.stream` call for the bench's stream request, consumed to the end.
struct AdapterStreamFixture {
    let adapter: OpenAIAdapter
    let call: ProviderCall

    init(upstream: CannedUpstream) {
        adapter = OpenAIAdapter(transport: upstream)
        let chat = try! OpenAIInboundCodec().decodeChatRequest(Fixtures.smallStreamBody)
        let request = InboundRequest(
            style: .openai, body: Fixtures.smallStreamBody, chat: chat, requestID: "0193a1b2c3d4e5f6a7b8c9d0e1f20304",
            receivedAtMillis: 0)
        var provider = ProviderConfig(name: "up", type: .openai, baseURL: "http://127.0.0.1:18081/v1")
        provider.apiKeys = ["sk-bench-upstream"]
        call = ProviderCall(
            request: request, provider: provider, target: TargetConfig(provider: "up", model: "gpt-4o-mini"),
            apiKey: "sk-bench-upstream", deadline: .now + .seconds(365 * 86_400), logger: .quietRequestLogger)
    }

    func consumeOneStream() async throws {
        let stream = try await adapter.stream(call)
        for try await event in stream.events {
            blackHole(event)
        }
    }
}
