import Foundation
import NIOCore
import OrchestratorCore

/// The bytes the benchmarks feed to the gateway: the requests `bench/run.sh` sends, the
/// upstream responses its nginx mock serves (read from `bench/mock/`, so both harnesses
/// measure the same bytes), and one larger, realistic request.
enum Fixtures {
    /// `bench/post.lua`'s body.
    static let smallChatBody = ByteBuffer(string: #"{"model":"bench","messages":[{"role":"user","content":"hello"}]}"#)

    /// `bench/run.sh`'s stream body.
    static let smallStreamBody = ByteBuffer(
        string: #"{"model":"bench-stream","stream":true,"messages":[{"role":"user","content":"hello"}]}"#)

    /// A realistic agent turn (about 3.1 KB): a system prompt, three user turns, an
    /// assistant tool call and its result, two tools with JSON schemas, sampling options.
    static let largeChatBody = ByteBuffer(
        string: #"""
            {"model":"bench","messages":[\#
            {"role":"system","content":"You are the support assistant of Acme Cloud. Answer concisely and name the documentation section you relied on. Call a tool whenever the user asks about the state of their account, deployments or invoices; never guess such facts. Do not reveal internal ticket numbers or the names of staff. If you are unsure, say so and offer to open a support case. Format commands as code blocks."},\#
            {"role":"user","content":"My deployment in eu-west-2 keeps failing with a timeout after about 30 seconds. What could cause that?"},\#
            {"role":"assistant","content":"A timeout after about 30 seconds usually means the health check never passed: the platform waits 30 s for the container to answer on its health-check port and then rolls the deployment back. Common causes are the app listening on a different port than the one probed, a slow start (migrations, cache warm-up), or the app binding to 127.0.0.1 instead of 0.0.0.0. (Docs: Deployments > Health checks)"},\#
            {"role":"user","content":"It is a container that listens on port 8080. Can you check the last deployment of project atlas-web?"},\#
            {"role":"assistant","content":null,"tool_calls":[{"id":"call_7Qe2","type":"function","function":{"name":"get_deployment","arguments":"{\"project\":\"atlas-web\",\"region\":\"eu-west-2\",\"limit\":1}"}}]},\#
            {"role":"tool","tool_call_id":"call_7Qe2","content":"{\"id\":\"dep_8812\",\"project\":\"atlas-web\",\"status\":\"failed\",\"reason\":\"health check on port 80 timed out after 30s\",\"started_at\":\"2026-11-28T21:14:03Z\",\"image\":\"registry.acme.dev/atlas-web:4.12.1\"}"},\#
            {"role":"assistant","content":"The last deployment (dep_8812, image atlas-web:4.12.1) failed because the health check probed port 80 while your container listens on 8080. Set the health-check port to 8080 in the service settings or in acme.toml, then redeploy. (Docs: Deployments > Health checks > Ports)"},\#
            {"role":"user","content":"Thanks. How exactly do I change the port in acme.toml, and can you open a case for me if the next deployment fails too?"}],\#
            "tools":[\#
            {"type":"function","function":{"name":"get_deployment","description":"Returns the most recent deployments of a project in a region, newest first.","parameters":{"type":"object","properties":{"project":{"type":"string","description":"Project slug"},"region":{"type":"string","enum":["eu-west-1","eu-west-2","us-east-1","ap-south-1"]},"limit":{"type":"integer","minimum":1,"maximum":20}},"required":["project","region"],"additionalProperties":false},"strict":true}},\#
            {"type":"function","function":{"name":"open_support_case","description":"Opens a support case on behalf of the user and returns its public reference.","parameters":{"type":"object","properties":{"summary":{"type":"string","maxLength":200},"severity":{"type":"string","enum":["low","normal","high","urgent"]},"deployment_id":{"type":"string"}},"required":["summary","severity"],"additionalProperties":false},"strict":true}}],\#
            "tool_choice":"auto","parallel_tool_calls":false,"temperature":0.2,"top_p":0.9,"max_tokens":512,"user":"user-4411",\#
            "metadata":{"tenant":"acme","session":"s-5c1e0f"}}
            """#)

    /// A multimodal request for structured output: text and image parts (one inline,
    /// one by URL), a stop list and a `json_schema` response format.
    static let visionChatBody: ByteBuffer = {
        let image = String(repeating: "iVBORw0KGgoAAAANSUhEUgAA", count: 400)  // 9,600 base64 characters
        return ByteBuffer(
            string: #"{"model":"bench","messages":[{"role":"system","content":"Describe images as JSON."},"#
                + #"{"role":"user","content":[{"type":"text","text":"What is on these two pictures?"},"#
                + #"{"type":"image_url","image_url":{"url":"data:image/png;base64,\#(image)","detail":"low"}},"#
                + #"{"type":"image_url","image_url":{"url":"https://example.com/cat.jpg"}}]}],"#
                + #""stop":["\n\n","END"],"max_tokens":300,"#
                + #""response_format":{"type":"json_schema","json_schema":{"name":"scene","strict":true,"schema":"#
                + #"{"type":"object","properties":{"objects":{"type":"array","items":{"type":"string"}},"#
                + #""mood":{"type":"string","enum":["calm","busy"]}},"required":["objects","mood"],"additionalProperties":false}}}}"#)
    }()

    /// An Anthropic Messages request of a coding agent's kind: a system prompt with
    /// `cache_control`, eight tools with JSON Schemas, and a history with `tool_use` and
    /// `tool_result` blocks.
    static let anthropicAgentBody: ByteBuffer = {
        let tools = (1...8).map { n in
            #"{"name":"tool_\#(n)","description":"Runs step \#(n) of the workflow on the files given and returns what changed.","#
                + #""input_schema":{"type":"object","properties":{"path":{"type":"string","description":"A file path"},"#
                + #""mode":{"type":"string","enum":["read","write","append"]},"limit":{"type":"integer","minimum":1},"#
                + #""flags":{"type":"array","items":{"type":"string"}}},"required":["path"],"additionalProperties":false}}"#
        }
        let turns = (1...4).map { n in
            #"{"role":"assistant","content":[{"type":"text","text":"Reading the file now."},"#
                + #"{"type":"tool_use","id":"toolu_\#(n)","name":"tool_1","input":{"path":"src/main_\#(n).swift","mode":"read"}}]},"#
                + #"{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_\#(n)","content":"import Foundation\nlet x = \#(n)\nprint(x)\n"}]}"#
        }
        return ByteBuffer(
            string: #"{"model":"bench","max_tokens":4096,"stream":true,"#
                + #""system":[{"type":"text","text":"You are a careful coding agent. Use the tools to read and change files.","cache_control":{"type":"ephemeral"}}],"#
                + #""tools":[\#(tools.joined(separator: ","))],"#
                + #""messages":[{"role":"user","content":"Fix the failing build."},\#(turns.joined(separator: ","))]}"#)
    }()

    /// ``largeChatBody`` without its `tools` and `metadata`: the members whose values are
    /// decoded as untyped `JSONValue` trees (JSON schemas, free-form metadata).
    static let largeChatBodyWithoutUntypedMembers: ByteBuffer = largeChatBody.withUnsafeReadableBytes { raw in
        let members = try! JSONObjectRewriter.members(of: raw).filter { $0.key != "tools" && $0.key != "metadata" }
        var body = ByteBuffer(string: "{")
        for (index, member) in members.enumerated() {
            if index > 0 { body.writeString(",") }
            body.writeBytes(UnsafeRawBufferPointer(rebasing: raw[member.memberRange]))
        }
        body.writeString("}")
        return body
    }

    /// `bench/mock/chat_completion.json`: the non-streamed upstream answer (663 bytes).
    static let completionBody = ByteBuffer(bytes: load("chat_completion.json"))

    /// `bench/mock/chat_stream.sse`: 22 chunk events, a usage-only chunk and `data: [DONE]`.
    static let streamBody = ByteBuffer(bytes: load("chat_stream.sse"))

    /// ``streamBody`` cut after each event's blank line: what a paced upstream delivers,
    /// one event per read.
    static let streamEvents: [ByteBuffer] = {
        let bytes = load("chat_stream.sse")
        var events: [ByteBuffer] = []
        var start = 0
        var i = 0
        while i + 1 < bytes.count {
            if bytes[i] == UInt8(ascii: "\n") && bytes[i + 1] == UInt8(ascii: "\n") {
                events.append(ByteBuffer(bytes: bytes[start..<(i + 2)]))
                start = i + 2
                i = start
            } else {
                i += 1
            }
        }
        precondition(start == bytes.count && events.count == 24, "chat_stream.sse: expected 24 complete events")
        return events
    }()

    /// The `data:` payloads of the 23 JSON events (not `[DONE]`), as an SSE parser hands them on.
    static let streamEventData: [String] = streamEvents.compactMap { event in
        let text = String(buffer: event)
        guard text.hasPrefix("data: {") else { return nil }
        return String(text.dropFirst("data: ".count).dropLast(2))
    }

    /// `bench/mock/` of this repository, found from this file's path at build time.
    private static let mockDirectory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent()  // HotPaths
        .deletingLastPathComponent()  // Benchmarks (targets)
        .deletingLastPathComponent()  // Benchmarks (package)
        .deletingLastPathComponent()  // repository root
        .appendingPathComponent("bench/mock")

    private static func load(_ name: String) -> [UInt8] {
        let url = mockDirectory.appendingPathComponent(name)
        guard let data = FileManager.default.contents(atPath: url.path) else {
            fatalError("cannot read \(url.path): the benchmarks read the bench harness's canned upstream files")
        }
        return Array(data)
    }
}
