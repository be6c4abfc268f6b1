"""The repository's citations resolve inside the repository.

Code, tests and documents cite the API reference by section, as ``docs/api.md "Limits"``;
each cited section must be a heading of ``docs/api.md``, so a renamed heading fails here
rather than leaving a citation that points nowhere. The repository must also stand
alone: no file may cite a document outside it, by an absolute path into someone's
machine (``/work/...``, ``/home/...``) or by the name of a document it does not hold.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
API_DOC = ROOT / "docs" / "api.md"
THIS_FILE = Path(__file__).resolve()

_TEXT_SUFFIXES = frozenset(
    {".py", ".pyi", ".md", ".ts", ".tsx", ".mjs", ".js", ".json", ".toml", ".cfg", ".ini"}
    | {".txt", ".yml", ".yaml", ".sh", ".css", ".html", ".mako", ".conf"}
)
_TEXT_NAMES = frozenset({"Makefile", "Dockerfile", ".env.example"})

_HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.MULTILINE)
_FENCE = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)
# `docs/api.md "Limits"`, also `docs/api.md, "Limits"`; a section name may wrap onto the
# next line of a comment or docstring.
_SECTION_CITATION = re.compile(r'docs/api\.md,?\s+"([^"\n]+(?:\n[^"\n]*)?)"')
_CONTINUATION = re.compile(r"\s*\n\s*(?:#|//|\*)?\s*")
# api.md named without its place in the repository (a Markdown link from a file inside
# docs/ is relative to it and allowed).
_BARE_API_DOC = re.compile(r"(?<![\w/.-])api\.md")
_MARKDOWN_LINK = re.compile(r"\]\(([^)\s]+?\.md)(?:#([^)\s]*))?\)")
# Absolute paths into a workspace or a home directory: only ever true on one machine.
_OUTSIDE = re.compile(r"(?<![\w.~:/-])/(?:work|home|Users|root|mnt)/[\w.-]+")
_DOCUMENT = re.compile(r"(?<![\w.:/-])(/?(?:[\w.-]+/)*[\w-]+\.md)\b")


def repository_files() -> list[Path]:
    """Tracked and new (not ignored) text files of the working tree, but this one, whose
    docstrings show what the checks refuse."""
    try:
        listing = subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=ROOT,
            capture_output=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout: the repository's file list is unknown")
    files = []
    for name in sorted(set(listing.decode().split("\0")) - {""}):
        path = ROOT / name
        if path == THIS_FILE or not path.is_file():
            continue
        if path.suffix in _TEXT_SUFFIXES or path.name in _TEXT_NAMES:
            files.append(path)
    return files


def read(path: Path) -> str:
    return path.read_text(encoding="utf-8", errors="replace")


def headings(markdown: str) -> list[str]:
    """The headings of a Markdown text, ignoring ``#`` lines inside code fences."""
    return [m.group(1) for m in _HEADING.finditer(_FENCE.sub("", markdown))]


def anchor(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to dashes."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def section_citations(text: str) -> list[str]:
    return [_CONTINUATION.sub(" ", m.group(1)).strip() for m in _SECTION_CITATION.finditer(text)]


def line_of(text: str, index: int) -> int:
    return text.count("\n", 0, index) + 1


@pytest.fixture(scope="module")
def files() -> list[Path]:
    return repository_files()


def test_api_doc_sections_are_unique() -> None:
    names = headings(read(API_DOC))
    assert len(names) == len(set(names)), "a citation by heading must name one section"


def test_every_cited_api_doc_section_is_a_heading(files: list[Path]) -> None:
    sections = set(headings(read(API_DOC)))
    broken = [
        f"{path.relative_to(ROOT)}: {name!r}"
        for path in files
        for name in section_citations(read(path))
        if name not in sections
    ]
    assert not broken, f"cited sections that docs/api.md does not have: {broken}"


def test_api_doc_is_cited_by_its_path_in_the_repository(files: list[Path]) -> None:
    bare = []
    for path in files:
        text = read(path)
        in_docs = path.parent == API_DOC.parent
        for match in _BARE_API_DOC.finditer(text):
            if in_docs and text[max(match.start() - 2, 0) : match.start()] == "](":
                continue
            bare.append(f"{path.relative_to(ROOT)}:{line_of(text, match.start())}")
    assert not bare, f'cite it as docs/api.md "<Section>": {bare}'


def test_markdown_links_to_documents_resolve(files: list[Path]) -> None:
    broken = []
    for path in files:
        if path.suffix != ".md":
            continue
        for match in _MARKDOWN_LINK.finditer(read(path)):
            target, fragment = match.groups()
            if "://" in target:
                continue
            linked = (path.parent / target).resolve()
            if not linked.is_file():
                broken.append(f"{path.relative_to(ROOT)}: {target}")
            elif fragment and fragment not in {anchor(h) for h in headings(read(linked))}:
                broken.append(f"{path.relative_to(ROOT)}: {target}#{fragment}")
    assert not broken, f"links to documents or sections that do not exist: {broken}"


def test_no_file_cites_an_absolute_path_outside_the_repository(files: list[Path]) -> None:
    found = []
    for path in files:
        text = read(path)
        for match in _OUTSIDE.finditer(text):
            found.append(f"{path.relative_to(ROOT)}:{line_of(text, match.start())}: {match[0]}")
    assert not found, f"paths outside the repository: {found}"


def test_every_cited_document_is_in_the_repository(files: list[Path]) -> None:
    """``trpc-protocol.md`` or any other document named must be one the repository holds:
    by its path from the root or from the citing file, or by its file name."""
    names = {path.name for path in files if path.suffix == ".md"}
    missing = []
    for path in files:
        text = read(path)
        for match in _DOCUMENT.finditer(text):
            cited = match.group(1)
            if cited.startswith("/"):
                found = False
            elif "/" in cited:
                found = (ROOT / cited).is_file() or (path.parent / cited).is_file()
            else:
                found = cited in names
            if not found:
                missing.append(f"{path.relative_to(ROOT)}:{line_of(text, match.start())}: {cited}")
    assert not missing, f"documents the repository does not hold: {missing}"
