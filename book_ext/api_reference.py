"""The book's API reference, generated from the package at build time (so it cannot go stale).

A page (`book/api.md`) holds a marker line ``<!-- api-reference: redunet_book -->``. In Sphinx's
`source-read` event this extension replaces the marker with MyST markdown that documents the
package, module by module, in the order of the notebooks that export them (`#| default_exp`):

- one section per module (`## redunet_book.rate`), linking to the chapter that exports it and
  listing its `__all__` (the public names);
- per public name, a Sphinx Python-domain entry (`py:function`, `py:class`, `py:data`), so that
  it has an anchor and an index entry and can be cited as {py:func}`redunet_book.rate.coding_rate`;
- its signature (from `inspect.signature`), its one-line docstring (nbdev style), and the nbdev
  *docments* of its parameters and return value (the comments written after each parameter, read
  with `fastcore.docments`), which carry the shapes: ``Z: Tensor, # (m, n) features``;
- for classes: the fields of NamedTuples / dataclasses with their trailing comments, and the
  public methods and properties defined in the class, each with signature, docstring and docments.

The generation is the pure function :func:`render_package` (tested in `tests/test_book_ext.py`);
:func:`setup` only wires it into Sphinx and marks the page as always outdated.
"""

from __future__ import annotations

import ast
import dataclasses
import importlib
import inspect
import json
import re
import textwrap
from pathlib import Path
from typing import Any, Callable, Optional

__version__ = "1.0.0"

MARKER_RE = re.compile(r"^<!--\s*api-reference:\s*([\w.]+)\s*-->\s*$", re.M)
_DEFAULT_EXP_RE = re.compile(r"#\|\s*default_exp\s+([\w.]+)")
_ENV_VAR_RE = re.compile(r"(?<![`\w])\$([A-Z][A-Z0-9_]+)")  # $REDUNET_DATA: an env var, not math
_VALUE_MAX = 120
_FORWARD_REF_RE = re.compile(r"""ForwardRef\((['"])(.*?)\1\)""")  # NamedTuple fields: ForwardRef('Tensor')
_QUOTED_RE = re.compile(r"""^(['"])(.*)\1$""")  # a string annotation under `from __future__ import annotations`


# ---------------------------------------------------------------------------------------------
# facts about the package


def module_notebooks(nbs_dir: Path, package: str) -> dict[str, str]:
    """`{module: notebook stem}` from the `#| default_exp` cells of the notebooks in `nbs_dir`."""
    out: dict[str, str] = {}
    for nb in sorted(Path(nbs_dir).glob("*.ipynb")):
        try:
            cells = json.loads(nb.read_text(encoding="utf8")).get("cells", [])
        except (OSError, ValueError):
            continue
        for cell in cells:
            if cell.get("cell_type") != "code":
                continue
            src = cell.get("source", "")
            src = "".join(src) if isinstance(src, list) else src
            m = _DEFAULT_EXP_RE.search(src)
            if m:
                out.setdefault(f"{package}.{m.group(1)}", nb.stem)
                break
    return out


def package_modules(package: str, nbs_dir: Optional[Path] = None) -> list[str]:
    """The package's public modules (no leading underscore), in notebook order, then by name."""
    import pkgutil

    pkg = importlib.import_module(package)
    names = [f"{package}.{m.name}" for m in pkgutil.iter_modules(pkg.__path__) if not m.name.startswith("_")]
    order = module_notebooks(nbs_dir, package) if nbs_dir is not None else {}
    return sorted(names, key=lambda n: (order.get(n, "~"), n))


def public_names(module) -> list[str]:
    """`__all__` of the module, else its names without a leading underscore defined in it."""
    if hasattr(module, "__all__"):
        return list(module.__all__)
    return [n for n, v in vars(module).items()
            if not n.startswith("_") and getattr(v, "__module__", None) == module.__name__]


def first_line(doc: Optional[str]) -> str:
    """The first paragraph of a docstring, on one line ('' when there is none)."""
    if not doc:
        return ""
    para = inspect.cleandoc(doc).split("\n\n", 1)[0]
    return " ".join(line.strip() for line in para.splitlines())


def md_text(text: str) -> str:
    """A docstring or docment made safe for MyST: environment variables as code, no line breaks."""
    text = " ".join(str(text).split())
    return _ENV_VAR_RE.sub(r"`$\1`", text)


def _annotation(anno) -> str:
    if anno is inspect.Parameter.empty or anno is None:
        return ""
    text = anno if isinstance(anno, str) else inspect.formatannotation(anno)
    text = _FORWARD_REF_RE.sub(r"\2", text)
    m = _QUOTED_RE.match(text)
    return m.group(2) if m else text


def _safe_default(value) -> str:
    """The repr of a default, or '...' when it is not a Python expression (e.g. `<function f>`)."""
    text = repr(value)
    try:
        ast.parse(text, mode="eval")
    except SyntaxError:
        return "..."
    return text if len(text) <= 60 else "..."


def signature_text(obj, drop_self: bool = False) -> str:
    """`(a: int, b: Tensor = ...) -> Tensor`, parseable by Sphinx's Python domain."""
    try:
        sig = inspect.signature(obj)
    except (TypeError, ValueError):
        return "(...)"
    parts, seen_kwonly, prev_kind = [], False, None
    params = list(sig.parameters.values())
    if drop_self and params and params[0].name in ("self", "cls"):
        params = params[1:]
    for p in params:
        if prev_kind == p.POSITIONAL_ONLY and p.kind != p.POSITIONAL_ONLY:
            parts.append("/")
        if p.kind == p.KEYWORD_ONLY and not seen_kwonly:
            parts.append("*")
            seen_kwonly = True
        name = {p.VAR_POSITIONAL: "*", p.VAR_KEYWORD: "**"}.get(p.kind, "") + p.name
        if p.kind == p.VAR_POSITIONAL:
            seen_kwonly = True
        anno = _annotation(p.annotation)
        s = f"{name}: {anno}" if anno else name
        if p.default is not p.empty:
            s += f" = {_safe_default(p.default)}" if anno else f"={_safe_default(p.default)}"
        parts.append(s)
        prev_kind = p.kind
    if prev_kind == inspect.Parameter.POSITIONAL_ONLY:
        parts.append("/")
    ret = _annotation(sig.return_annotation)
    text = f"({', '.join(parts)})" + (f" -> {ret}" if ret else "")
    return " ".join(text.split())


def parameter_docs(obj) -> list[tuple[str, str, str]]:
    """`[(name, annotation, docment)]` of the documented parameters, 'return' last if documented."""
    try:
        from fastcore.docments import docments

        d = docments(obj, full=True)
    except Exception:  # builtins, C functions, objects without source
        return []
    out = []
    for name, info in d.items():
        if name in ("self", "cls") or not isinstance(info, dict):
            continue
        doc = info.get("docment")
        if doc:
            out.append((name, _annotation(info.get("anno", inspect.Parameter.empty)), str(doc)))
    out.sort(key=lambda t: t[0] == "return")
    return out


def field_docs(cls) -> list[tuple[str, str, str]]:
    """`[(field, annotation, trailing comment)]` of a NamedTuple / dataclass / annotated class body."""
    try:
        src = textwrap.dedent(inspect.getsource(cls))
    except (OSError, TypeError):
        return []
    lines = src.splitlines()
    try:
        tree = ast.parse(src)
    except SyntaxError:
        return []
    body = next((n for n in tree.body if isinstance(n, ast.ClassDef)), None)
    if body is None:
        return []
    out = []
    for node in body.body:
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            line = lines[node.end_lineno - 1]
            comment = line.split("#", 1)[1].strip() if "#" in line else ""
            out.append((node.target.id, _annotation(ast.unparse(node.annotation)), comment))
    return out


def _kind(obj) -> str:
    if inspect.isclass(obj):
        return "exception" if issubclass(obj, BaseException) else "class"
    if callable(obj):
        return "function"
    return "data"


def _value_text(obj) -> str:
    text = " ".join(repr(obj).split())
    return text if len(text) <= _VALUE_MAX else text[: _VALUE_MAX - 3] + "..."


def _param_list(items: list[tuple[str, str, str]], return_label: str = "returns") -> list[str]:
    lines = []
    for name, anno, doc in items:
        label = f"**{return_label}**" if name == "return" else f"**`{name}`**"
        anno_txt = f" (`{anno}`)" if anno else ""
        lines.append(f"- {label}{anno_txt}" + (f": {md_text(doc)}" if doc else ""))
    return lines


def _fence(n: int) -> str:
    return ":" * n


def render_callable(directive: str, name: str, obj, module: str, depth: int = 3,
                    drop_self: bool = False, extra_options: tuple[str, ...] = ()) -> list[str]:
    """MyST lines of one `py:function` / `py:method` entry."""
    f = _fence(depth)
    lines = [f"{f}{{py:{directive}}} {name}{signature_text(obj, drop_self=drop_self)}"]
    if module:
        lines.append(f":module: {module}")
    lines += list(extra_options)
    lines.append("")
    doc = first_line(inspect.getdoc(obj))
    if doc:
        lines += [md_text(doc), ""]
    params = _param_list(parameter_docs(obj))
    if params:
        lines += params + [""]
    lines.append(f)
    return lines


def class_members(cls) -> list[tuple[str, str, Any]]:
    """`[(name, 'method'|'classmethod'|'staticmethod'|'property', object)]` defined in the class body."""
    out = []
    for name, raw in vars(cls).items():
        if name.startswith("_"):
            continue
        if isinstance(raw, property):
            out.append((name, "property", raw))
        elif isinstance(raw, classmethod):
            out.append((name, "classmethod", raw.__func__))
        elif isinstance(raw, staticmethod):
            out.append((name, "staticmethod", raw.__func__))
        elif inspect.isfunction(raw):
            out.append((name, "method", raw))
    return out


def render_class(name: str, cls, module: str, kind: str = "class") -> list[str]:
    """MyST lines of one `py:class` entry with its fields and public methods."""
    sig = signature_text(cls)
    if sig.endswith(" -> None"):
        sig = sig[: -len(" -> None")]
    if sig in ("(...)", "(*args, **kwargs)", "()") and not issubclass(cls, BaseException):
        sig = "" if sig != "()" else sig
    lines = [f"::::{{py:{kind}}} {name}{sig}", f":module: {module}", ""]
    doc = first_line(inspect.getdoc(cls))
    if doc:
        lines += [md_text(doc), ""]
    fields = field_docs(cls)
    documented_fields = {f for f, _, _ in fields}
    init_docs = []
    if "__init__" in vars(cls) and not dataclasses.is_dataclass(cls):
        init_docs = [p for p in parameter_docs(cls.__init__) if p[0] not in documented_fields]
    if fields:
        lines.append("Fields:" if (dataclasses.is_dataclass(cls) or hasattr(cls, "_fields")) else "Attributes:")
        lines.append("")
        lines += _param_list(fields) + [""]
    if init_docs:
        lines += ["Parameters:", ""] + _param_list(init_docs, return_label="returns") + [""]
    for mname, mkind, mobj in class_members(cls):
        if mkind == "property":
            pdoc = first_line(inspect.getdoc(mobj))
            lines += [f":::{{py:property}} {mname}", ""]
            if pdoc:
                lines += [md_text(pdoc), ""]
            lines += [":::", ""]
            continue
        opts = (":classmethod:",) if mkind == "classmethod" else (":staticmethod:",) if mkind == "staticmethod" else ()
        lines += render_callable("method", mname, mobj, "", depth=3,
                                 drop_self=mkind in ("method", "classmethod"), extra_options=opts)
        lines.append("")
    lines.append("::::")
    return lines


def render_module(modname: str, chapter: Optional[str] = None, level: int = 2) -> str:
    """MyST markdown documenting one module: heading, chapter link, `__all__`, one entry per name."""
    mod = importlib.import_module(modname)
    names = public_names(mod)
    lines = [f"{'#' * level} `{modname}`", ""]
    summary = first_line(mod.__doc__)
    if summary and not summary.startswith("Docs:"):
        lines += [md_text(summary), ""]
    if chapter:
        lines += [f"Exported from the chapter {{doc}}`/{chapter}`.", ""]
    lines += ["Public names (`__all__`): " + ", ".join(f"`{n}`" for n in names) + ".", ""]
    for name in names:
        obj = getattr(mod, name)
        kind = _kind(obj)
        if kind in ("class", "exception"):
            lines += render_class(name, obj, modname, kind)
        elif kind == "function":
            lines += render_callable("function", name, obj, modname)
        else:
            lines += [f":::{{py:data}} {name}", f":module: {modname}", f":value: {_value_text(obj)}", "",
                      f"`{type(obj).__name__}`", "", ":::"]
        lines.append("")
    return "\n".join(lines)


def render_package(package: str, nbs_dir: Optional[Path] = None,
                   chapter_exists: Callable[[str], bool] = lambda doc: True, level: int = 2) -> str:
    """MyST markdown for every public module of the package (see the module docstring)."""
    chapters = module_notebooks(nbs_dir, package) if nbs_dir is not None else {}
    parts = []
    for modname in package_modules(package, nbs_dir):
        nb = chapters.get(modname)
        doc = f"nbs/{nb}" if nb else None
        parts.append(render_module(modname, doc if doc and chapter_exists(doc) else None, level))
    return "\n".join(parts)


def expand_markers(text: str, nbs_dir: Optional[Path] = None,
                   chapter_exists: Callable[[str], bool] = lambda doc: True) -> str:
    """Replace every `<!-- api-reference: PACKAGE -->` line of a page by the generated reference."""
    return MARKER_RE.sub(lambda m: render_package(m.group(1), nbs_dir, chapter_exists), text)


# ---------------------------------------------------------------------------------------------
# Sphinx wiring


def _on_source_read(app, docname: str, source: list[str]) -> None:
    if not MARKER_RE.search(source[0]):
        return
    nbs_dir = Path(app.srcdir) / "nbs"
    source[0] = expand_markers(source[0], nbs_dir, lambda doc: doc in app.env.found_docs)


def _always_outdated(app, env, added, changed, removed) -> list[str]:
    """Pages with a marker are re-read at every build: the package may have changed, not the page."""
    out = []
    for docname in env.found_docs:
        path = Path(env.doc2path(docname))
        if path.suffix == ".md" and path.is_file() and MARKER_RE.search(path.read_text(encoding="utf8")):
            out.append(docname)
    return out


def setup(app) -> dict[str, Any]:
    app.connect("source-read", _on_source_read)
    app.connect("env-get-outdated", _always_outdated)
    return {"version": __version__, "parallel_read_safe": True, "parallel_write_safe": True}
