"""Sphinx configuration of the harness's documentation site (``tox -e docs``).

Pages are MyST Markdown. Where README.md or docs/ARCHITECTURE.md already explains something, a page includes
that span (MyST's ``{include}``) instead of repeating it; :func:`_readme_for_the_site` adapts the included
text to the site (links, heading levels) without changing what it says. Building needs no network and no GPU:
autodoc imports harness modules, which import no torch at module level.
"""

from __future__ import annotations

import re
from pathlib import Path

import harness

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent

# -- Project -----------------------------------------------------------------------------------------------

project = "harness"
author = "the harness contributors"
copyright = "the harness contributors (MIT License)"
release = harness.__version__
version = ".".join(release.split(".")[:2])

# -- General -----------------------------------------------------------------------------------------------

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinxarg.ext",
]
source_suffix = {".md": "markdown"}
root_doc = "index"
# ARCHITECTURE.md is published through explanation/architecture.md, which includes it.
exclude_patterns = ["_build", "ARCHITECTURE.md", "Thumbs.db", ".DS_Store"]

# MyST: `#slug` anchors on headings down to ###, so `page.md#some-heading` links resolve.
myst_heading_anchors = 3
myst_enable_extensions = ["colon_fence", "deflist"]

# autodoc: the docstrings are reStructuredText; signatures keep their annotations.
autodoc_default_options = {"member-order": "bysource"}
autodoc_typehints = "signature"
autodoc_preserve_defaults = True


def _dataclass_factories(app, what, name, obj, options, signature, return_annotation):
    """A dataclass field's ``default_factory`` as the call it makes (``dict()``), not ``<factory>``.

    autodoc writes ``<factory>``, which is not Python, so Sphinx cannot parse the signature and shows it raw.
    """
    import dataclasses

    if what not in ("class", "exception") or not signature or "<factory>" not in signature:
        return None
    if not dataclasses.is_dataclass(obj):
        return None
    factories = iter(
        field.default_factory
        for field in dataclasses.fields(obj)
        if field.init and field.default_factory is not dataclasses.MISSING
    )

    def call(_match) -> str:
        name = getattr(next(factories, None), "__qualname__", "")
        return f"{name}()" if re.fullmatch(r"[A-Za-z_][\w.]*", name) else "<factory>"  # a lambda stays as it was

    return re.sub(r"<factory>", call, signature), return_annotation


# -- HTML --------------------------------------------------------------------------------------------------

html_theme = "furo"
html_title = f"harness {release}"
html_static_path: list[str] = []

# -- Included repository files -----------------------------------------------------------------------------

#: Repository files the site publishes as pages: a link to one of them in an included file goes to the page.
#: A key is a path relative to the repository root, with ``#anchor`` where the README links to one of its own
#: headings; a value is the page (``/`` is the docs folder) and the anchor there, if any. A relative link in an
#: included file that is not listed here is left as it is, so the strict build fails on it (add its page here).
PUBLISHED = {
    "docs/index.md": "/index.md",
    "docs/ARCHITECTURE.md": "/explanation/architecture.md",
    "benchmarks/README.md": "/explanation/overhead.md",
    "README.md#when-things-go-wrong": "/howto/resume.md",
    "README.md#big-sweeps-100000-runs": "/howto/report.md#big-sweeps-100000-runs",
}

#: Spans of included files whose headings a page raises, by the including page's name: (file, text before the
#: span, text after it), as in the page's ``{include}``. A span the README nests under its own heading starts at
#: a deeper level than the page needs: its plugin guide's headings are ####, under "## Writing a plugin", and the
#: sections of "## Reports" are ###. On a page whose # title stands for that heading, the span's shallowest
#: headings become ##, since MyST requires consecutive heading levels; the text is not changed.
PROMOTED = {
    "write-a-plugin": ("README.md", "<!-- plugin-guide:begin -->", "<!-- plugin-guide:end -->"),
    "report": ("README.md", "## Reports", "## Statistics and `harness compare`"),
    "workloads": ("README.md", "## Built-in workloads", "## What is measured"),
}

_LINK = re.compile(r"\]\(([^()\s]+)\)")
_ATX = re.compile(r"^( {0,3})(#{1,6})(?=\s|$)")


def _published(target: str, source: Path) -> str | None:
    """The site's page for a link ``target`` written in the repository file ``source``, or None."""
    if re.match(r"[a-z][a-z0-9+.-]*:", target):  # a URL (https:, mailto:) or a MyST link such as project:
        return None
    path, _, anchor = target.partition("#")
    file = (source.parent / path).resolve() if path else source
    try:
        key = file.relative_to(ROOT).as_posix()
    except ValueError:
        return None
    if anchor and f"{key}#{anchor}" in PUBLISHED:
        return PUBLISHED[f"{key}#{anchor}"]
    if path and key in PUBLISHED:  # a published file, as a whole or at one of its headings
        return PUBLISHED[key] + (f"#{anchor}" if anchor else "")
    return None


def _promote_headings(text: str, begin: str, end: str) -> str:
    """``text`` with the ATX headings between ``begin`` and ``end`` raised so that the shallowest is ``##``."""
    from markdown_it import MarkdownIt

    start = text.find(begin)
    stop = text.find(end, start + len(begin))
    if start < 0 or stop < 0:  # the include directive reports the missing marker itself
        return text
    start += len(begin)
    span = text[start:stop]
    headings = [
        token.map[0]
        for token in MarkdownIt("commonmark").parse(span)
        if token.type == "heading_open" and token.markup.startswith("#")
    ]
    lines = span.split("\n")
    levels = {line: len(found[2]) for line in headings if (found := _ATX.match(lines[line]))}  # not in a quote
    shift = min(levels.values(), default=2) - 2
    for line, level in levels.items():
        lines[line] = _ATX.sub(lambda m, level=level: m[1] + "#" * min(6, level - shift), lines[line], count=1)
    return text[:start] + "\n".join(lines) + text[stop:]


def _readme_for_the_site(app, relative_path, parent_docname, content) -> None:
    """``include-read``: in a file a page includes, a link to a published repository file goes to its page (the
    link is written relative to the included file, the page resolves it relative to itself), and a promoted span's
    headings rise."""
    source = (Path(app.srcdir) / relative_path).resolve()
    text = content[0]
    promoted = PROMOTED.get(str(parent_docname).rsplit("/", 1)[-1])  # MyST passes the page's name, Sphinx its path
    if promoted and source == ROOT / promoted[0]:
        text = _promote_headings(text, *promoted[1:])
    content[0] = _LINK.sub(lambda m: f"]({_published(m[1], source) or m[1]})", text)


def setup(app):
    app.connect("include-read", _readme_for_the_site)
    app.connect("autodoc-process-signature", _dataclass_factories)
    return {"parallel_read_safe": True}
