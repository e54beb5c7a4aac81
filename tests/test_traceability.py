"""docs/requirements.md is what tools/traceability.py writes for today's tree, so the page stays
true as tests, code and docs move; and the scanner finds citations where the team writes them.

The page being current is what is checked, not that every requirement is covered: uncovered IDs
are listed on the page itself. The scanner's own tests use made-up IDs (prefix ZZ) so that this
file cites no real requirement.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "traceability", ROOT / "tools" / "traceability.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


tr = _load()

CATALOGUE = """# Catalogue

## ZZ: made-up things
- ZZ-1 Read things at least once a day (S1 3.1.5); weekly for some (S2 4.2.1).
- ZZ-2 Keep values apart from raw data (S4 2.6, 5.9-5.13). Second sentence.
  continued on an indented line.
- ZZ-3 Never cited anywhere.

## YY: other things (S0 5, 6)
- YY-10 A very long requirement text that goes on and on about many different things so that it
  will certainly not fit on one line of the summary table at all.
"""

TEST_SOURCE = '''"""Module docstring citing ZZ-2."""

import pytest


def helper():
    # ZZ-3 in a helper is a module-level citation
    return 1


def test_zz1_by_name():
    assert helper()


@pytest.mark.parametrize("x", [pytest.param(1, id="ZZ-2 case")])
def test_param(x):
    assert x


class TestGroup:
    """Range ZZ-1..ZZ-3 on the class."""

    def test_inner(self):
        # YY-10: a comment in a method
        assert True


def test_fstring():
    x = 1
    assert f"{x} YY-10" and "ZZ-12 is not an ID here"
'''


def test_docs_requirements_page_is_up_to_date() -> None:
    """The committed page equals the script's output; run the script when this fails."""
    page = tr.build(ROOT)
    current = tr.OUTPUT.read_text(encoding="utf-8") if tr.OUTPUT.exists() else ""
    assert current == page, "docs/requirements.md is stale: run python tools/traceability.py"


def test_snapshot_is_the_shared_requirements() -> None:
    """tools/REQUIREMENTS.snapshot.md is what ../shared/REQUIREMENTS.md says now; copy it over
    when the team's catalogue changes. Where the shared folder is absent there is nothing to
    compare, and the snapshot stands in for it."""
    if not tr.SHARED.exists():
        pytest.skip("no ../shared/REQUIREMENTS.md beside this checkout")
    assert tr.SNAPSHOT.read_text(encoding="utf-8") == tr.SHARED.read_text(encoding="utf-8"), (
        "cp ../shared/REQUIREMENTS.md tools/REQUIREMENTS.snapshot.md"
    )


def test_every_catalogue_item_is_parsed_from_the_real_requirements() -> None:
    text = tr.requirements_path().read_text(encoding="utf-8")
    expected = re.findall(r"^- ([A-Z]+-\d+) ", text, flags=re.MULTILINE)
    parsed = [r.ident for r in tr.parse_requirements(text)]
    assert parsed == expected and len(parsed) > 50
    gaps = tr.load_gaps(ROOT / "tools" / "not_yet_built.toml")
    assert set(gaps) <= set(parsed)


def test_catalogue_items_sections_and_summaries() -> None:
    reqs = tr.parse_requirements(CATALOGUE)
    assert [(r.ident, r.section) for r in reqs] == [
        ("ZZ-1", "ZZ: made-up things"),
        ("ZZ-2", "ZZ: made-up things"),
        ("ZZ-3", "ZZ: made-up things"),
        ("YY-10", "YY: other things (S0 5, 6)"),
    ]
    assert reqs[0].summary == "Read things at least once a day"
    assert reqs[1].summary == "Keep values apart from raw data"
    assert reqs[1].text.endswith("continued on an indented line.")
    assert len(reqs[3].summary) <= tr.SUMMARY_LIMIT and reqs[3].summary.endswith("…")


def test_duplicate_ids_are_refused() -> None:
    with pytest.raises(ValueError, match="ZZ-1"):
        tr.parse_requirements("- ZZ-1 one\n- ZZ-1 again\n")


def test_matcher_finds_ids_ranges_and_name_tokens() -> None:
    m = tr.Matcher(["ZZ-1", "ZZ-2", "ZZ-3", "YY-10"])
    assert m.in_text("proves ZZ-1 and YY-10; not ZZ-9 nor ZZ-10 nor XZZ-1") == {
        "ZZ-1": False,
        "YY-10": False,
    }
    assert m.in_text("(ZZ-1..ZZ-3)") == {"ZZ-1": False, "ZZ-2": True, "ZZ-3": False}
    assert m.in_text("ZZ-1..3") == {"ZZ-1": False, "ZZ-2": True}
    assert m.in_text("ZZ-1-2024 is a document number") == {}
    assert m.in_name("test_zz1_yy10_and_zz12") == {"ZZ-1", "YY-10"}
    assert m.in_name("test_zzz1_fizz2") == set()


def test_citations_are_attributed_to_the_test_that_holds_them() -> None:
    m = tr.Matcher(r.ident for r in tr.parse_requirements(CATALOGUE))
    found = tr._merge(tr.scan_test_source(TEST_SOURCE, "tests/t/test_x.py", m))
    f = "tests/t/test_x.py"
    assert found == {
        "ZZ-1": {
            tr.Citation(f"{f}::test_zz1_by_name"),
            tr.Citation(f"{f}::TestGroup"),
        },
        "ZZ-2": {
            tr.Citation(f),
            tr.Citation(f"{f}::test_param"),
            tr.Citation(f"{f}::TestGroup", via_range=True),
        },
        "ZZ-3": {tr.Citation(f), tr.Citation(f"{f}::TestGroup")},
        "YY-10": {
            tr.Citation(f"{f}::TestGroup::test_inner"),
            tr.Citation(f"{f}::test_fstring"),
        },
    }


def test_page_lists_uncited_and_not_built_ids_deterministically(tmp_path: Path) -> None:
    tests = tmp_path / "tests" / "t"
    tests.mkdir(parents=True)
    (tests / "test_x.py").write_text(TEST_SOURCE, encoding="utf-8")
    (tests / "not_a_test.py").write_text('"""Cites ZZ-3 but is no test module."""\n')
    src = tmp_path / "src" / "pkg" / "sub"
    src.mkdir(parents=True)
    (src / "thing.py").write_text('"""Builds ZZ-3."""\n')
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "thing.md").write_text("ZZ-1 and YY-10 are documented here.\n")
    reqs = tr.parse_requirements(CATALOGUE)
    traces = tr.trace(tmp_path, reqs)
    assert traces["ZZ-3"].code == {"pkg/sub/thing.py"}
    assert traces["ZZ-1"].docs == {"docs/thing.md"}
    page = tr.render(reqs, traces, {"ZZ-3": "the thing is not there."})
    again = tr.render(reqs, tr.trace(tmp_path, reqs), {"ZZ-3": "the thing is not there."})
    assert page == again
    not_built = page.split("## Not yet built")[1].split("## IDs with no test")[0]
    assert "**ZZ-3**" in not_built and "Missing: the thing is not there." in not_built
    assert "- `tests/t/test_x.py::test_zz1_by_name`" in page
    assert "not_a_test" not in page
    with pytest.raises(ValueError, match="QQ-1"):
        tr.render(reqs, traces, {"QQ-1": "unknown"})
