import HTTPTypes
import Hummingbird
import NIOCore

/// `GET /openapi.json` (the OpenAPI 3.1 document of the whole surface) and `GET /docs`
/// (a self-contained page rendering it): no key needed, as DESIGN.md §5 says.
struct DocsRoutes {
    /// The page loads nothing from elsewhere: its script and style are inline, and it
    /// only fetches `/openapi.json` from this origin.
    static let pageHeaders: HTTPFields = [
        .contentType: "text/html; charset=utf-8",
        .contentSecurityPolicy:
            "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
        HTTPField.Name("X-Content-Type-Options")!: "nosniff",
        HTTPField.Name("X-Frame-Options")!: "DENY",
        HTTPField.Name("Referrer-Policy")!: "no-referrer",
        .cacheControl: "no-cache",
    ]

    func register(on router: Router<GatewayRequestContext>) {
        let document = ByteBuffer(string: OpenAPIDocument.json)
        let page = ByteBuffer(string: DocsPage.html)
        router.get("/openapi.json") { _, _ in
            Response(
                status: .ok,
                headers: [.contentType: "application/json", HTTPField.Name("X-Content-Type-Options")!: "nosniff", .cacheControl: "no-cache"],
                body: ResponseBody(byteBuffer: document))
        }
        router.get("/docs") { _, _ in
            Response(status: .ok, headers: Self.pageHeaders, body: ResponseBody(byteBuffer: page))
        }
    }
}
