"""Sphinx extension of the latentkit book (loaded through ``sphinx: local_extensions`` in ``_config.yml``).

Jupyter Book 1 registers some inline scripts twice on every page (sphinx-thebe's ``const THEBE_JS_URL = ...``
and sphinx-togglebutton's selector): the second ``const`` declaration is a ``SyntaxError`` in the reader's
console. This extension keeps the first copy of each identical script, and adds the book's stylesheet.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

_STATIC = Path(__file__).resolve().parent.parent / "_static"


def _script_key(script: Any) -> tuple[str, tuple[tuple[str, str], ...]]:
    filename = getattr(script, "filename", script) or ""  # an inline script's is None or "", by who added it
    attributes = getattr(script, "attributes", {}) or {}
    return str(filename), tuple(sorted((str(k), str(v)) for k, v in attributes.items()))


def drop_duplicate_scripts(app: Any, pagename: str, templatename: str, context: dict, doctree: Any) -> None:
    """Remove the second and later copies of identical ``<script>`` entries from a page's context."""
    scripts = context.get("script_files")
    if not scripts:
        return
    seen: set[tuple[str, tuple[tuple[str, str], ...]]] = set()
    kept = []
    for script in scripts:
        key = _script_key(script)
        if key not in seen:
            seen.add(key)
            kept.append(script)
    scripts[:] = kept


def _add_static(app: Any) -> None:
    app.config.html_static_path.append(str(_STATIC))
    app.add_css_file("latentkit.css")


def setup(app: Any) -> dict[str, Any]:
    app.connect("builder-inited", _add_static)
    app.connect("html-page-context", drop_duplicate_scripts, priority=900)  # after every extension added its own
    return {"parallel_read_safe": True, "parallel_write_safe": True}
