"""A router with one procedure per kind of type the TypeScript generator handles."""

from __future__ import annotations

import enum
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated, Any, Literal, NotRequired

import orjson
from pydantic import BaseModel, Field
from typing_extensions import TypedDict  # pydantic needs this one before Python 3.12

from wirechat.rpc import Emit, PushSource, Router, Tracked, WireType, init_rpc, tracked

__all__ = ["zoo_router"]


class Color(enum.Enum):
    """A primary colour."""

    RED = "red"
    GREEN = "green"


class Shape(BaseModel):
    """Optional, nullable and defaulted fields."""

    kind: Literal["circle", "square"]
    size: float
    tag: int | None
    note: str | None = None
    count: int = 0


class Tree(BaseModel):
    """A node of a tree (recursive)."""

    label: str = Field(description="What the node says.")
    children: list[Tree] = []


class Circle(BaseModel):
    type: Literal["circle"]
    radius: float


class Square(BaseModel):
    type: Literal["square"]
    side: float


Figure = Annotated[Circle | Square, Field(discriminator="type")]


class Movie(TypedDict):
    title: str
    year: NotRequired[int]


class Blob(BaseModel):
    name: str
    data: bytes


class Date(BaseModel):
    """Shares its name with the JavaScript global."""

    day: int


class ColorStream(PushSource[Tracked[Color]]):
    async def run(self, emit: Emit) -> None:
        emit(tracked("1", Color.RED))


t = init_rpc(object)
p = t.procedure


async def no_input(ctx: object, input: None) -> int:
    return 1


async def shape(ctx: object, input: Shape) -> Shape:
    return input


async def maybe_shape(ctx: object, input: Shape | None) -> Shape | None:
    return input


async def color(ctx: object, input: Color) -> Color:
    return input


async def figures(ctx: object, input: list[Figure]) -> list[Figure]:
    return input


async def tree(ctx: object, input: None) -> Tree:
    return Tree(label="root")


async def scores(ctx: object, input: None) -> dict[str, float]:
    return {}


async def lookup(ctx: object, input: dict[Literal["a", "b"], int]) -> tuple[int, str]:
    return (1, "a")


async def movie(ctx: object, input: None) -> Movie:
    return {"title": "Metropolis"}


async def when(ctx: object, input: None) -> datetime:
    return datetime(2026, 1, 1)


async def blob(ctx: object, input: None) -> Blob:
    return Blob(name="b", data=b"")


async def untyped(ctx: object, input: None):  # type: ignore[no-untyped-def]
    return 1


async def anything(ctx: object, input: None) -> Any:
    return 1


async def documented(ctx: object, input: None) -> Date:
    """Today's date.

    Says */ safely.
    """
    return Date(day=1)


async def declared_output(ctx: object, input: None) -> Any:
    return {"title": "Nosferatu"}


async def events(ctx: object, input: None) -> AsyncIterator[Tracked[Shape]]:
    yield tracked("1", Shape(kind="circle", size=1, tag=None))


async def ticks(ctx: object, input: None) -> AsyncIterator[int]:
    yield 1


async def pushed(ctx: object, input: None) -> ColorStream:
    return ColorStream()


async def fragments(
    ctx: object, input: None
) -> AsyncIterator[Annotated[orjson.Fragment, WireType(Movie)]]:
    yield orjson.Fragment(b'{"title": "M"}')


async def ping(ctx: object, input: None) -> Literal["pong"]:
    return "pong"


zoo_router = Router(
    {
        "noInput": p.query(no_input),
        "shape": p.input(Shape).mutation(shape),
        "maybeShape": p.input(Shape | None).query(maybe_shape),
        "color": p.input(Color).query(color),
        "figures": p.input(list[Figure]).mutation(figures),
        "tree": p.query(tree),
        "scores": p.query(scores),
        "lookup": p.input(dict[Literal["a", "b"], int]).query(lookup),
        "movie": p.query(movie),
        "when": p.query(when),
        "blob": p.query(blob),
        "untyped": p.query(untyped),
        "anything": p.query(anything),
        "documented": p.query(documented),
        "declaredOutput": p.output(Movie).query(declared_output),
        "events": p.subscription(events),
        "ticks": p.subscription(ticks),
        "pushed": p.subscription(pushed),
        "fragments": p.subscription(fragments),
        "nested": {"deep": {"ping": p.query(ping)}},
    }
)
