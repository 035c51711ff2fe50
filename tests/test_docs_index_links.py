"""Every page under docs/ is reachable from docs/index.md, and every link there resolves."""

import re
from pathlib import Path

DOCS = Path(__file__).resolve().parent.parent / "docs"
LINK = re.compile(r"\]\(([^)#]+\.md)(?:#[^)]*)?\)")


def _links(page: Path) -> set[Path]:
    return {(page.parent / target).resolve() for target in LINK.findall(page.read_text())}


def test_every_docs_page_is_linked_from_the_index_or_a_page_it_links():
    reachable: set[Path] = set()
    todo = [(DOCS / "index.md").resolve()]
    while todo:
        page = todo.pop()
        if page in reachable or not page.exists():
            continue
        reachable.add(page)
        todo.extend(_links(page))
    pages = {p.resolve() for p in DOCS.rglob("*.md")}
    assert sorted(str(p.relative_to(DOCS)) for p in pages - reachable) == []


def test_links_in_docs_resolve():
    broken = [
        f"{page.relative_to(DOCS)} -> {target}"
        for page in DOCS.rglob("*.md")
        for target in _links(page)
        if not target.exists()
    ]
    assert broken == []
