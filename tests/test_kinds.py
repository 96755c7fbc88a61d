"""Every test has exactly one kind, which the lanes select on: a new test module must be given
one in support.MODULE_KINDS (or declare `pytestmark = pytest.mark.KIND`), and every kind is a
declared marker."""

from __future__ import annotations

import tomllib

from support import KIND_OF_MODULE, KINDS, ROOT


def test_every_test_module_has_a_kind():
    files = sorted((ROOT / "tests").glob("test_*.py"))
    modules = [p.stem for p in files]
    declared = {p.stem for p in files if any(f"pytestmark = pytest.mark.{kind}" in p.read_text() for kind in KINDS)}
    missing = [m for m in modules if m not in KIND_OF_MODULE and m not in declared]
    assert missing == [], f"give these modules a kind in tests/support.py MODULE_KINDS: {missing}"
    gone = sorted(set(KIND_OF_MODULE) - set(modules))
    assert gone == [], f"MODULE_KINDS names modules that no longer exist: {gone}"


def test_every_collected_test_has_exactly_one_kind(request):
    wrong = {item.nodeid: kinds for item in request.session.items
             if len(kinds := [m.name for m in item.iter_markers() if m.name in KINDS]) != 1}
    assert wrong == {}


def test_the_kinds_are_the_declared_markers():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]
    declared = {line.split(":")[0] for line in config["markers"]}
    assert set(KINDS) <= declared, set(KINDS) - declared
