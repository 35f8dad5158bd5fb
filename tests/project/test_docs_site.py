"""The documentation site builds, documents every public name, and reads well in a browser.

``mkdocs build --strict`` (config: ``docs/mkdocs/mkdocs.yml``) turns every
warning into a failure: a broken link or anchor, a page left out of the nav, a
docstring griffe cannot read. The API reference must hold an entry for every
name in ``taas_async.__all__`` and ``taas_async.sandbox.__all__``, so a new
public name without one fails here.

Then the built site is served on 127.0.0.1 and Debian's headless Chromium
loads the home page and the ``AsyncClient`` reference as a person would: the
dumped DOM must show the title, the navigation and every public method of
``AsyncClient``; the screenshot must show the theme's header bar, the
navigation and the text (not a blank or unstyled page). Set
``TAAS_DOCS_SCREENSHOTS`` to a folder to keep the two screenshots.

About docs, not the library: CI runs it once, and the nox matrix deselects it.
Skipped only where no Chromium binary is found.
"""

from __future__ import annotations

import functools
import http.server
import inspect
import os
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import browser
import pytest

import taas_async
import taas_async.sandbox

ROOT = Path(__file__).resolve().parents[2]  # tests/project/ -> the repository
CONFIG = ROOT / "docs" / "mkdocs" / "mkdocs.yml"
WINDOW = (1280, 900)
LIMIT = 60.0  # seconds for the build, and for one browser run
INDIGO = (64, 81, 181)  # the theme's header bar (palette primary: indigo, #4051b5)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The site, built with ``--strict`` into a temporary folder."""
    out = tmp_path_factory.mktemp("site")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}  # material's banner, not ours
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(CONFIG), "-d", str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=LIMIT,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-5000:]
    assert "WARNING" not in done.stderr, done.stderr[-5000:]
    return out


def anchors(folder: Path) -> set[str]:
    """Every ``id`` in the HTML pages under ``folder``."""
    found: set[str] = set()
    for page in folder.rglob("*.html"):
        found.update(re.findall(r'\bid="([^"]+)"', page.read_text()))
    return found


@pytest.mark.parametrize(
    ("package", "names"),
    [
        ("taas_async", taas_async.__all__),
        ("taas_async.sandbox", taas_async.sandbox.__all__),
    ],
)
def test_every_public_name_has_an_api_reference_entry(
    site: Path, package: str, names: list[str]
) -> None:
    ids = anchors(site / "reference")
    missing = [name for name in names if f"{package}.{name}" not in ids]
    assert not missing, f"add `::: {package}.<name>` to a page of docs/reference/: {missing}"


def test_the_reference_shows_markdown_defaults_and_public_bases(site: Path) -> None:
    # docs/mkdocs/griffe_sphinx.py rewrites the docstrings' Sphinx roles and ``::``
    # literal blocks, and shows an attrs field's default rather than its attrs.field(...);
    # docs/mkdocs/hooks.py drops private classes from "Bases:".
    for page in (site / "reference").rglob("*.html"):
        text = page.read_text()
        for leftover in (":class:", ":meth:", ":func:", ":mod:", ":attr:", ":data:", "::</p>"):
            assert leftover not in text, (page, leftover)
        assert "attrs.field(" not in text, page
        for bases in re.findall(r'<p class="doc doc-class-bases">(.*?)</p>', text, flags=re.S):
            # A class of the package without a link has no entry: a private one.
            # (A type variable may be unlinked: Generic[T].)
            for base in re.findall(r"<code>.*?</code>", bases, flags=re.S):
                assert not base.startswith('<code><span title="taas_async.'), (page, base)
    client = (site / "reference" / "client" / "index.html").read_text()
    # A #: comment above a constant is its entry's text; a role to a public class links.
    assert "Short connect, bounded read/write/pool wait" in client
    assert 'href="#taas_async.Backoff"' in client


def test_ci_builds_the_site_once_and_the_matrix_deselects_it() -> None:
    ci_lines = (ROOT / ".ci" / "run").read_text().splitlines()
    (matrix,) = [line for line in ci_lines if line.startswith("matrix_args=(")]
    assert "--deselect tests/project/test_docs_site.py" in matrix
    assert any('nox -s "tests-$python" -- "${matrix_args[@]}"' in line for line in ci_lines)
    (suite,) = [line for line in ci_lines if "-m pytest" in line]
    assert "test_docs_site" not in suite  # the README's command runs it, once
    pyproject = (ROOT / "pyproject.toml").read_text()
    dev = re.search(r"^dev = \[(.*?)^\]", pyproject, flags=re.S | re.M)
    assert dev is not None
    assert '"taas-async[docs]"' in dev[1]  # what CI installs builds the site


# ------------------------------------------------------------------ in a browser


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def served(site: Path) -> Iterator[str]:
    """The built site on 127.0.0.1, from a thread; its base URL."""
    handler = functools.partial(_Quiet, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def browse(url: str, profile: Path, screenshot: Path) -> str:
    """Load ``url`` in headless Chromium: its DOM after scripts ran, and a screenshot."""
    # 2 s of virtual time: the theme's scripts run.
    return browser.browse(
        url, profile, f"--screenshot={screenshot}", "--dump-dom", window=WINDOW, budget_ms=2000
    )


class Page(HTMLParser):
    """What the DOM shows: the title, the main navigation's entries, headings' ids."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.title = ""
        self.nav: list[str] = []
        self.headings: dict[str, str] = {}  # id -> text
        self.stylesheets: list[str] = []
        self._in: list[str] = []
        self._nav_depth = 0
        self._heading: str | None = None
        self._text: list[str] = []
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        classes = (a.get("class") or "").split()
        if tag == "title":
            self._in.append("title")
        if tag == "link" and a.get("rel") == "stylesheet":
            self.stylesheets.append(a.get("href") or "")
        if tag == "nav" and "md-nav--primary" in classes:
            self._nav_depth = 1
        elif tag == "nav" and self._nav_depth:
            self._nav_depth += 1
        if self._nav_depth and tag == "span" and "md-ellipsis" in classes:
            self._in.append("nav")
            self._text = []
        if re.fullmatch(r"h[1-6]", tag) and a.get("id"):
            self._heading = a["id"]
            self._text = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "title" and self._in and self._in[-1] == "title":
            self._in.pop()
        elif tag == "span" and self._in and self._in[-1] == "nav":
            self._in.pop()
            self.nav.append(" ".join("".join(self._text).split()))
        elif tag == "nav" and self._nav_depth:
            self._nav_depth -= 1
        elif re.fullmatch(r"h[1-6]", tag) and self._heading is not None:
            self.headings[self._heading] = " ".join("".join(self._text).split())
            self._heading = None

    def handle_data(self, data: str) -> None:
        if self._in and self._in[-1] == "title":
            self.title += data
        if (self._in and self._in[-1] == "nav") or self._heading is not None:
            self._text.append(data)


def looks_rendered(png: Path) -> None:
    """The screenshot shows a styled page: the theme's bar, and text on a light page."""
    from PIL import Image  # matplotlib's dependency (the dev extra)

    with Image.open(png) as image:
        assert image.size == WINDOW
        rgb = image.convert("RGB")
        header = rgb.getpixel((WINDOW[0] // 2, 10))  # the header bar, above any text
        near = all(abs(a - b) <= 8 for a, b in zip(header, INDIGO, strict=True))
        assert near, header  # the theme's CSS loaded
        body = rgb.crop((0, 80, WINDOW[0], WINDOW[1]))
        colors = body.getcolors(maxcolors=1_000_000)
        assert colors is not None
        dark = sum(count for count, (r, g, b) in colors if r + g + b < 3 * 128)
        light = sum(count for count, (r, g, b) in colors if r + g + b > 3 * 230)
        area = body.size[0] * body.size[1]
        assert light > area // 2  # a light page ...
        assert dark > area // 200  # ... with text on it
        assert len(colors) > 50  # antialiased text and highlighted code, not flat boxes
    assert png.stat().st_size > 20_000


def keep(shot: Path) -> None:
    folder = os.environ.get("TAAS_DOCS_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, Path(folder) / shot.name)


NAV = [
    "Home",
    "Quickstart",
    "Requests and validation",
    "Replies and types",
    "Errors",
    "Retries and reconciliation",
    "Fan-out and watching",
    "Streaming",
    "The sandbox and testing",
    "Transports",
    "Logging",
    "Performance",
    "Design",
    "FastAPI",
    "Migration from taas_api 1.2.9",
    "AsyncClient and settings",
    "The sandbox",
]


def test_the_home_page_in_a_browser(served: str, tmp_path: Path) -> None:
    shot = tmp_path / "docs-home.png"
    page = Page(browse(served + "/", tmp_path / "profile", shot))
    assert page.title.strip() == "taas-async"
    assert any(re.search(r"stylesheets/main\.\w+\.min\.css$", h) for h in page.stylesheets)
    for section in ("Guides", "Recipes", "API reference"):
        assert section in page.nav
    missing = [entry for entry in NAV if entry not in page.nav]
    assert not missing, page.nav
    assert page.headings.get("taas-async", "").startswith("taas-async")
    looks_rendered(shot)
    keep(shot)


def test_the_async_client_reference_in_a_browser(served: str, tmp_path: Path) -> None:
    shot = tmp_path / "docs-reference-client.png"
    page = Page(browse(served + "/reference/client/", tmp_path / "profile", shot))
    assert page.title.strip().startswith("AsyncClient and settings")
    assert page.headings["taas_async.AsyncClient"].startswith("AsyncClient")
    methods = [
        name
        for name, member in inspect.getmembers(taas_async.AsyncClient)
        if not name.startswith("_") and callable(member)
    ]
    assert {"place_order", "get_order", "watch_orders", "aclose"} <= set(methods)
    shown = {
        key.removeprefix("taas_async.AsyncClient."): text
        for key, text in page.headings.items()
        if key.startswith("taas_async.AsyncClient.")
    }
    missing = [name for name in methods if not shown.get(name, "").startswith(name)]
    assert not missing, f"methods of AsyncClient not rendered: {missing}"
    looks_rendered(shot)
    keep(shot)
