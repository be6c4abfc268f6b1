"""The TypeScript generator on a zoo router: each kind of type, what it emits, and tsc's view.

Mirrors ``src/wirechat/rpc/codegen/``; the chat's own declaration is checked in
``tests/chat/test_app_router_types.py`` and under Node in ``tests/typescript/``.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from support.node import node_modules
from wirechat.rpc import Router, init_rpc
from wirechat.rpc.codegen import declare_router

from .codegen_zoo import zoo_router

TS_DIR = Path(__file__).resolve().parents[1] / "typescript"

PLAIN = declare_router(zoo_router, source="tests.rpc.codegen_zoo:zoo_router")
SUPERJSON = declare_router(zoo_router, transformer="superjson")


def procedure(text: str, path: str) -> str:
    """The ``input``/``output`` lines declared for the procedure named ``path``."""
    name = path.rsplit(".", 1)[-1]
    found = re.search(rf"\n( *){name}: TRPC(\w+)Procedure<\{{\n(.*?)\n\1\}}>;", text, re.S)
    assert found, f"{path} not declared"
    return found[2] + ": " + re.sub(r"\n\s*", " ", found[3].replace("meta: object;", "")).strip()


def declared(text: str, name: str) -> str:
    """The declaration of ``name`` (declarations are separated by blank lines)."""
    found = re.search(rf"^export (?:interface|type) {name}\b[^\n]*(?:\n.+)*", text, re.M)
    assert found, f"{name} not declared"
    return found[0]


class TestDeclarations:
    def test_file_imports_only_types_from_trpc_server(self) -> None:
        imports = re.findall(r"^import .*?;$", PLAIN.text, re.M | re.S)
        assert imports == [
            "import type {\n  TRPCBuiltRouter,\n  TRPCDefaultErrorShape,\n"
            "  TRPCMutationProcedure,\n  TRPCQueryProcedure,\n  TRPCSubscriptionProcedure,\n"
            "} from '@trpc/server';"
        ]
        assert "from tests.rpc.codegen_zoo:zoo_router." in PLAIN.text.splitlines()[0]

    def test_no_input_procedure_takes_void(self) -> None:
        assert procedure(PLAIN.text, "noInput") == "Query: input: void; output: number;"

    def test_optional_nullable_and_default_fields(self) -> None:
        # Inputs may leave out what has a default; outputs always carry every field.
        assert declared(PLAIN.text, "ShapeInput") == (
            "export interface ShapeInput {\n"
            '  kind: "circle" | "square";\n'
            "  size: number;\n"
            "  tag: number | null;\n"
            "  note?: string | null;\n"
            "  count?: number;\n"
            "}"
        )
        assert declared(PLAIN.text, "ShapeOutput") == (
            "export interface ShapeOutput {\n"
            '  kind: "circle" | "square";\n'
            "  size: number;\n"
            "  tag: number | null;\n"
            "  note: string | null;\n"
            "  count: number;\n"
            "}"
        )
        assert procedure(PLAIN.text, "shape") == (
            "Mutation: input: ShapeInput; output: ShapeOutput;"
        )

    def test_nullable_input_may_be_left_out(self) -> None:
        assert procedure(PLAIN.text, "maybeShape") == (
            "Query: input: ShapeInput | undefined; output: ShapeOutput | null;"
        )

    def test_enum_is_a_union_of_its_values(self) -> None:
        assert declared(PLAIN.text, "Color") == 'export type Color = "red" | "green";'
        assert "/** A primary colour. */\nexport type Color" in PLAIN.text

    def test_discriminated_union_in_a_list_of_models(self) -> None:
        assert procedure(PLAIN.text, "figures") == (
            "Mutation: input: (Circle | Square)[]; output: (Circle | Square)[];"
        )
        assert declared(PLAIN.text, "Circle") == (
            'export interface Circle {\n  type: "circle";\n  radius: number;\n}'
        )

    def test_recursive_model_refers_to_itself_with_field_docs(self) -> None:
        assert declared(PLAIN.text, "Tree") == (
            "export interface Tree {\n"
            "  /** What the node says. */\n"
            "  label: string;\n"
            "  children: Tree[];\n"
            "}"
        )

    def test_dicts_tuples_literals_and_typed_dicts(self) -> None:
        assert procedure(PLAIN.text, "scores") == (
            "Query: input: void; output: { [key: string]: number; };"
        )
        assert procedure(PLAIN.text, "lookup") == (
            'Query: input: Partial<Record<"a" | "b", number>>; output: [number, string];'
        )
        assert declared(PLAIN.text, "Movie") == (
            "export interface Movie {\n  title: string;\n  year?: number;\n}"
        )
        assert procedure(PLAIN.text, "nested.deep.ping") == 'Query: input: void; output: "pong";'
        assert "    nested: {\n      deep: {\n        ping: TRPCQueryProcedure<{" in PLAIN.text

    def test_datetime_is_a_string_or_with_superjson_a_date(self) -> None:
        assert procedure(PLAIN.text, "when") == "Query: input: void; output: string;"
        assert procedure(SUPERJSON.text, "when") == "Query: input: void; output: Date;"
        assert "transformer: false;" in PLAIN.text
        assert "transformer: true;" in SUPERJSON.text

    def test_output_schema_wins_over_the_annotation(self) -> None:
        assert procedure(PLAIN.text, "declaredOutput") == "Query: input: void; output: Movie;"

    def test_docstring_becomes_tsdoc_and_a_clashing_name_is_renamed(self) -> None:
        assert (
            "    /**\n     * Today's date.\n     *\n     * Says *\\/ safely.\n     */\n"
            "    documented: TRPCQueryProcedure<{" in PLAIN.text
        )
        assert procedure(PLAIN.text, "documented") == "Query: input: void; output: Date_;"
        assert "export interface Date_ {" in PLAIN.text

    def test_subscriptions_yield_their_elements_and_tracked_ones_id_and_data(self) -> None:
        out = {path: procedure(PLAIN.text, path) for path in ("events", "ticks", "pushed")}
        assert out == {
            "events": "Subscription: input: void; "
            "output: AsyncIterable<{ id: string; data: ShapeOutput }, void, unknown>;",
            "ticks": "Subscription: input: void; output: AsyncIterable<number, void, unknown>;",
            "pushed": "Subscription: input: void; "
            "output: AsyncIterable<{ id: string; data: Color }, void, unknown>;",
        }

    def test_wire_type_names_the_json_of_a_pre_encoded_value(self) -> None:
        assert procedure(PLAIN.text, "fragments") == (
            "Subscription: input: void; output: AsyncIterable<Movie, void, unknown>;"
        )

    def test_errors_declare_the_issues_of_a_rejected_input(self) -> None:
        assert "    errorShape: AppErrorShape;\n" in PLAIN.text
        assert (
            "    issues?: { path: (string | number)[]; message: string }[];\n"
            in declared(PLAIN.text, "AppErrorShape") + "\n"
        )

    def test_nothing_is_any(self) -> None:
        assert re.search(r"\bany\b", PLAIN.text) is None
        assert re.search(r"\bany\b", SUPERJSON.text) is None


class TestUnknowns:
    def test_bytes_are_refused_with_a_warning_naming_procedure_and_field(self) -> None:
        assert declared(PLAIN.text, "Blob") == (
            "export interface Blob {\n  name: string;\n  data: unknown;\n}"
        )
        assert "blob output via Blob.data: bytes cannot be typed for a client" in PLAIN.warnings

    def test_missing_or_any_annotations_are_unknown_with_a_warning(self) -> None:
        assert procedure(PLAIN.text, "untyped") == "Query: input: void; output: unknown;"
        assert procedure(PLAIN.text, "anything") == "Query: input: void; output: unknown;"
        assert PLAIN.warnings == (
            "blob output via Blob.data: bytes cannot be typed for a client",
            "untyped output: the resolver has no return annotation",
            "anything output: its type is typing.Any",
        )

    def test_untypable_procedures_never_crash_the_generator(self) -> None:
        t = init_rpc(object)

        class Opaque:
            pass

        async def opaque(ctx: object, input: None) -> Opaque:
            return Opaque()

        async def not_a_stream(ctx: object, input: None) -> int:
            return 1

        async def forward(ctx: object, input: None) -> NoSuchType:  # type: ignore[name-defined]  # noqa: F821
            return 1

        def sync_resolver(ctx: object, input: None) -> list[int]:
            return [1]

        router = Router(
            {
                "opaque": t.procedure.query(opaque),
                "notAStream": t.procedure.subscription(not_a_stream),  # type: ignore[arg-type]
                "forward": t.procedure.query(forward),
                "sync": t.procedure.input(list[int]).query(sync_resolver),  # type: ignore[arg-type]
            }
        )
        declaration = declare_router(router)
        assert [w.split(":")[0] for w in declaration.warnings] == [
            "opaque output",
            "notAStream output",
            "forward output",
        ]
        assert procedure(declaration.text, "sync") == "Query: input: number[]; output: number[];"
        assert procedure(declaration.text, "notAStream") == (
            "Subscription: input: void; output: AsyncIterable<unknown, void, unknown>;"
        )

    def test_procedure_and_namespace_of_one_name_leave_one_out_with_a_warning(self) -> None:
        t = init_rpc(object)

        async def one(ctx: object, input: None) -> int:
            return 1

        merged = Router({"a": t.procedure.query(one)}).merge(
            Router({"a": {"b": t.procedure.query(one)}})
        )
        declaration = declare_router(merged)
        assert declaration.warnings == ("a.b left out: a procedure and a namespace share its name",)
        assert procedure(declaration.text, "a") == "Query: input: void; output: number;"

    def test_an_input_pydantic_cannot_describe_in_json_schema_is_unknown(self) -> None:
        t = init_rpc(object)

        async def call(ctx: object, input: object) -> int:
            return 1

        router = Router({"typed": t.procedure.input(type).query(call)})
        declaration = declare_router(router)
        assert procedure(declaration.text, "typed") == "Query: input: unknown; output: number;"
        assert declaration.warnings[0].startswith("typed input: ")


ZOO_CLIENT = """
import { createTRPCClient, httpBatchLink, httpSubscriptionLink, splitLink } from '@trpc/client';
import type { inferRouterInputs, inferRouterOutputs } from '@trpc/server';
import type { AppRouter, Color, ShapeOutput, Tree } from './app-router';
import type { Equal, Expect, HasAny } from './expect';

type In = inferRouterInputs<AppRouter>;
type Out = inferRouterOutputs<AppRouter>;
type _noAnyIn = Expect<Equal<HasAny<In>, false>>;
type _noAnyOut = Expect<Equal<HasAny<Out>, false>>;
type _tree = Expect<Equal<Out['tree'], Tree>>;
type _children = Expect<Equal<Out['tree']['children'][number]['label'], string>>;
type _figures = Expect<Equal<Out['figures'][number]['type'], 'circle' | 'square'>>;
type _pair = Expect<Equal<Out['lookup'], [number, string]>>;
type _ping = Expect<Equal<Out['nested']['deep']['ping'], 'pong'>>;
type _when = Expect<Equal<Out['when'], WHEN>>;
type _maybe = Expect<Equal<In['maybeShape'], In['shape'] | void | undefined>>;

const url = 'http://127.0.0.1:3000/trpc';
const client = createTRPCClient<AppRouter>({
  links: [splitLink({
    condition: (op) => op.type === 'subscription',
    true: httpSubscriptionLink({ url TRANSFORMER }),
    false: httpBatchLink({ url TRANSFORMER }),
  })],
});

export async function use(): Promise<void> {
  await client.noInput.query();
  await client.maybeShape.query();
  await client.shape.mutate({ kind: 'circle', size: 1, tag: null });
  client.events.subscribe(undefined, {
    onData(event) {
      type _e = Expect<Equal<typeof event, { id: string; data: ShapeOutput }>>;
    },
  });
  client.pushed.subscribe(undefined, {
    onData(event) {
      type _e = Expect<Equal<typeof event, { id: string; data: Color }>>;
    },
  });
  client.ticks.subscribe(undefined, { onData(n) { type _n = Expect<Equal<typeof n, number>>; } });
}
"""


@pytest.mark.node
@pytest.mark.parametrize("flavour", ["plain", "superjson"])
def test_zoo_declaration_type_checks_under_tsc(flavour: str, tmp_path: Path) -> None:
    modules = node_modules(TS_DIR)
    declaration = SUPERJSON if flavour == "superjson" else PLAIN
    client = ZOO_CLIENT.replace("WHEN", "Date" if flavour == "superjson" else "string")
    if flavour == "superjson":
        client = "import superjson from 'superjson';\n" + client
    client = client.replace(
        " TRANSFORMER", ", transformer: superjson" if flavour == "superjson" else ""
    )
    (tmp_path / "app-router.d.ts").write_text(declaration.text)
    (tmp_path / "zoo.ts").write_text(client)
    shutil.copy(TS_DIR / "expect.ts", tmp_path)
    shutil.copy(TS_DIR / "tsconfig.base.json", tmp_path)
    (tmp_path / "tsconfig.json").write_text(
        '{"extends": "./tsconfig.base.json", "files": ["zoo.ts"]}\n'
    )
    (tmp_path / "node_modules").symlink_to(modules, target_is_directory=True)
    result = subprocess.run(
        [str(modules / ".bin" / "tsc"), "-p", "tsconfig.json"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert (result.returncode, result.stdout) == (0, ""), result.stdout + result.stderr
