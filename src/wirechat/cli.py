"""``wirechat``: serve, dev (reload on change), migrate, check-ws, codegen."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from pathlib import Path

from pydantic import ValidationError

from .allocator import use_malloc
from .config import Settings
from .logs import configure_logging

__all__ = ["main"]


def _settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        first = exc.errors()[0]
        name = str(first["loc"][0]).upper() if first["loc"] else "settings"
        print(f"wirechat: invalid setting {name}: {first['msg']}", file=sys.stderr)
        raise SystemExit(1) from None


def _run(coro_factory: object) -> int:
    try:
        import uvloop

        return uvloop.run(coro_factory)  # type: ignore[arg-type]
    except ImportError:  # pragma: no cover - uvloop is absent on Windows
        return asyncio.run(coro_factory)  # type: ignore[arg-type]


def cmd_serve(args: argparse.Namespace) -> int:
    from .server import StartupError, load_factory, serve

    settings = _settings()
    if args.dev:
        settings.dev_mode = True
    configure_logging(settings.log_level, settings.log_format)
    factory = load_factory(args.app) if args.app else None
    try:
        return _run(serve(settings, factory))
    except StartupError as exc:
        print(f"wirechat: {exc}", file=sys.stderr)
        return 1


def cmd_dev(args: argparse.Namespace) -> int:
    """Serve in development mode and restart whenever a source file changes."""
    import watchfiles

    source = Path(__file__).resolve().parent
    argv = ["-m", "wirechat", "serve", "--dev"] + (["--app", args.app] if args.app else [])
    print(f"wirechat: development mode, reloading on changes in {source}", file=sys.stderr)
    return watchfiles.run_process(
        source, target=f"{sys.executable} {' '.join(argv)}", target_type="command"
    )


def cmd_migrate(args: argparse.Namespace) -> int:
    from .db.migrate import upgrade
    from .db.session import default_sqlite_url

    settings = _settings()
    configure_logging(settings.log_level, settings.log_format)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    url = settings.database_url or default_sqlite_url(settings.data_dir)
    try:
        asyncio.run(upgrade(url))
    except Exception as exc:
        print(f"wirechat: migration failed ({exc}); check DATABASE_URL", file=sys.stderr)
        return 1
    print("wirechat: database is up to date", file=sys.stderr)
    return 0


def cmd_check_ws(args: argparse.Namespace) -> int:
    from .checkws import check_ws

    settings = _settings()
    url = args.url or f"ws://127.0.0.1:{settings.ws_port}/"
    return asyncio.run(check_ws(url))


DEFAULT_ROUTER = "wirechat.chat.routers:app_router"
DEFAULT_DECLARATION = "clients/ts/app-router.d.ts"


def cmd_codegen(args: argparse.Namespace) -> int:
    """Write (or with --check, compare) the TypeScript ``AppRouter`` declaration.

    Imports the router only: no database, broker or network is touched.
    """
    import difflib
    import importlib

    from .config import Settings
    from .rpc import Router
    from .rpc.codegen import declare_router

    transformer = args.transformer
    if transformer is None and "transformer" in Settings.model_fields:
        setting = getattr(_settings(), "transformer", None)
        transformer = str(getattr(setting, "value", setting) or "none").lower()
    module_name, _, attr = args.router.partition(":")
    try:
        target = getattr(importlib.import_module(module_name), attr or "app_router")
    except (ImportError, AttributeError) as exc:
        print(f"wirechat: cannot load the router {args.router} ({exc})", file=sys.stderr)
        return 2
    router = target if isinstance(target, Router) else target() if callable(target) else None
    if not isinstance(router, Router):
        print(f"wirechat: {args.router} is not a wirechat.rpc Router", file=sys.stderr)
        return 2
    declaration = declare_router(
        router,
        transformer="superjson" if transformer == "superjson" else None,
        source=args.router,
    )
    for warning in declaration.warnings:
        print(f"wirechat: warning: {warning} (typed unknown)", file=sys.stderr)
    out = Path(args.out)
    if args.check:
        current = out.read_text(encoding="utf-8") if out.exists() else ""
        if current == declaration.text:
            return 0
        diff = difflib.unified_diff(
            current.splitlines(keepends=True),
            declaration.text.splitlines(keepends=True),
            f"{out} (on disk)",
            f"{out} (generated)",
        )
        sys.stdout.writelines(diff)
        print(f"wirechat: {out} is stale; run `wirechat codegen`", file=sys.stderr)
        return 1
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(declaration.text, encoding="utf-8")
    print(f"wirechat: wrote {out}", file=sys.stderr)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="wirechat", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="serve HTTP on PORT and WebSocket on WS_PORT")
    serve.add_argument("--app", help="application factory as module:function")
    serve.add_argument("--dev", action="store_true", help="development mode (stack traces)")
    serve.set_defaults(func=cmd_serve)
    dev = sub.add_parser("dev", help="serve in development mode, reloading on code changes")
    dev.add_argument("--app", help="application factory as module:function")
    dev.set_defaults(func=cmd_dev)
    sub.add_parser("migrate", help="apply database migrations").set_defaults(func=cmd_migrate)
    check = sub.add_parser("check-ws", help="WebSocket upgrade and PING/PONG check")
    check.add_argument("url", nargs="?", help="ws:// URL (default: ws://127.0.0.1:WS_PORT/)")
    check.set_defaults(func=cmd_check_ws)
    codegen = sub.add_parser("codegen", help="write the TypeScript AppRouter type of a router")
    codegen.add_argument(
        "--router",
        default=DEFAULT_ROUTER,
        help=f"module:attribute, a Router or a function returning one (default: {DEFAULT_ROUTER})",
    )
    codegen.add_argument(
        "--out", default=DEFAULT_DECLARATION, help=f"default: {DEFAULT_DECLARATION}"
    )
    codegen.add_argument(
        "--transformer",
        choices=["none", "superjson"],
        help="the server's data transformer (default: the TRANSFORMER setting, else none)",
    )
    codegen.add_argument(
        "--check", action="store_true", help="exit 1 with a diff if the file is stale"
    )
    codegen.set_defaults(func=cmd_codegen)
    args = parser.parse_args(argv)
    if argv is None and args.func is cmd_serve:
        # From the command line only: a caller of main([...]) keeps its process.
        use_malloc()
    result: int = args.func(args)
    return result


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
