"""Keep the book's pages offline and their consoles clean.

Two fixes to the HTML the theme and the notebooks produce:

- Each page's scripts are listed once: sphinx-thebe and sphinx-togglebutton are set up twice by Jupyter Book
  and the theme, which writes their inline ``const THEBE_JS_URL = ...`` twice, and the second declaration is a
  ``SyntaxError`` in every page's console. `dedupe_scripts` keeps the first of identical script entries.
- Remote stylesheets in notebook outputs are dropped (below).

matplotlib's ``Animation.to_jshtml`` (the kernel-free widget twins of chapters 3 and 5) links Font Awesome 4
from a CDN for its buttons. The theme already ships Font Awesome (its icons render the buttons), so the remote
``<link rel="stylesheet">`` only makes offline pages wait on a host they cannot reach; it is removed from raw
HTML outputs here. Remote *scripts* are left alone on purpose: tests/test_book.py reports them.
"""

from __future__ import annotations

import re
from typing import Any

from docutils import nodes
from sphinx.application import Sphinx
from sphinx.util import logging

logger = logging.getLogger(__name__)
REMOTE_STYLESHEET = re.compile(
    r"<link\b(?=[^>]*\brel=[\"']?stylesheet)(?=[^>]*\bhref=[\"']?(?:https?:)?//)[^>]*>\s*", re.I)


def drop_remote_stylesheets(app: Sphinx, doctree: nodes.document, docname: str) -> None:
    """Remove remote ``<link rel="stylesheet">`` tags from the raw HTML nodes of one document."""
    for node in doctree.findall(nodes.raw):
        if "html" not in node.get("format", "").split():
            continue
        text = node.astext()
        kept = REMOTE_STYLESHEET.sub("", text)
        if kept != text:
            logger.info("offline_html: %s: removed %d remote stylesheet link(s)", docname,
                        len(REMOTE_STYLESHEET.findall(text)))
            node.children = [nodes.Text(kept)]


def dedupe_scripts(app: Sphinx, pagename: str, templatename: str, context: dict[str, Any], doctree: Any) -> None:
    """Keep one of each identical script entry (same file or inline body, same attributes) on a page."""
    scripts = context.get("script_files")
    if not scripts:
        return
    seen: set[tuple[str, tuple[tuple[str, str], ...]]] = set()
    kept = []
    for js in scripts:
        attrs = getattr(js, "attributes", {}) or {}
        name = getattr(js, "filename", js) or ""  # an inline script's is None or "", by who added it
        key = (str(name), tuple(sorted((str(k), str(v)) for k, v in attrs.items())))
        if key not in seen:
            seen.add(key)
            kept.append(js)
    scripts[:] = kept


def setup(app: Sphinx) -> dict[str, Any]:
    app.connect("doctree-resolved", drop_remote_stylesheets)
    app.connect("html-page-context", dedupe_scripts)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
