"""A small MCP Apps host for the confirmation card, run in a real headless Chromium: an HTML page that plays the
host's side of `postMessage` (it answers `ui/initialize`, sends the tool result, records the `tools/call` the
card makes) and reports what it saw into its own DOM, which Chromium dumps.

The card runs in an iframe with `allow-scripts allow-same-origin`, so that the page can press its buttons and
read its DOM, and so that a script smuggled in through platform text could reach the page (`parent.pwned`):
a harsher sandbox than any real host's.

`bridge_host_page` is a host built on the official `@modelcontextprotocol/ext-apps` AppBridge (from npm, bundled
for the browser with esbuild into a cache folder once per machine: `ext_apps_bridge`): it hands the card a
`hostContext` (theme, style variables, fonts), sends the tool result, a cancellation or a context change, and
looks at the card between the steps of a scenario, each wait with a budget that names what it waited for.
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

_PAGE = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>card host</title>
<style>body { margin: 0; background: #f4f4f5; font-family: sans-serif; }
iframe { width: 600px; height: 350px; border: 1px solid #d4d4d8; border-radius: 10px; margin: 16px;
         background: #fff; } pre { display: none; }</style></head>
<body>
<iframe id="card" sandbox="allow-scripts allow-same-origin"></iframe>
<pre id="report">pending</pre>
<script>
"use strict";
const RESULT = __RESULT__;
const PRESS = __PRESS__;
const frame = document.getElementById("card");
const report = { initialized: false, calls: [], pwned: false };
const post = (message) => frame.contentWindow.postMessage({ jsonrpc: "2.0", ...message }, "*");
window.addEventListener("message", (event) => {
  const m = event.data;
  if (event.source !== frame.contentWindow || !m || m.jsonrpc !== "2.0") return;
  if (m.method === "ui/initialize") {
    post({ id: m.id, result: { protocolVersion: "2026-01-26", hostCapabilities: { serverTools: {} },
                               hostInfo: { name: "card-host", version: "1" }, hostContext: { theme: "light" } } });
  } else if (m.method === "ui/notifications/initialized") {
    report.initialized = true;
    post({ method: "ui/notifications/tool-input", params: { arguments: {} } });
    post({ method: "ui/notifications/tool-result", params: RESULT });
    setTimeout(look, 200);
  } else if (m.method === "tools/call") {
    report.calls.push(m.params);
    post({ id: m.id, result: { content: [{ type: "text", text: "recorded by the test host" }] } });
    setTimeout(finish, 200);
  }
});
function look() {
  const doc = frame.contentDocument;
  const text = (id) => doc.getElementById(id).textContent;
  Object.assign(report, { title: text("title"), sizes: text("sizes"), quota: text("quota"),
    wayBack: text("way-back"), policy: text("policy"), state: text("state"),
    buttons: doc.getElementById("buttons").hidden ? [] :
      [...doc.querySelectorAll("#buttons button")].filter((b) => !b.hidden).map((b) => b.textContent),
    images: doc.querySelectorAll("img").length, scripts: doc.querySelectorAll("script").length });
  if (PRESS) doc.getElementById(PRESS).click(); else finish();
}
function finish() {
  report.pwned = window.pwned !== undefined || document.title !== "card host";
  document.getElementById("report").textContent = JSON.stringify(report);
}
frame.srcdoc = __CARD__;
</script>
</body></html>
"""


def chromium() -> str | None:
    """The Chromium on this machine (Debian's `chromium`, or Chrome); None when there is none."""
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        if found := shutil.which(name):
            return found
    return None


def host_page(card_html: str, result: dict[str, Any], press: str | None) -> str:
    """The host page with the card's HTML and the tool result (`CallToolResult` as JSON) it shows; `press`: the
    id of the button to press once the card has rendered (None: none)."""

    def script_json(value: object) -> str:  # inside <script>: no "</" can close it
        return json.dumps(value).replace("</", "<\\/")

    return (
        _PAGE.replace("__RESULT__", script_json(result))
        .replace("__PRESS__", script_json(press))
        .replace("__CARD__", script_json(card_html))
    )


def run_host(browser: str, page: str, *, screenshot: Path | None = None) -> dict[str, Any]:
    """Load the page in headless Chromium and return its report (with `screenshot`, also save a PNG)."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "host.html"
        path.write_text(page, encoding="utf-8")
        return load_page(browser, path.as_uri(), Path(folder), screenshot=screenshot)


CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--hide-scrollbars")  # fmt: skip
"""Headless, and quiet: nothing but the pages the tests load reaches the network. `--no-sandbox`: Chromium
refuses its sandbox as root (CI runs as root)."""


def load_page(
    browser: str,
    url: str,
    folder: Path,
    *,
    screenshot: Path | None = None,
    window: tuple[int, int] = (640, 390),
    budget_ms: int = 10_000,
) -> dict[str, Any]:
    """Load `url` in headless Chromium (profile in `folder`) and return the JSON the page left in its
    `<pre id="report">` once `budget_ms` of the page's (virtual) time had passed; with `screenshot`, load it
    again and save a PNG. Chromium gets two minutes of real time for each."""
    flags = [browser, *CHROMIUM_FLAGS, f"--virtual-time-budget={budget_ms}", f"--user-data-dir={folder}/profile",
             f"--window-size={window[0]},{window[1]}"]  # fmt: skip
    dumped = subprocess.run([*flags, "--dump-dom", url], capture_output=True, text=True, timeout=120)
    if screenshot is not None:
        subprocess.run([*flags, f"--screenshot={screenshot}", url], capture_output=True, timeout=120, check=True)
    found = re.search(r'<pre id="report">(.*?)</pre>', dumped.stdout, re.S)
    if found is None:
        raise RuntimeError(f"Chromium printed no report for {url}: {dumped.stderr[-2000:]}")
    report: dict[str, Any] = json.loads(html.unescape(found.group(1)))
    return report


EXT_APPS_PACKAGES = {
    "@modelcontextprotocol/ext-apps": "2.0.4",
    "@modelcontextprotocol/client": "2.4.0",  # ext-apps' peers: the TypeScript SDK v2 and zod
    "@modelcontextprotocol/core": "2.4.0",
    "zod": "4.6.7",
    "esbuild": "0.28.2",  # bundles the AppBridge for the browser
}
"""The npm packages of the AppBridge host, at exact versions (their own dependencies as npm resolves them)."""
_BRIDGE_ENTRY = 'export { AppBridge, PostMessageTransport } from "@modelcontextprotocol/ext-apps/app-bridge";\n'


class HostUnavailable(Exception):
    """What the AppBridge host needs is not on this machine (the message says what): the test skips."""


def ext_apps_cache() -> Path:
    """Where the bundled AppBridge is kept: the user's cache folder, one subfolder per set of versions."""
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    versions = "-".join(v for v in EXT_APPS_PACKAGES.values())
    return base / "scp-volume-mcp" / f"ext-apps-bridge-{versions}"


def ext_apps_bridge() -> Path:
    """`bridge.js`: the official AppBridge and PostMessageTransport as one browser script (`window.ExtApps`).

    Made once per machine: `npm install` of `EXT_APPS_PACKAGES` from the npm registry into a scratch folder, then
    esbuild; only the bundle, `package.json` and npm's lock of what it installed are kept. Raises
    `HostUnavailable` when Node.js or npm is absent, RuntimeError when npm or esbuild fails."""
    final = ext_apps_cache()
    if (final / "bridge.js").is_file():
        return final / "bridge.js"
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        raise HostUnavailable("Node.js and npm are not installed: the AppBridge host (npm packages) cannot be built")
    final.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=final.parent, prefix=".building-") as folder:
        work = Path(folder)
        package = {"name": "scp-volume-mcp-card-host", "private": True, "dependencies": EXT_APPS_PACKAGES}
        (work / "package.json").write_text(json.dumps(package, indent=2) + "\n", encoding="utf-8")
        (work / "entry.mjs").write_text(_BRIDGE_ENTRY, encoding="utf-8")
        steps = [
            [npm, "install", "--no-audit", "--no-fund", "--loglevel=error"],
            [str(work / "node_modules" / ".bin" / "esbuild"), "entry.mjs", "--bundle",
             "--format=iife", "--global-name=ExtApps", "--platform=browser", "--minify", "--log-level=error",
             "--outfile=bridge.js"],
        ]  # fmt: skip
        for step in steps:
            done = subprocess.run(step, cwd=work, capture_output=True, text=True, timeout=600)
            if done.returncode != 0:
                said = (done.stderr or done.stdout)[-2000:]
                raise RuntimeError(f"{Path(step[0]).name} {step[1]} failed in {work}: {said}")
        shutil.rmtree(work / "node_modules")
        (work / "entry.mjs").unlink()
        try:
            work.rename(final)  # atomic: a run beside this one either finds the whole folder or none
        except OSError:
            if not (final / "bridge.js").is_file():
                raise
        else:
            work.mkdir()  # for TemporaryDirectory's clean-up
    return final / "bridge.js"


WAITING = "Waiting for the plan…"
"""What the card shows until the host sends it a result."""

_BRIDGE_PAGE = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>AppBridge card host</title>
<style>body { margin: 0; font-family: sans-serif; background: #f4f4f5; }
body.dark { background: #09090b; }
iframe { display: block; width: 600px; height: 360px; border: 1px solid #d4d4d8; border-radius: 10px; margin: 16px; }
body.dark iframe { border-color: #3f3f46; } pre { display: none; }</style>
<script src="bridge.js"></script></head>
<body>
<iframe id="card" sandbox="allow-scripts allow-same-origin"></iframe>
<pre id="report">pending</pre>
<script>
"use strict";
const SCENARIO = __SCENARIO__;
const CARD = __CARD__;
const WAITING = __WAITING__;
const BUDGET_MS = 3000;
const frame = document.getElementById("card");
const report = { initialized: false, appInfo: null, calls: [], looks: {}, failed: null };
const doc = () => frame.contentDocument;
const text = (id) => doc().getElementById(id).textContent;
function look() {
  const d = doc();
  const body = d.defaultView.getComputedStyle(d.body);
  const status = d.getElementById("status");
  return { title: text("title"), sizes: text("sizes"), status: status.textContent, statusClass: status.className,
    buttons: [...d.querySelectorAll("#buttons button")].filter(seen).map((b) => b.textContent),
    background: body.backgroundColor, color: body.color, font: body.fontFamily,
    theme: d.documentElement.dataset.theme || null,
    hostFonts: (d.getElementById("host-fonts") || {}).textContent || null };
}
function seen(element) {  // rendered, as a person would see it (not merely without the hidden attribute)
  const style = element.ownerDocument.defaultView.getComputedStyle(element);
  return element.getClientRects().length > 0 && style.visibility !== "hidden";
}
function luminance(color) {
  const [r, g, b] = (color.match(/[0-9.]+/g) || [255, 255, 255]).map(Number);
  return (0.2126 * r + 0.7152 * g + 0.0722 * b) / 255;
}
const CONDITIONS = {
  "the plan on the card": () => text("sizes") !== WAITING,
  "the card to settle (no buttons, a reason)": () => !seen(doc().getElementById("buttons")) && text("status") !== "",
  "the card's tools/call": () => report.calls.length > 0,
  "a dark card": () => luminance(look().background) < 0.3,
  "a light card": () => luminance(look().background) > 0.7,
};
function until(name) {
  const met = CONDITIONS[name];
  const start = performance.now();
  return new Promise((resolve, reject) => {
    (function poll() {
      if (met()) resolve();
      else if (performance.now() - start > BUDGET_MS) {
        reject(new Error("waited " + BUDGET_MS + " ms for " + name + "; the card showed " + JSON.stringify(look())));
      } else setTimeout(poll, 10);
    })();
  });
}
function theme(context) { if (context && context.theme) document.body.className = context.theme; }
const bridge = new ExtApps.AppBridge(null, { name: "scp-volume-mcp test host", version: "1" }, { serverTools: {} },
                                     { hostContext: SCENARIO.hostContext });
bridge.oncalltool = async (params) => { report.calls.push(params); return SCENARIO.callResult; };
bridge.onsizechange = ({ height }) => { if (height) frame.style.height = Math.min(height, 360) + "px"; };
bridge.oninitialized = () => {
  report.initialized = true;
  report.appInfo = bridge.getAppVersion() || null;
  run().catch((error) => { report.failed = String(error && error.message || error); finish(); });
};
async function run() {
  for (const step of SCENARIO.steps) {
    if ("input" in step) await bridge.sendToolInput({ arguments: step.input });
    else if ("result" in step) await bridge.sendToolResult(step.result);
    else if ("cancel" in step) await bridge.sendToolCancelled(step.cancel === null ? {} : { reason: step.cancel });
    else if ("context" in step) { theme(step.context); await bridge.sendHostContextChange(step.context); }
    else if ("press" in step) doc().getElementById(step.press).click();
    else if ("until" in step) await until(step.until);
    else if ("look" in step) report.looks[step.look] = look();
  }
  finish();
}
function finish() { document.getElementById("report").textContent = JSON.stringify(report); }
theme(SCENARIO.hostContext);
bridge.connect(new ExtApps.PostMessageTransport(frame.contentWindow, frame.contentWindow)).then(() => {
  frame.srcdoc = CARD;  // the card starts (and sends ui/initialize) only once the bridge listens
}, (error) => { report.failed = "the AppBridge did not connect: " + error; finish(); });
</script>
</body></html>
"""


def bridge_host_page(card_html: str, scenario: dict[str, Any]) -> str:
    """The AppBridge host page for the card. `scenario`: `hostContext` (what `ui/initialize` answers),
    `callResult` (what the host answers to the card's `tools/call`, which it records in `calls`), and `steps`, in
    order: `{"input": {...}}`, `{"result": CallToolResult}`, `{"cancel": reason or None}`, `{"context": {...}}`
    (host-context-changed), `{"press": button id}`, `{"until": one of the page's CONDITIONS}` (3 s of page time
    at most, then `failed` says what it waited for and what the card showed), `{"look": name}` (the card's texts,
    buttons, computed colours and font into `looks[name]`)."""

    def script_json(value: object) -> str:  # inside <script>: no "</" can close it
        return json.dumps(value).replace("</", "<\\/")

    return (
        _BRIDGE_PAGE.replace("__SCENARIO__", script_json(scenario))
        .replace("__CARD__", script_json(card_html))
        .replace("__WAITING__", script_json(WAITING))
    )


def run_bridge_host(
    browser: str, bridge: Path, page: str, *, screenshot: Path | None = None, window: tuple[int, int] = (640, 400)
) -> dict[str, Any]:
    """Load the AppBridge host page (beside a copy of `bridge.js`) in headless Chromium; its report."""
    with tempfile.TemporaryDirectory() as folder:
        shutil.copyfile(bridge, Path(folder) / "bridge.js")
        path = Path(folder) / "host.html"
        path.write_text(page, encoding="utf-8")
        return load_page(browser, path.as_uri(), Path(folder), screenshot=screenshot, window=window)


HOST_FONT = "@font-face { font-family: 'Host Sans'; src: local('DejaVu Sans'), local('Liberation Sans'); }"
"""The test host's font CSS (`styles.css.fonts`): a font face from the machine, so nothing is fetched."""
HOST_VARIABLES = {
    "--color-background-primary": "light-dark(#ffffff, #1f1f23)",
    "--color-background-tertiary": "light-dark(#e4e4e7, #3f3f46)",
    "--color-text-primary": "light-dark(#18181b, #f4f4f5)",
    "--color-text-secondary": "light-dark(#52525b, #a1a1aa)",
    "--color-text-inverse": "light-dark(#ffffff, #18181b)",
    "--color-text-info": "light-dark(#1d4ed8, #93c5fd)",
    "--color-text-warning": "light-dark(#a16207, #fcd34d)",
    "--color-text-danger": "light-dark(#b91c1c, #fca5a5)",
    "--color-border-primary": "light-dark(#d4d4d8, #52525b)",
    "--font-sans": "'Host Sans', sans-serif",
    "--border-radius-md": "8px",
}
"""The test host's style variables, in the spec's names, with `light-dark()` values as the spec advises hosts."""


def host_context(theme: str, *, styled: bool = True) -> dict[str, Any]:
    """What the test host answers at `ui/initialize`: its theme, and (`styled`) its variables and font."""
    if not styled:
        return {"theme": theme, "platform": "web", "displayMode": "inline"}
    styles = {"variables": HOST_VARIABLES, "css": {"fonts": HOST_FONT}}
    return {"theme": theme, "styles": styles, "platform": "web", "displayMode": "inline"}


def plan_scenario(theme: str, result: dict[str, Any]) -> dict[str, Any]:
    """The card shows `result` (a plan) in a host with `theme`, and is looked at (`looks["plan"]`)."""
    steps = [{"input": {}}, {"result": result}, {"until": "the plan on the card"}, {"look": "plan"}]
    return {"hostContext": host_context(theme), "callResult": {"content": []}, "steps": steps}


async def take_screenshots(folder: Path) -> list[Path]:
    """The docs' pictures of the card (card-light.png, card-dark.png): a real plan from an emulator, in the
    AppBridge host, light and dark."""
    from mcp import Client

    from scp_volume_mcp.emulator import EmulatorServer
    from scp_volume_mcp.mcp_tools.card import CARD_URI
    from scp_volume_mcp.scp import EXAMPLE_VOLUME_ID
    from scp_volume_mcp.server import build_server
    from scp_volume_mcp.settings import ServerSettings

    from .mcp_helpers import client_factory
    from .mcp_server.test_card import AppsHost

    browser = chromium()
    if browser is None:
        raise HostUnavailable("Chromium is not installed (Debian: apt-get install chromium)")
    bridge = ext_apps_bridge()
    with EmulatorServer() as emulator:
        server = build_server(ServerSettings(audit_log=None), client_factory(emulator))
        async with Client(server, extensions=[AppsHost()]) as client:
            plan = await client.call_tool("plan_volume_extension", {"volume_id": EXAMPLE_VOLUME_ID, "new_size_gb": 256})
            card = getattr((await client.read_resource(CARD_URI)).contents[0], "text", "")
    result = plan.model_dump(mode="json", by_alias=True, exclude_none=True)
    shots = []
    for theme in ("light", "dark"):
        shot = folder / f"card-{theme}.png"
        report = run_bridge_host(browser, bridge, bridge_host_page(card, plan_scenario(theme, result)), screenshot=shot)
        if report["failed"] or not report["looks"]["plan"]["buttons"]:
            raise RuntimeError(f"the {theme} card did not render its plan: {report}")
        shots.append(shot)
    return shots


if __name__ == "__main__":  # python -m tests.card_host docs
    import sys

    import anyio

    for taken in anyio.run(take_screenshots, Path(sys.argv[1] if len(sys.argv) > 1 else "docs")):
        print(f"card-host: {taken}")
