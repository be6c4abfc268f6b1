"""The generated ``AppRouter`` under the TypeScript compiler, as a front end uses it.

``client.ts`` and ``react-query.ts`` call every chat procedure through
``createTRPCClient`` and ``createTRPCContext`` with type assertions
(``tsc --strict``, ``skipLibCheck`` off, bundler resolution); ``mistakes.ts``
must fail exactly where it is wrong; the superjson flavour must give ``Date``s and
insist on the transformer. Pinned toolchain: ``tests/typescript/package-lock.json``.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from support.node import node_modules as install_node_modules
from wirechat.chat.routers import app_router
from wirechat.rpc.codegen import declare_router

pytestmark = pytest.mark.node

HERE = Path(__file__).resolve().parent
TSC_TIMEOUT = 300
ERROR = re.compile(r"^(?P<file>[^\s(]+)\((?P<line>\d+),\d+\): error (?P<code>TS\d+): ", re.M)
MARKER = re.compile(r"// expect-error (TS\d+)$")

# The mistakes and the error each must give (mistakes.ts marks the same lines).
MISTAKES = [
    ("mistakes.ts", 13, "TS2561"),  # misspelt input field: did you mean 'text'?
    ("mistakes.ts", 14, "TS2353"),  # unknown input field
    ("mistakes.ts", 16, "TS2345"),  # required input field missing
    ("mistakes.ts", 18, "TS2322"),  # input field of the wrong type
    ("mistakes.ts", 20, "TS2554"),  # input left out where one is required
    ("mistakes.ts", 23, "TS2339"),  # output property that does not exist
    ("mistakes.ts", 24, "TS2322"),  # output time read as a Date without superjson
    ("mistakes.ts", 26, "TS2339"),  # mutation called as a query
    ("mistakes.ts", 27, "TS2339"),  # query called as a mutation
    ("mistakes.ts", 28, "TS2339"),  # query subscribed to
    ("mistakes.ts", 30, "TS2339"),  # procedure that does not exist
    ("mistakes.ts", 33, "TS2339"),  # react-query: queryOptions on a mutation
    ("mistakes.ts", 34, "TS2339"),  # react-query: subscriptionOptions on a query
    ("mistakes.ts", 35, "TS2769"),  # react-query: unknown input field
]


@pytest.fixture(scope="module")
def tsc() -> Path:
    return install_node_modules(HERE) / ".bin" / "tsc"


def compile_project(tsc: Path, project: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(tsc), "-p", str(project)],
        cwd=project.parent,
        capture_output=True,
        text=True,
        timeout=TSC_TIMEOUT,
    )


def errors(output: str) -> list[tuple[str, int, str]]:
    return [(m["file"], int(m["line"]), m["code"]) for m in ERROR.finditer(output)]


def marked(path: Path) -> list[tuple[str, int, str]]:
    lines = path.read_text().splitlines()
    return [
        (path.name, number, found[1])
        for number, line in enumerate(lines, 1)
        if (found := MARKER.search(line))
    ]


def test_every_chat_procedure_type_checks_through_the_client_and_react_query(tsc: Path) -> None:
    result = compile_project(tsc, HERE / "tsconfig.json")
    assert (result.returncode, result.stdout) == (0, ""), result.stdout + result.stderr


def test_fixtures_call_every_chat_procedure() -> None:
    vanilla = (HERE / "client.ts").read_text()
    react = (HERE / "react-query.ts").read_text()
    for path in app_router:
        assert re.search(rf"\b(ws)?[cC]lient\.{re.escape(path)}\.", vanilla), path
        assert f"trpc.{path}." in react, path


def test_mistakes_fail_with_the_expected_errors_and_nothing_else(tsc: Path) -> None:
    result = compile_project(tsc, HERE / "tsconfig.mistakes.json")
    assert result.returncode != 0
    assert errors(result.stdout) == MISTAKES, result.stdout
    assert marked(HERE / "mistakes.ts") == MISTAKES


def test_superjson_declaration_gives_dates_and_requires_the_transformer(
    tsc: Path, tmp_path: Path
) -> None:
    declaration = declare_router(app_router, transformer="superjson")
    (tmp_path / "app-router.d.ts").write_text(declaration.text)
    for name in ("superjson.ts", "expect.ts", "tsconfig.base.json"):
        shutil.copy(HERE / name, tmp_path / name)
    (tmp_path / "tsconfig.json").write_text(
        '{"extends": "./tsconfig.base.json", "files": ["superjson.ts"]}\n'
    )
    (tmp_path / "node_modules").symlink_to(tsc.parent.parent, target_is_directory=True)
    result = compile_project(tsc, tmp_path / "tsconfig.json")
    # The one error is the client built without the transformer.
    assert errors(result.stdout) == marked(HERE / "superjson.ts"), result.stdout
    assert len(marked(HERE / "superjson.ts")) == 1
