"""Make Jupyter Book understand nbdev's `#|` cell directives.

nbdev writes cell options as leading comment lines (`#| export`, `#| hide`, `#| eval: false`, ...).
Jupyter Book knows nothing about them: the lines would show verbatim and `#| hide` cells would be
displayed. This Sphinx extension rewrites every `.ipynb` source in the `source-read` event, i.e.
*before* myst-nb parses and executes it:

- every `#| ...` line is removed from code cells (nbdev's leading directive block, and any stray
  `#|` comment line further down, which nbdev would not read but a reader would see), and from
  markdown cells (nbdev exports a `#| export` markdown cell of the index into the package docstring);
- directives become the cell tags that myst-nb / Jupyter Book understand (existing tags are kept):

  ========================================  =====================================================
  nbdev directive                           tag
  ========================================  =====================================================
  `hide`, `default_exp ...`,                `remove-cell` (the cell still runs: it may hold imports)
  `include: false`
  `echo: false`                             `remove-input`
  `output: false`                           `remove-output`
  `eval: false`                             `skip-execution` (nbclient does not run it)
  `code-fold: true`                         `hide-input` (collapsed, click to show)
  ========================================  =====================================================

  Other directives (`export`, `exports`, `exporti`, `export_to`, ...) are only removed.

Directives may also sit in a cell's metadata under the `nbdev` key (nbdev >= 3.3 "meta form");
those are mapped the same way. Cell magics (`%%time`) in the leading block are kept, first.

The transformation is the pure function :func:`process_notebook` (unit-tested in
`tests/test_book_ext.py`); :func:`setup` only wires it into Sphinx.
"""

from __future__ import annotations

import copy
import json
import re
from typing import Any

import nbformat

__version__ = "1.0.0"

# A directive line, as nbdev (fastcore.nbio) reads it: optional blanks, `#`, optional blanks, `|`.
_DIRECTIVE_RE = re.compile(r"^\s*#\s*\|")
_CELL_MAGIC_RE = re.compile(r"^\s*%%\w+")
_BLANK_RE = re.compile(r"^\s*$")
_NAME_VALUE_RE = re.compile(r"([^\s:]+)\s*:?\s?(.*?)\s*$", re.S)

FALSE_VALUES = {"false", "no", "0", "off"}
TRUE_VALUES = {"", "true", "yes", "1", "on"}


def parse_directive(line: str) -> tuple[str, str] | None:
    """`(name, value)` of one directive line (value `''` for a bare one), else None.

    Mirrors nbdev's parser: `#| eval: false` -> ('eval', 'false'); `#|hide` -> ('hide', '');
    `#| default_exp rate` -> ('default_exp', 'rate'); `#| eval: true` -> ('eval', '').
    """
    if not _DIRECTIVE_RE.match(line):
        return None
    body = _DIRECTIVE_RE.sub("", line, count=1).strip()
    m = _NAME_VALUE_RE.match(body)
    if not m:
        return None
    name, value = m.groups()
    return name, ("" if value == "true" else value)


def _flag(value: str, *, falsy: bool) -> bool:
    v = str(value).strip().strip("\"'").lower()
    return v in FALSE_VALUES if falsy else v in TRUE_VALUES


def directives_to_tags(directives: dict[str, str]) -> list[str]:
    """Jupyter Book tags for a cell's nbdev directives, in a stable order."""
    tags: list[str] = []
    if (
        ("hide" in directives and not _flag(directives["hide"], falsy=True))
        or "default_exp" in directives
        or ("include" in directives and _flag(directives["include"], falsy=True))
    ):
        tags.append("remove-cell")
    if "echo" in directives and _flag(directives["echo"], falsy=True):
        tags.append("remove-input")
    if "output" in directives and _flag(directives["output"], falsy=True):
        tags.append("remove-output")
    if "eval" in directives and _flag(directives["eval"], falsy=True):
        tags.append("skip-execution")
    if "code-fold" in directives and _flag(directives["code-fold"], falsy=False):
        tags.append("hide-input")
    return tags


def split_source(source: str) -> tuple[dict[str, str], str]:
    """Directives of a code cell's source and the source without any `#|` line.

    The leading block (directive lines, cell magics, blank lines) is where nbdev reads directives;
    magics are kept at the top, blank lines of that block are dropped. Later `#|` lines are dropped
    too (they are comments, so the code means the same) but are not read as directives.
    """
    lines = source.splitlines(keepends=True)
    directives: dict[str, str] = {}
    kept_head: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if _DIRECTIVE_RE.match(line):
            parsed = parse_directive(line)
            if parsed:
                directives.setdefault(parsed[0], parsed[1])
        elif _CELL_MAGIC_RE.match(line):
            kept_head.append(line)
        elif not _BLANK_RE.match(line):
            break
        i += 1
    body = [ln for ln in lines[i:] if not _DIRECTIVE_RE.match(ln)]
    new = "".join(kept_head + body)
    if new.endswith("\n") and not source.endswith("\n"):
        new = new[:-1]
    return directives, new


def _meta_directives(metadata: dict[str, Any]) -> dict[str, str]:
    d = (metadata or {}).get("nbdev") or {}
    if not isinstance(d, dict):
        return {}
    return {str(k): ("" if str(v) == "true" else str(v)) for k, v in d.items()}


def process_cell(cell: dict[str, Any]) -> dict[str, Any]:
    """Strip `#|` lines from one code or markdown cell (in place) and add the matching tags; returns the cell.

    Markdown cells carry directives too: nbdev exports a markdown cell marked `#| export` in the
    index notebook into the package's docstring (`help(redunet_book)`).
    """
    if cell.get("cell_type") not in ("code", "markdown"):
        return cell
    source = cell.get("source", "")
    if isinstance(source, list):
        source = "".join(source)
    directives, new_source = split_source(source)
    for k, v in _meta_directives(cell.get("metadata", {})).items():
        directives.setdefault(k, v)
    cell["source"] = new_source
    new_tags = directives_to_tags(directives)
    if new_tags:
        metadata = cell.setdefault("metadata", nbformat.NotebookNode())
        tags = list(metadata.get("tags", []))
        metadata["tags"] = tags + [t for t in new_tags if t not in tags]
    return cell


def process_notebook(nb: nbformat.NotebookNode, *, inplace: bool = False) -> nbformat.NotebookNode:
    """The notebook with nbdev directives turned into Jupyter Book tags (see module docstring)."""
    if not inplace:
        nb = copy.deepcopy(nb)
    for cell in nb.get("cells", []):
        process_cell(cell)
    return nb


def process_notebook_text(text: str) -> str:
    """`process_notebook` on a notebook's JSON text; text that is not a notebook is returned as is.

    Plain JSON in and out (no nbformat validation or version conversion): myst-nb reads the result
    exactly as it would have read the file.
    """
    try:
        data = json.loads(text)
    except ValueError:  # not JSON (e.g. a MyST markdown notebook): leave it to myst-nb
        return text
    if not isinstance(data, dict) or not isinstance(data.get("cells"), list):
        return text
    nb = process_notebook(nbformat.from_dict(data), inplace=True)
    return json.dumps(nb, ensure_ascii=False, indent=1) + "\n"


def _on_source_read(app, docname: str, source: list[str]) -> None:
    path = str(app.env.doc2path(docname))
    if path.endswith(".ipynb"):
        source[0] = process_notebook_text(source[0])


def setup(app) -> dict[str, Any]:
    # priority < 500 so that other source-read handlers see the cleaned notebook
    app.connect("source-read", _on_source_read, priority=100)
    return {"version": __version__, "parallel_read_safe": True, "parallel_write_safe": True}
