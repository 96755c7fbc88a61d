"""Every relative link in README.md, docs/ and bench/RESULTS.md resolves to a file of the
repository (and, with a #fragment, to one of its headings as GitHub names them)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LINK = re.compile(r"\]\(([^)\s]+)\)")


def documents() -> list[Path]:
    return [ROOT / "README.md", ROOT / "bench" / "RESULTS.md", *sorted((ROOT / "docs").glob("*.md"))]


def anchors(path: Path) -> set[str]:
    found = set()
    for line in path.read_text().splitlines():
        heading = re.match(r"#+ (.*)", line)
        if heading:
            found.add(re.sub(r"[^\w\- ]", "", heading.group(1).strip().lower()).replace(" ", "-"))
    return found


def broken_links(doc: Path, root: Path = ROOT) -> list[str]:
    text = re.sub(r"```.*?```", "", doc.read_text(), flags=re.S)  # code blocks hold no links
    broken = []
    for target in LINK.findall(text):
        if re.match(r"[a-z]+:", target):  # http:, https:, mailto:
            continue
        path, _, fragment = target.partition("#")
        dest = (doc.parent / path).resolve() if path else doc
        if not dest.is_relative_to(root) or not dest.exists():
            broken.append(f"{target}: no such file in the repository")
        elif fragment and fragment not in anchors(dest):
            broken.append(f"{target}: no such heading")
    return broken


def test_every_relative_link_resolves():
    docs = documents()
    assert all(d.exists() for d in docs) and len(docs) >= 4
    broken = {str(d.relative_to(ROOT)): broken_links(d) for d in docs}
    assert {k: v for k, v in broken.items() if v} == {}


def test_a_broken_link_would_be_caught(tmp_path):
    root = tmp_path / "repo"
    root.mkdir()
    (tmp_path / "outside.md").write_text("")
    doc = root / "x.md"
    doc.write_text("# Title\n[a](missing.md) [b](#title) [c](#nowhere) [d](https://example.com)\n"
                   "```\n[e](inside-code.md)\n```\n[f](../outside.md)\n")
    assert broken_links(doc, root=root) == ["missing.md: no such file in the repository",
                                            "#nowhere: no such heading",
                                            "../outside.md: no such file in the repository"]
