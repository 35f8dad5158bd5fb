"""mkdocs hooks: links from a page to repository files outside ``docs/``.

A page links to ``../benchmarks/README.md`` or ``../examples/tour.py`` so that
the link works where people read the Markdown (GitHub, an editor). The site
holds only ``docs/``, so such a link is pointed at the file in the repository
instead; a link to a file that does not exist is left as it is, for mkdocs to
report (and ``--strict`` to refuse).
"""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath
from typing import Any

REPOSITORY = "https://github.com/tread-labs/taas-async"
BRANCH = "main"
ROOT = Path(__file__).resolve().parents[2]  # docs/mkdocs/ -> the repository
DOCS = ROOT / "docs"

# An inline Markdown link or image target: ](target) or ](target#anchor).
_LINK = re.compile(r"\]\((?P<target>[^)\s#]+)(?P<anchor>#[^)\s]*)?\)")


def _outside_docs(page_path: str, target: str) -> str | None:
    """The repository path ``target`` names from the page, if it leaves ``docs/``."""
    if "://" in target or target.startswith(("/", "mailto:")):
        return None
    page_dir = (DOCS / PurePosixPath(page_path)).parent
    resolved = (page_dir / target).resolve()
    if resolved.is_relative_to(DOCS) or not resolved.is_relative_to(ROOT):
        return None
    if not resolved.exists():
        return None
    return resolved.relative_to(ROOT).as_posix()


def on_page_markdown(markdown: str, *, page: Any, **kwargs: Any) -> str:
    """Point links to repository files outside ``docs/`` at the repository."""

    def replace(match: re.Match[str]) -> str:
        path = _outside_docs(page.file.src_uri, match["target"])
        if path is None:
            return match[0]
        kind = "tree" if (ROOT / path).is_dir() else "blob"
        return f"]({REPOSITORY}/{kind}/{BRANCH}/{path}{match['anchor'] or ''})"

    return _LINK.sub(replace, markdown)
