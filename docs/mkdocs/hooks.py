"""mkdocs hooks for the documentation site.

- Links from a page to repository files outside ``docs/``: a page links to
  ``../benchmarks/README.md`` or ``../examples/tour.py`` so that the link
  works where people read the Markdown (GitHub, an editor). The site holds
  only ``docs/``, so such a link is pointed at the file in the repository
  instead; a link to a file that does not exist is left as it is, for mkdocs
  to report (and ``--strict`` to refuse).
- Private base classes in the API reference: a public class may inherit from
  a private one (``Order`` from ``_Reply``); its inherited members are shown
  on the class itself, so the "Bases:" line names only public classes and
  builtins, and goes when none is left.
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


_BASES = re.compile(r'<p class="doc doc-class-bases">\s*Bases: (?P<items>.*?)</p>', flags=re.S)
_BASE = re.compile(r"<code>.*?</code>", flags=re.S)
# A class of this package that is not linked has no entry: it is private.
_PRIVATE_BASE = re.compile(r'^<code><span title="taas_async[.\w]*">')


def on_post_page(output: str, **kwargs: Any) -> str:
    """Drop private classes from the API reference's "Bases:" lines.

    On the finished page: cross-references are resolved only after every page
    is rendered, and then a base with an entry is a link, one without a span.
    """

    def replace(match: re.Match[str]) -> str:
        bases = [b for b in _BASE.findall(match["items"]) if not _PRIVATE_BASE.match(b)]
        if not bases:
            return ""
        return f'<p class="doc doc-class-bases">Bases: {", ".join(bases)}</p>'

    return _BASES.sub(replace, output)
