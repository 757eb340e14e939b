"""A small MCP Apps host for the confirmation card, run in a real headless Chromium: an HTML page that plays the
host's side of `postMessage` (it answers `ui/initialize`, sends the tool result, records the `tools/call` the
card makes) and reports what it saw into its own DOM, which Chromium dumps.

The card runs in an iframe with `allow-scripts allow-same-origin`, so that the page can press its buttons and
read its DOM, and so that a script smuggled in through platform text could reach the page (`parent.pwned`):
a harsher sandbox than any real host's.
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
        flags = [browser, "--headless", "--disable-gpu", "--no-first-run", "--virtual-time-budget=5000",
                 f"--user-data-dir={folder}/profile", "--window-size=640,390", "--hide-scrollbars"]  # fmt: skip
        if os.geteuid() == 0:  # Chromium refuses to run as root with its sandbox (CI runs as root)
            flags.append("--no-sandbox")
        dumped = subprocess.run([*flags, "--dump-dom", path.as_uri()], capture_output=True, text=True, timeout=120)
        if screenshot is not None:
            subprocess.run([*flags, f"--screenshot={screenshot}", path.as_uri()], capture_output=True, timeout=120)
    found = re.search(r'<pre id="report">(.*?)</pre>', dumped.stdout, re.S)
    if found is None:
        raise RuntimeError(f"Chromium printed no report: {dumped.stderr[-2000:]}")
    report: dict[str, Any] = json.loads(html.unescape(found.group(1)))
    return report
