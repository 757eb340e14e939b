// Calls tools as a host built on the TypeScript SDK does, and prints what its user would see.
//
//   node call_tools.mjs <v1|v2> <spec.json>
//
// v1: `@modelcontextprotocol/sdk` 1.x; v2: `@modelcontextprotocol/client` 2.x. Both must resolve from this
// script's folder (tests/test_ts_clients.py copies it beside a node_modules it installed).
// spec: {"stdio": {"command", "args", "env"}} or {"url"}, and "calls": [{"case", "name", "arguments"}].
// Prints one JSON line per call: {"case", "is_error", "text", "structured", "thrown"}; `thrown` is the message
// of what callTool threw (a host shows that instead of the result).
import { readFileSync } from "node:fs";

const [sdk, specPath] = process.argv.slice(2);
const spec = JSON.parse(readFileSync(specPath, "utf8"));

let Client, StdioClientTransport, StreamableHTTPClientTransport;
if (sdk === "v1") {
  ({ Client } = await import("@modelcontextprotocol/sdk/client/index.js"));
  ({ StdioClientTransport } = await import("@modelcontextprotocol/sdk/client/stdio.js"));
  ({ StreamableHTTPClientTransport } = await import("@modelcontextprotocol/sdk/client/streamableHttp.js"));
} else if (sdk === "v2") {
  ({ Client, StreamableHTTPClientTransport } = await import("@modelcontextprotocol/client"));
  ({ StdioClientTransport } = await import("@modelcontextprotocol/client/stdio"));
} else {
  throw new Error(`unknown SDK ${sdk}: v1 or v2`);
}

const transport = spec.url
  ? new StreamableHTTPClientTransport(new URL(spec.url))
  : new StdioClientTransport({ ...spec.stdio, stderr: "ignore" });
// No elicitation capability: a host that cannot ask its user.
const client = new Client({ name: `ts-sdk-${sdk}-test`, version: "1.0.0" }, { capabilities: {} });
await client.connect(transport);
await client.listTools(); // as a host does: it is also where the client learns each tool's output schema

for (const call of spec.calls) {
  const line = { case: call.case, is_error: null, text: null, structured: null, thrown: null };
  try {
    const result = await client.callTool({ name: call.name, arguments: call.arguments });
    line.is_error = result.isError ?? false;
    line.text = (result.content ?? []).map((block) => block.text ?? "").join("\n");
    line.structured = result.structuredContent ?? null;
  } catch (error) {
    line.thrown = error instanceof Error ? error.message : String(error);
  }
  process.stdout.write(`${JSON.stringify(line)}\n`);
}
await client.close();
