"""Assembly of the chat application: what it opens it closes, in order, also when
start-up fails half-way; and it sits below the server (no import back up)."""

from __future__ import annotations

import ast
import sqlite3
import threading
from pathlib import Path

import pytest

import wirechat.chat
from wirechat.application import Application, StartupError
from wirechat.chat.app import build_application
from wirechat.config import Settings

SECRET = "assembly-test-secret-0123456789abcdef"


def _checkpointers() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "sqlite-checkpoint"]


def _settings(tmp_path: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "data_dir": tmp_path,
        "database_url": f"sqlite:///{tmp_path / 'chat.db'}",
        "jwt_secret": SECRET,
        "redis_url": None,
        **overrides,
    }
    return Settings(**values)  # type: ignore[arg-type]


async def test_the_application_closes_everything_it_opened(tmp_path: Path) -> None:
    before = len(_checkpointers())
    application = await build_application(_settings(tmp_path))
    assert isinstance(application, Application)
    assert len(_checkpointers()) == before + 1
    assert await application.ready_checks["database"]()
    assert await application.ready_checks["broker"]()
    await application.aclose()
    assert len(_checkpointers()) == before
    # The last checkpoint ran with every connection closed: the WAL is empty.
    wal = tmp_path / "chat.db-wal"
    assert not wal.exists() or wal.stat().st_size == 0
    conn = sqlite3.connect(tmp_path / "chat.db")
    assert conn.execute("SELECT count(*) FROM users").fetchone() == (0,)
    conn.close()


async def test_a_failure_half_way_closes_what_was_opened(tmp_path: Path) -> None:
    before = len(_checkpointers())
    with pytest.raises(StartupError, match="REDIS_URL"):
        await build_application(_settings(tmp_path, redis_url="http://not-redis"))
    assert len(_checkpointers()) == before


async def test_an_unusable_database_is_a_startup_error_naming_the_setting(
    tmp_path: Path,
) -> None:
    with pytest.raises(StartupError, match="DATABASE_URL") as caught:
        await build_application(
            _settings(tmp_path, database_url="postgresql://user:secret@127.0.0.1:1/none")
        )
    assert "secret" not in str(caught.value)


def test_no_module_of_the_chat_imports_the_server() -> None:
    root = Path(wirechat.chat.__file__).parent
    offenders = []
    for path in root.rglob("*.py"):
        package = ["wirechat", *path.relative_to(root.parent).parent.parts]
        for node in ast.walk(ast.parse(path.read_text())):
            names: list[str] = []
            if isinstance(node, ast.ImportFrom):
                base = package[: len(package) - node.level + 1] if node.level else []
                module = ".".join([*base, *([node.module] if node.module else [])])
                names = [module, *(f"{module}.{a.name}" for a in node.names)]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            if any(n == "wirechat.server" or n.startswith("wirechat.server.") for n in names):
                offenders.append(str(path.relative_to(root)))
    assert offenders == []
