import Foundation
import Benchmark
import NIOCore
import OrchestratorCore
import Providers

/// What the front door and the OpenAI adapter do with a request body: decode and
/// validate it into a `ChatRequest` (every request), and on the same-style pass-through
/// path rewrite its top-level members for the upstream and scan the upstream's answer.
func requestDecodeBenchmarks() {
    let codec = OpenAIInboundCodec()

    Benchmark("decode: small chat body (bench post.lua, 66 B)") { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(try codec.decodeChatRequest(Fixtures.smallChatBody))
        }
    }

    Benchmark("decode: large chat body (\(Fixtures.largeChatBody.readableBytes) B, 8 messages, 2 tools)") { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(try codec.decodeChatRequest(Fixtures.largeChatBody))
        }
    }

    Benchmark("decode: vision body (\(Fixtures.visionChatBody.readableBytes) B, image parts, json_schema)") { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(try codec.decodeChatRequest(Fixtures.visionChatBody))
        }
    }

    // `POST /v1/messages`: validated, read into Anthropic's types straight from the bytes
    // (`AnthropicRequestFastDecoder`), then translated into the canonical request.
    let anthropic = AnthropicInboundCodec()
    Benchmark("decode: Anthropic agent body (\(Fixtures.anthropicAgentBody.readableBytes) B, 8 tools, tool_use/tool_result)") {
        benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(try anthropic.decodeChatRequest(Fixtures.anthropicAgentBody))
        }
    }

    // A request translated for an upstream of another style is encoded whole, as the
    // OpenAI adapter writes it for an Anthropic client's request.
    let translated = try! anthropic.decodeChatRequest(Fixtures.anthropicAgentBody)
    Benchmark("encode: the Anthropic agent body's canonical request (8 tools, 4 tool calls)") { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(try JSONCoding.encode(translated))
        }
    }

    // The same with Foundation's JSONEncoder, which wrote these before: the reference.
    let foundationEncoder = JSONEncoder()
    foundationEncoder.outputFormatting = [.withoutEscapingSlashes, .sortedKeys]
    Benchmark("encode: the same with JSONEncoder") { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(try foundationEncoder.encode(translated))
        }
    }

    // The difference to the previous one is what the untyped members cost.
    Benchmark(
        "decode: the large body without tools and metadata (\(Fixtures.largeChatBodyWithoutUntypedMembers.readableBytes) B)"
    ) { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(try codec.decodeChatRequest(Fixtures.largeChatBodyWithoutUntypedMembers))
        }
    }

    // The OpenAI adapter's upstream body for a same-style client (`OpenAIAdapter.upstreamBody`,
    // internal): the client's bytes with `model` replaced, and for a stream
    // `stream_options.include_usage` forced on when the client did not ask for usage itself
    // (constant JSON when the client sent no `stream_options`, as here; a `JSONEncoder`
    // only to merge into options the client did send).
    func upstreamBodyBenchmark(_ name: String, _ body: ByteBuffer, forceStreamUsage: Bool = false) {
        Benchmark(name) { benchmark in
            for _ in benchmark.scaledIterations {
                var rewriter = JSONObjectRewriter()
                rewriter.set("model", string: "gpt-4o-mini")
                if forceStreamUsage { rewriter.set("stream_options", json: #"{"include_usage":true}"#.utf8) }
                blackHole(try rewriter.apply(to: body))
            }
        }
    }
    upstreamBodyBenchmark("pass-through: upstream body, chat (model rewrite)", Fixtures.smallChatBody)
    upstreamBodyBenchmark(
        "pass-through: upstream body, stream (model + stream_options)", Fixtures.smallStreamBody, forceStreamUsage: true)
    upstreamBodyBenchmark("pass-through: upstream body, large chat (model rewrite)", Fixtures.largeChatBody)

    // How the adapter reads a completion it translates (for an Anthropic client):
    // validated and read from the bytes; and the same with JSONDecoder, which did it before.
    Benchmark("decode: upstream completion for translation (bench mock, 663 B)") { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(try JSONCoding.decode(ChatCompletion.self, from: Fixtures.completionBody))
        }
    }
    Benchmark("decode: the same with JSONDecoder") { benchmark in
        for _ in benchmark.scaledIterations {
            try Fixtures.completionBody.withUnsafeReadableBytes { bytes in
                blackHole(try JSONCoding.decodeWithJSONDecoder(ChatCompletion.self, from: bytes))
            }
        }
    }

    // How the adapter reads a same-style completion: validated structurally, `usage` decoded.
    Benchmark("pass-through: scan completion body (bench mock, 663 B)") { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(try PassThroughSummary.scan(Fixtures.completionBody))
        }
    }
}
