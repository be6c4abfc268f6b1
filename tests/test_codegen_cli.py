"""``wirechat codegen``: writes, checks and selects the router without a database."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from wirechat.config import Settings

ROOT = Path(__file__).resolve().parents[1]
WIRECHAT = Path(sys.executable).parent / "wirechat"

ZOO = """
from pydantic import BaseModel

from wirechat.rpc import init_rpc


class Point(BaseModel):
    x: int
    y: float | None = None


t = init_rpc(object)


async def where(ctx: object, input: Point) -> Point:
    return input


async def blob(ctx: object, input: None) -> bytes:
    return b""


def build():
    return t.router({"where": t.procedure.input(Point).query(where),
                     "blob": t.procedure.query(blob)})
"""


def codegen(
    *args: str, cwd: Path, module: bool = False, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "wirechat"] if module else [str(WIRECHAT)]
    # Nothing from the caller's environment: no DATABASE_URL, REDIS_URL or TRANSFORMER.
    base = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(cwd), "HOME": str(cwd)}
    return subprocess.run(
        [*command, "codegen", *args],
        cwd=cwd,
        env={**base, **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_default_writes_the_chat_declaration_without_a_database(tmp_path: Path) -> None:
    result = codegen(cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    written = tmp_path / "clients/ts/app-router.d.ts"
    assert written.read_text() == (ROOT / "clients/ts/app-router.d.ts").read_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clients"]  # no data dir, no db


def test_check_passes_on_a_fresh_file_and_fails_with_a_diff_when_stale(tmp_path: Path) -> None:
    out = tmp_path / "types.d.ts"
    assert codegen("--out", str(out), cwd=tmp_path, module=True).returncode == 0
    assert codegen("--out", str(out), "--check", cwd=tmp_path).returncode == 0
    out.write_text(out.read_text().replace("displayName: string;", "displayName: number;", 1))
    stale = codegen("--out", str(out), "--check", cwd=tmp_path)
    assert stale.returncode == 1
    assert "-  displayName: number;\n+  displayName: string;\n" in stale.stdout
    assert f"{out} is stale" in stale.stderr


def test_check_fails_when_the_file_is_missing(tmp_path: Path) -> None:
    result = codegen("--out", str(tmp_path / "absent.d.ts"), "--check", cwd=tmp_path)
    assert result.returncode == 1
    assert "+export type AppRouter = TRPCBuiltRouter<" in result.stdout


def test_router_option_selects_a_factory_and_warns_about_untypable_procedures(
    tmp_path: Path,
) -> None:
    (tmp_path / "zoo_app.py").write_text(ZOO)
    out = tmp_path / "zoo.d.ts"
    result = codegen("--router", "zoo_app:build", "--out", str(out), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "warning: blob output: bytes cannot be typed for a client (typed unknown)" in (
        result.stderr
    )
    text = out.read_text()
    # Sent with every field, taken with defaults left out: two shapes of one model.
    assert "export interface PointInput {\n  x: number;\n  y?: number | null;\n}" in text
    assert "export interface PointOutput {\n  x: number;\n  y: number | null;\n}" in text
    assert "from zoo_app:build." in text


@pytest.mark.parametrize("spec", ["no_such_module:router", "wirechat.cli:main_absent"])
def test_router_that_cannot_be_loaded_is_a_clear_error(tmp_path: Path, spec: str) -> None:
    result = codegen("--router", spec, cwd=tmp_path)
    assert result.returncode == 2
    assert f"cannot load the router {spec}" in result.stderr


@pytest.mark.skipif("transformer" not in Settings.model_fields, reason="no TRANSFORMER setting yet")
def test_transformer_setting_selects_the_flavour_unless_the_flag_says_otherwise(
    tmp_path: Path,
) -> None:
    out = tmp_path / "types.d.ts"
    env = {"TRANSFORMER": "superjson"}
    assert codegen("--out", str(out), cwd=tmp_path, env=env).returncode == 0
    assert "transformer: true;" in out.read_text()
    flag = codegen("--transformer", "none", "--out", str(out), cwd=tmp_path, env=env)
    assert flag.returncode == 0
    assert "transformer: false;" in out.read_text()


def test_superjson_transformer_flag(tmp_path: Path) -> None:
    out = tmp_path / "sj.d.ts"
    assert codegen("--transformer", "superjson", "--out", str(out), cwd=tmp_path).returncode == 0
    assert "transformer: true;" in out.read_text()
