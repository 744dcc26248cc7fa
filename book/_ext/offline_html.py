"""Keep the book's pages offline: drop remote stylesheets that notebook HTML outputs link to.

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


def setup(app: Sphinx) -> dict[str, Any]:
    app.connect("doctree-resolved", drop_remote_stylesheets)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
