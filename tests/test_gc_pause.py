"""The garbage collector is paused while a command starts, and running again, start-up frozen, when it serves."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from scp_volume_mcp import gc_pause, http_transport
from scp_volume_mcp.cli import main


@pytest.fixture(autouse=True)
def collector_as_found() -> Iterator[None]:
    enabled = gc.isenabled()
    yield
    gc.unfreeze()
    (gc.enable if enabled else gc.disable)()


@pytest.fixture
def configured(monkeypatch: pytest.MonkeyPatch) -> None:
    """Enough configuration for `serve` to build its server (nothing is sent: the endpoint is never called)."""
    monkeypatch.setenv("SCP_ACCESS_KEY", "access-key-for-a-test")
    monkeypatch.setenv("SCP_SECRET_KEY", "secret-key-for-a-test")
    monkeypatch.setenv("SCP_ENDPOINT", "http://127.0.0.1:9")
    monkeypatch.setenv("SCP_AUDIT_LOG", "off")


@pytest.mark.usefixtures("configured")
def test_stdio_serves_with_the_collector_running_and_start_up_frozen(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, Any] = {}

    def serving(server: Any, gate: Any, grace_s: float) -> None:
        seen.update(enabled=gc.isenabled(), frozen=gc.get_freeze_count(), tools=len(server._tool_manager.list_tools()))

    monkeypatch.setattr(http_transport, "run_stdio", serving)
    gc.unfreeze()
    assert main(["serve"]) == 0
    assert seen["tools"] >= 4  # the server was built before it served
    assert seen["enabled"] is True
    assert seen["frozen"] > 0


@pytest.mark.usefixtures("configured")
def test_the_collector_is_paused_until_the_server_is_built(monkeypatch: pytest.MonkeyPatch) -> None:
    from scp_volume_mcp import server

    built = server.build_server
    while_building: list[bool] = []

    def watched_build(*args: Any, **kwargs: Any) -> Any:
        while_building.append(gc.isenabled())
        return built(*args, **kwargs)

    monkeypatch.setattr(server, "build_server", watched_build)
    monkeypatch.setattr(http_transport, "run_stdio", lambda *args: None)
    assert main(["serve"]) == 0
    assert while_building == [False]
    assert gc.isenabled()


def test_every_other_command_runs_with_the_collector_on(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "audit.jsonl").write_text("")
    monkeypatch.setenv("SCP_AUDIT_LOG", str(tmp_path / "audit.jsonl"))
    monkeypatch.delenv("SCP_DATABASE_URL", raising=False)
    from scp_volume_mcp.audit import command

    during: list[bool] = []
    real = command.run_audit

    def watched(**kwargs: Any) -> int:
        during.append(gc.isenabled())
        return real(**kwargs)

    monkeypatch.setattr(command, "run_audit", watched)
    assert main(["audit"]) == 0
    assert during == [True]
    assert gc.isenabled()


def test_a_refused_start_leaves_the_collector_on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCP_CONFIRMATION", "sometimes")  # not a policy: serve refuses to start
    assert main(["serve"]) == 2
    assert gc.isenabled()


def test_a_collector_someone_else_disabled_stays_disabled() -> None:
    gc.unfreeze()
    gc.disable()
    gc_pause.pause()
    gc_pause.resume(freeze=True)
    assert not gc.isenabled()
    assert gc.get_freeze_count() == 0  # nothing of theirs was frozen either


@pytest.mark.usefixtures("configured")
def test_http_serves_with_the_collector_running_and_start_up_frozen(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[tuple[bool, int]] = []

    def serving(*args: Any, **kwargs: Any) -> int:
        seen.append((gc.isenabled(), gc.get_freeze_count()))
        return 0

    monkeypatch.setattr(http_transport, "_run_http", serving)
    gc.unfreeze()
    assert main(["serve", "--transport", "http", "--no-auth"]) == 0
    [(enabled, frozen)] = seen
    assert enabled is True
    assert frozen > 0


@pytest.mark.parametrize("argv", [["--version"], ["serve", "--help"], ["serve", "--port", "not-a-port"]])
def test_the_collector_is_on_after_the_parser_exits(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    gc.unfreeze()
    with pytest.raises(SystemExit):
        main(argv)
    assert gc.isenabled()
    assert gc.get_freeze_count() == 0  # nothing is frozen by a command that never served
