"""Requirement traceability: which tests prove which requirement ID, and where it is built.

The team rule is that tests name the requirement IDs they prove. This script keeps that rule
visible: it reads every ID from REQUIREMENTS.md, finds the tests that cite each one (in a test's
name such as ``test_sec6_...``, its docstring, its comments or its string literals such as
parametrize ids; a module docstring counts for the whole file), finds the source modules and
documentation pages that cite it, and writes docs/requirements.md. IDs without a test are listed,
and those whose feature is not built yet are explained from tools/not_yet_built.toml.

The output depends only on the files read (sorted, no dates), so tests/test_traceability.py can
check that the committed page is the page this script writes today.

Usage::

    python tools/traceability.py            # rewrite docs/requirements.md
    python tools/traceability.py --check    # exit 1 when docs/requirements.md is stale

REQUIREMENTS.md is looked up in $METRA_REQUIREMENTS, else ../shared/REQUIREMENTS.md next to the
repository (the team's shared folder).
"""

from __future__ import annotations

import argparse
import ast
import io
import os
import re
import sys
import tokenize
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUTPUT = ROOT / "docs" / "requirements.md"
GAPS = ROOT / "tools" / "not_yet_built.toml"
SUMMARY_LIMIT = 110

_ITEM = re.compile(r"^- ([A-Z]+-\d+) (.*)$")
_SECTION = re.compile(r"^## (.+)$")
_SOURCE_REF = re.compile(r"\s*\([^()]*\bS[0-4]\b[^()]*\)")


@dataclass(frozen=True)
class Requirement:
    """One catalogue entry: its ID, the section it sits in and its English text."""

    ident: str
    section: str
    text: str

    @property
    def summary(self) -> str:
        """The first clause without source clause numbers, cut to one table line."""
        plain = _SOURCE_REF.sub("", self.text)
        first = re.split(r";\s|\.\s|\.$", plain, maxsplit=1)[0].strip()
        first = first.replace("|", "/")
        if len(first) <= SUMMARY_LIMIT:
            return first
        return first[: SUMMARY_LIMIT - 1].rsplit(" ", 1)[0].rstrip(",:") + "…"


@dataclass(frozen=True, order=True)
class Citation:
    """A test (``file::test``) or a test module (``file``) citing an ID, directly or in a range."""

    where: str
    via_range: bool = False


@dataclass
class Trace:
    """Everything found for one ID."""

    tests: set[Citation] = field(default_factory=set)
    code: set[str] = field(default_factory=set)
    docs: set[str] = field(default_factory=set)


def parse_requirements(text: str) -> list[Requirement]:
    """Every ``- ID text`` item with its indented continuation lines, in catalogue order."""
    found: list[Requirement] = []
    section = ""
    current: tuple[str, list[str]] | None = None

    def close() -> None:
        if current is not None:
            found.append(Requirement(current[0], section_of[current[0]], " ".join(current[1])))

    section_of: dict[str, str] = {}
    for line in text.splitlines():
        if heading := _SECTION.match(line):
            close()
            current = None
            section = heading.group(1).strip()
        elif item := _ITEM.match(line):
            close()
            current = (item.group(1), [item.group(2).strip()])
            section_of[item.group(1)] = section
        elif current is not None and line.startswith("  ") and line.strip():
            current[1].append(line.strip())
        else:
            close()
            current = None
    close()
    idents = [r.ident for r in found]
    duplicates = sorted({i for i in idents if idents.count(i) > 1})
    if duplicates:
        raise ValueError(f"duplicate requirement IDs: {', '.join(duplicates)}")
    return found


class Matcher:
    """Finds the known IDs in free text (with ranges) and in snake_case test names."""

    def __init__(self, idents: Iterable[str]) -> None:
        self.idents = frozenset(idents)
        prefixes = sorted({i.split("-")[0] for i in self.idents}, key=lambda p: (-len(p), p))
        alt = "|".join(prefixes)
        self._range = re.compile(rf"\b({alt})-(\d+)\s*(?:\.\.|–|—)\s*(?:({alt})-)?(\d+)\b(?!-)")
        self._single = re.compile(rf"\b({alt})-(\d+)\b(?!-\d)")
        self._name = re.compile(rf"^({alt})(\d+)$", re.IGNORECASE)

    def in_text(self, text: str) -> dict[str, bool]:
        """IDs named in ``text``; the value is True when an ID is only covered by a range."""
        found: dict[str, bool] = {}
        for m in self._range.finditer(text):
            prefix, lo, other, hi = m.group(1), int(m.group(2)), m.group(3), int(m.group(4))
            if other not in (None, prefix) or hi <= lo or hi - lo > 20:
                continue
            for n in range(lo + 1, hi):
                found.setdefault(f"{prefix}-{n}", True)
        for m in self._single.finditer(text):
            found[f"{m.group(1)}-{m.group(2)}"] = False
        return {k: v for k, v in found.items() if k in self.idents}

    def in_name(self, name: str) -> set[str]:
        """IDs in a name such as ``test_sto1_col4_floors`` (STO-1, COL-4)."""
        hits = set()
        for token in name.split("_"):
            if m := self._name.match(token):
                hits.add(f"{m.group(1).upper()}-{int(m.group(2))}")
        return hits & self.idents


def _units(tree: ast.Module, rel: str) -> list[tuple[int, int, str, str]]:
    """(first line, last line, label, name) for every test function and test class in a module."""
    units: list[tuple[int, int, str, str]] = []

    def span(node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) -> tuple[int, int]:
        first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
        return first, node.end_lineno or node.lineno

    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith(
            "test"
        ):
            units.append((*span(node), f"{rel}::{node.name}", node.name))
        elif isinstance(node, ast.ClassDef) and node.name.startswith("Test"):
            for sub in node.body:
                if isinstance(sub, ast.FunctionDef | ast.AsyncFunctionDef) and sub.name.startswith(
                    "test"
                ):
                    units.append((*span(sub), f"{rel}::{node.name}::{sub.name}", sub.name))
            units.append((*span(node), f"{rel}::{node.name}", node.name))
    return units


def scan_test_source(source: str, rel: str, matcher: Matcher) -> dict[str, set[Citation]]:
    """Citations in one test module, attributed to the test whose lines hold them."""
    tree = ast.parse(source)
    units = _units(tree, rel)
    out: dict[str, set[Citation]] = {}

    def add(ident: str, where: str, via_range: bool) -> None:
        out.setdefault(ident, set()).add(Citation(where, via_range))

    def owner(line: int) -> str:
        # Methods are listed before their class, so the narrowest unit wins.
        for first, last, label, _ in units:
            if first <= line <= last:
                return label
        return rel

    for _, _, label, name in units:
        for ident in matcher.in_name(name):
            add(ident, label, False)
    texts = {tokenize.COMMENT, tokenize.STRING}
    if hasattr(tokenize, "FSTRING_MIDDLE"):
        texts.add(tokenize.FSTRING_MIDDLE)
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type in texts:
            for ident, via_range in matcher.in_text(token.string).items():
                add(ident, owner(token.start[0]), via_range)
    return out


def _merge(into: dict[str, set[Citation]]) -> dict[str, set[Citation]]:
    """A direct citation of an ID at a place hides a range citation of it at the same place."""
    for ident, cites in into.items():
        direct = {c.where for c in cites if not c.via_range}
        into[ident] = {c for c in cites if not (c.via_range and c.where in direct)}
    return into


def trace(root: Path, requirements: list[Requirement]) -> dict[str, Trace]:
    """Tests, source modules and doc pages citing every requirement ID under ``root``."""
    matcher = Matcher(r.ident for r in requirements)
    traces = {r.ident: Trace() for r in requirements}
    for path in sorted((root / "tests").rglob("test_*.py")):
        rel = path.relative_to(root).as_posix()
        found = _merge(scan_test_source(path.read_text(encoding="utf-8"), rel, matcher))
        for ident, cites in found.items():
            traces[ident].tests |= cites
    for path in sorted((root / "src").rglob("*.py")):
        rel = path.relative_to(root / "src").as_posix()
        for ident in matcher.in_text(path.read_text(encoding="utf-8")):
            traces[ident].code.add(rel)
    for path in sorted((root / "docs").glob("*.md")):
        if path.resolve() == (root / OUTPUT.relative_to(ROOT)).resolve():
            continue
        for ident in matcher.in_text(path.read_text(encoding="utf-8")):
            traces[ident].docs.add(path.relative_to(root).as_posix())
    return traces


def load_gaps(path: Path) -> dict[str, str]:
    """``ID -> what is missing`` for requirements whose feature is not built yet."""
    if not path.exists():
        return {}
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    return {ident: str(entry["missing"]) for ident, entry in data.items()}


def _packages(code: Iterable[str]) -> str:
    """``metra/mdm/vee.py`` and ``metra/mdm/kpi/x.py`` -> ``mdm, mdm.kpi``."""
    names = {".".join(Path(c).parent.parts[1:]) or "metra" for c in code}
    return ", ".join(sorted(names))


def _files(code: Iterable[str]) -> str:
    """Source files grouped by folder: ``metra/mdm/estimation/{correction,methods}.py``."""
    by_dir: dict[str, list[str]] = {}
    for c in code:
        p = Path(c)
        by_dir.setdefault(p.parent.as_posix(), []).append(p.stem)
    parts = []
    for folder in sorted(by_dir):
        stems = sorted(by_dir[folder])
        inner = stems[0] if len(stems) == 1 else "{" + ",".join(stems) + "}"
        parts.append(f"`src/{folder}/{inner}.py`")
    return ", ".join(parts)


def _sentence(summary: str) -> str:
    """A summary as a sentence: a full stop unless it was cut short."""
    return summary if summary.endswith("…") else summary + "."


def render(
    requirements: list[Requirement], traces: Mapping[str, Trace], gaps: Mapping[str, str]
) -> str:
    """The whole docs/requirements.md page."""
    unknown = sorted(set(gaps) - {r.ident for r in requirements})
    if unknown:
        raise ValueError(f"not_yet_built.toml names unknown IDs: {', '.join(unknown)}")
    uncited = [r for r in requirements if not traces[r.ident].tests]
    lines = [
        "# Requirement traceability",
        "",
        "Generated by `python tools/traceability.py`; do not edit by hand. It reads every ID",
        "in the team's REQUIREMENTS.md, the tests under `tests/` that cite each ID (in a test's",
        "name such as `test_sec6_...`, its docstring, comments or string literals; a module",
        "docstring counts for its whole file), and the modules under `src/` and pages under",
        "`docs/` that cite it. `tests/test_traceability.py` fails when this page differs from",
        "what the script writes, so after adding or moving a citation run the script and commit",
        "the page with the change.",
        "",
        f"{len(requirements)} requirements, {len(requirements) - len(uncited)} cited by at least"
        f" one test, {len(uncited)} cited by none, {len(gaps)} not yet built (or partly).",
        "A test marked † cites the ID only through a range such as `XX-1..XX-4`.",
        "",
        "| ID | Requirement | Tests | Code (metra packages) | Docs |",
        "|---|---|---:|---|---|",
    ]
    section = None
    for r in requirements:
        if r.section != section:
            section = r.section
            group, _, title = _SOURCE_REF.sub("", section).partition(": ")
            lines.append(f"| **{group}** | *{title}* | | | |")
        t = traces[r.ident]
        docs = ", ".join(f"[{Path(d).stem}]({Path(d).name})" for d in sorted(t.docs))
        lines.append(
            f"| [{r.ident}](#{r.ident.lower()}) | {r.summary} | {len(t.tests)} "
            f"| {_packages(t.code)} | {docs} |"
        )
    lines += ["", "## Not yet built", ""]
    if gaps:
        lines += [
            "Requirements whose feature the code does not have yet; what is missing, in one line.",
            "",
        ]
        for r in requirements:
            if r.ident in gaps:
                cited = len(traces[r.ident].tests)
                note = f" ({cited} citing tests cover the part that exists)" if cited else ""
                lines.append(
                    f"- **{r.ident}** {_sentence(r.summary)} Missing: {gaps[r.ident]}{note}"
                )
    else:
        lines.append("Nothing.")
    lines += ["", "## IDs with no test", ""]
    if uncited:
        for r in uncited:
            state = "not yet built" if r.ident in gaps else "no test names it yet"
            lines.append(f"- **{r.ident}** {r.summary} — {state}")
    else:
        lines.append("None: every requirement is cited by at least one test.")
    lines += ["", "## Tests per requirement"]
    section = None
    for r in requirements:
        if r.section != section:
            section = r.section
            lines += ["", f"### {section}"]
        t = traces[r.ident]
        lines += ["", f"#### {r.ident}", "", _sentence(r.summary)]
        lines.append("")
        if t.code or t.docs:
            where = [_files(t.code)] if t.code else []
            where += [", ".join(f"`{d}`" for d in sorted(t.docs))] if t.docs else []
            lines += ["Built in: " + "; ".join(where) + ".", ""]
        if t.tests:
            for c in sorted(t.tests):
                lines.append(f"- `{c.where}`" + (" †" if c.via_range else ""))
        else:
            lines.append("- no test cites it")
    return "\n".join(lines) + "\n"


SHARED = ROOT.parent / "shared" / "REQUIREMENTS.md"
SNAPSHOT = ROOT / "tools" / "REQUIREMENTS.snapshot.md"


def requirements_path() -> Path:
    """$METRA_REQUIREMENTS, else the team's shared REQUIREMENTS.md beside the repository, else
    the snapshot of it kept in tools/ (a checkout without the team's shared folder, such as a
    CI machine's, still checks the page; tests compare the snapshot with the shared file)."""
    env = os.environ.get("METRA_REQUIREMENTS")
    if env:
        return Path(env)
    return SHARED if SHARED.exists() else SNAPSHOT


def build(root: Path = ROOT, requirements_file: Path | None = None) -> str:
    """The page for the tree at ``root``."""
    source = requirements_file or requirements_path()
    if not source.exists():
        raise FileNotFoundError(f"REQUIREMENTS.md not found at {source}; set METRA_REQUIREMENTS")
    requirements = parse_requirements(source.read_text(encoding="utf-8"))
    return render(requirements, trace(root, requirements), load_gaps(root / "tools" / GAPS.name))


def main(argv: list[str] | None = None) -> int:
    """Write docs/requirements.md, or with --check report whether it is stale."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="exit 1 if the page is stale")
    args = parser.parse_args(argv)
    page = build()
    if args.check:
        current = OUTPUT.read_text(encoding="utf-8") if OUTPUT.exists() else ""
        if current != page:
            print(f"{OUTPUT.relative_to(ROOT)} is stale: run python tools/traceability.py")
            return 1
        return 0
    OUTPUT.write_text(page, encoding="utf-8")
    print(f"wrote {OUTPUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
