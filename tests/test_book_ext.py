"""The local Sphinx extension that turns nbdev `#|` directives into Jupyter Book cell tags.

Pure-function tests on nbformat notebooks (no Sphinx build): see book_ext/nbdev_directives.py.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

ROOT = Path(__file__).resolve().parents[1]
# Sphinx imports the extension the same way: `local_extensions` puts book_ext/ on sys.path.
sys.path.insert(0, str(ROOT / "book_ext"))
import nbdev_directives as nd  # noqa: E402


def run_cell(source: str, tags=None, metadata=None) -> tuple[str, list[str]]:
    """(new source, tags) of one code cell after processing."""
    md = dict(metadata or {})
    if tags is not None:
        md["tags"] = list(tags)
    nb = new_notebook(cells=[new_code_cell(source, metadata=md)])
    out = nd.process_notebook(nb)
    cell = out.cells[0]
    return cell.source, list(cell.metadata.get("tags", []))


@pytest.mark.parametrize(
    "source, tag",
    [
        ("#| hide\nimport torch", "remove-cell"),
        ("#| default_exp rate", "remove-cell"),
        ("#| include: false\nx = 1", "remove-cell"),
        ("#| echo: false\nx", "remove-input"),
        ("#| output: false\nx", "remove-output"),
        ("#| eval: false\nraise RuntimeError", "skip-execution"),
        ("#| code-fold: true\nx", "hide-input"),
    ],
)
def test_directive_to_tag(source, tag):
    new, tags = run_cell(source)
    assert tags == [tag]
    assert "#|" not in new
    assert new == "\n".join(source.splitlines()[1:])


@pytest.mark.parametrize("directive", ["export", "exports", "exporti", "export_to rate.py", "exec_doc"])
def test_other_directives_are_only_stripped(directive):
    new, tags = run_cell(f"#| {directive}\ndef f(x):\n    return x")
    assert new == "def f(x):\n    return x"
    assert tags == []


@pytest.mark.parametrize("line", ["#|hide", "#| hide", "# | hide", "  #|  hide  ", "#|hide\t"])
def test_directive_spellings(line):
    new, tags = run_cell(f"{line}\nimport os")
    assert (new, tags) == ("import os", ["remove-cell"])


@pytest.mark.parametrize("value", ["true", "True", "yes"])
def test_truthy_values_add_no_tag(value):
    for name in ("eval", "echo", "output", "include"):
        assert run_cell(f"#| {name}: {value}\nx")[1] == []


def test_several_directives_and_existing_tags_are_kept():
    new, tags = run_cell(
        "#| export\n#| eval: false\n#| echo: false\nx = 1",
        tags=["margin", "skip-execution"],
    )
    assert new == "x = 1"
    assert tags == ["margin", "skip-execution", "remove-input"]  # kept, no duplicate, appended


def test_cell_magic_stays_first_and_blank_lines_of_the_header_go():
    new, tags = run_cell("#| export\n\n%%time\n#| output: false\n\nx = 1\n\ny = 2\n")
    assert new == "%%time\nx = 1\n\ny = 2\n"
    assert tags == ["remove-output"]


def test_stray_directive_lines_are_removed_but_not_obeyed():
    new, tags = run_cell("x = 1\n#| hide\ny = 2  # a normal #| comment stays\n")
    assert new == "x = 1\ny = 2  # a normal #| comment stays\n"
    assert tags == []  # nbdev reads directives only at the top of a cell


def test_code_without_directives_is_unchanged():
    src = "import torch\n\n# comment\nx = torch.ones(3)"
    assert run_cell(src) == (src, [])


def test_markdown_cells_lose_their_directives():
    "nbdev exports a `#| export` markdown cell of the index into the package docstring: the line must not show."
    nb = new_notebook(cells=[new_markdown_cell("#| export\nSome *text* with $x$.\n#|not a directive here? still a #| line"),
                             new_markdown_cell("#| hide\nHidden."), new_markdown_cell("No directive, # | here.")])
    out = nd.process_notebook(nb)
    assert out.cells[0].source == "Some *text* with $x$." and "tags" not in out.cells[0].metadata
    assert out.cells[1].source == "Hidden." and out.cells[1].metadata["tags"] == ["remove-cell"]
    assert out.cells[2].source == "No directive, # | here."


def test_metadata_form_directives():
    # nbdev >= 3.3 also reads directives from the cell metadata key `nbdev`
    new, tags = run_cell("x = 1", metadata={"nbdev": {"hide": "true"}})
    assert (new, tags) == ("x = 1", ["remove-cell"])
    assert run_cell("x", metadata={"nbdev": {"eval": "false"}})[1] == ["skip-execution"]


def test_source_as_list_of_lines():
    nb = new_notebook(cells=[new_code_cell("")])
    nb.cells[0].source = ["#| hide\n", "import os\n"]
    out = nd.process_notebook(nb)
    assert out.cells[0].source == "import os\n"
    assert out.cells[0].metadata.tags == ["remove-cell"]


def test_process_notebook_copies_unless_inplace():
    nb = new_notebook(cells=[new_code_cell("#| hide\nimport os")])
    out = nd.process_notebook(nb)
    assert nb.cells[0].source == "#| hide\nimport os"  # input untouched
    assert out.cells[0].source == "import os"
    same = nd.process_notebook(nb, inplace=True)
    assert same is nb and nb.cells[0].source == "import os"


def test_outputs_and_other_metadata_survive():
    cell = new_code_cell("#| echo: false\nprint(1)", metadata={"scrolled": True})
    cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="1\n")]
    cell.execution_count = 3
    out = nd.process_notebook(new_notebook(cells=[cell])).cells[0]
    assert out.outputs == cell.outputs and out.execution_count == 3
    assert out.metadata.scrolled is True and out.metadata.tags == ["remove-input"]


def test_process_notebook_text_round_trip():
    nb = new_notebook(
        cells=[new_markdown_cell("# Title"), new_code_cell("#| hide\nimport os"), new_code_cell("x = 'é'")],
        metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
    )
    text = nd.process_notebook_text(nbformat.writes(nb))
    back = nbformat.reads(text, as_version=4)
    nbformat.validate(back)
    assert [c.source for c in back.cells] == ["# Title", "import os", "x = 'é'"]
    assert back.cells[1].metadata.tags == ["remove-cell"]
    assert back.metadata.kernelspec.name == "python3"


@pytest.mark.parametrize("text", ["", "# A MyST markdown page\n\n```{code-cell}\n#| hide\n```\n", "[1, 2]"])
def test_process_notebook_text_leaves_non_notebooks_alone(text):
    assert nd.process_notebook_text(text) == text


@pytest.mark.parametrize(
    "line",
    ["#| hide", "#|export", "# | eval: false", "#| default_exp rate", "#| echo:false",
     "#| code-fold: true", "#| export_to rate.py", "  #|  output: false  ", "x = 1", "# not | one"],
)
def test_parse_directive_matches_nbdev(line):
    """Same reading of a directive line as nbdev's own parser (fastcore.nbio)."""
    nbio = pytest.importorskip("fastcore.nbio", reason="fastcore (installed with nbdev) is missing")
    assert nd.parse_directive(line) == nbio._directive(line)


def test_sphinx_hook_rewrites_only_notebooks():
    class Env:
        def doc2path(self, docname):
            return ROOT / (docname + (".ipynb" if docname.startswith("nbs/") else ".md"))

    class App:
        env = Env()
        handlers: list = []

        def connect(self, event, handler, priority=500):
            self.handlers.append((event, handler))

    app = App()
    meta = nd.setup(app)
    assert meta["parallel_read_safe"] and meta["parallel_write_safe"]
    (event, handler), = app.handlers
    assert event == "source-read"

    src = [nbformat.writes(new_notebook(cells=[new_code_cell("#| hide\nimport os")]))]
    handler(app, "nbs/00_core", src)
    cell = json.loads(src[0])["cells"][0]
    assert cell["source"] == "import os" and cell["metadata"]["tags"] == ["remove-cell"]

    md = ["#| hide\nplain markdown page"]
    handler(app, "notes", md)
    assert md == ["#| hide\nplain markdown page"]


@pytest.mark.parametrize(
    "path", sorted((ROOT / "nbs").glob("*.ipynb")), ids=lambda p: p.name
)
def test_book_notebooks_have_no_directive_left(path):
    """Every notebook of the book: after the rewrite, no code line starts with `#|`."""
    nb = nd.process_notebook(nbformat.read(path, as_version=4))
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            bad = [ln for ln in cell.source.splitlines() if ln.lstrip().startswith("#|")]
            assert not bad, f"{path.name} cell {i}: {bad}"


# ---------------------------------------------------------------------------------------------
# book_ext/api_reference.py: the API reference generated from the package

import importlib  # noqa: E402
import re  # noqa: E402
import typing  # noqa: E402
from typing import NamedTuple, Optional  # noqa: E402

import yaml  # noqa: E402

import api_reference as api  # noqa: E402

PACKAGE = "redunet_book"


@pytest.fixture(scope="module")
def reference() -> str:
    return api.render_package(PACKAGE, ROOT / "nbs")


def test_every_module_and_public_name_is_documented(reference):
    """Each public module gets a section, and each name of its `__all__` a Python-domain entry."""
    modules = api.package_modules(PACKAGE, ROOT / "nbs")
    assert {"redunet_book.core", "redunet_book.rate", "redunet_book.vector"} <= set(modules)
    for modname in modules:
        assert f"## `{modname}`" in reference, modname
        mod = importlib.import_module(modname)
        section = reference.split(f"## `{modname}`", 1)[1].split("\n## `", 1)[0]
        for name in mod.__all__:
            assert re.search(rf"^:+\{{py:(function|class|exception|data)\}} {re.escape(name)}\b", section, re.M), (
                f"{modname}.{name} is not in the generated reference"
            )


def test_modules_follow_the_notebooks():
    """Modules come in the order of the notebooks that export them (`#| default_exp`)."""
    order = api.module_notebooks(ROOT / "nbs", PACKAGE)
    assert order["redunet_book.rate"] == "01_coding_rate"
    modules = api.package_modules(PACKAGE, ROOT / "nbs")
    stems = [order[m] for m in modules if m in order]
    assert stems == sorted(stems)
    assert all(not m.rsplit(".", 1)[1].startswith("_") for m in modules)  # no _modidx


def test_signature_docstring_and_docments(reference):
    """A documented function shows its signature, one-line docstring and parameter comments."""
    block = reference.split(":::{py:function} coding_rate(", 1)[1].split("\n:::\n", 1)[0]
    assert block.startswith("Z: Tensor, eps_sq: float) -> Tensor")
    assert ":module: redunet_book.rate" in block
    from redunet_book.rate import coding_rate

    assert api.first_line(coding_rate.__doc__) in block
    assert "- **`Z`** (`Tensor`): (m, n) features" in block   # the docment carries the shape
    assert "- **returns** (`Tensor`):" in block


def test_signatures_parse_as_python(reference):
    """Sphinx's Python domain parses every generated signature (else it falls back silently)."""
    from sphinx.util.inspect import signature_from_str

    sigs = re.findall(r"^:+\{py:(?:function|method|class|exception)\} \w+(\(.*\)(?: -> .+)?)$", reference, re.M)
    assert len(sigs) > 100
    for sig in sigs:
        signature_from_str(sig)  # raises SyntaxError on a bad one


def test_namedtuple_fields_with_comments():
    class Pair(NamedTuple):
        "Two tensors."
        a: "typing.Any"  # (m, n) first
        b: Optional[int] = None  # k, or None

    assert api.field_docs(Pair) == [("a", "typing.Any", "(m, n) first"), ("b", "Optional[int]", "k, or None")]
    lines = "\n".join(api.render_class("Pair", Pair, "mod"))
    assert "Fields:" in lines and "- **`a`**" in lines and "(m, n) first" in lines
    assert lines.startswith("::::{py:class} Pair(a: ") and "b: Optional[int] = None)" in lines.splitlines()[0]
    assert "ForwardRef" not in lines and "'" not in lines.splitlines()[0]


def test_unparseable_defaults_and_forward_refs_are_cleaned():
    def f(x: "Tensor", fn=len, obj=object(), *, k: int = 3) -> "Tensor":  # noqa: B008, F821  a forward reference on purpose
        "Doc."

    sig = api.signature_text(f)
    assert sig == "(x: Tensor, fn=..., obj=..., *, k: int = 3) -> Tensor"
    assert api._annotation(typing.ForwardRef("Tensor")) == "Tensor"


def test_env_vars_are_code_not_math():
    """`$REDUNET_BOOK_SCALE` in a docstring must not open a dollarmath span."""
    assert api.md_text("else $REDUNET_BOOK_SCALE, else 'book'") == "else `$REDUNET_BOOK_SCALE`, else 'book'"
    assert api.md_text("keeps $x$ math") == "keeps $x$ math"


def test_marker_expansion_and_sphinx_wiring(tmp_path):
    page = "# API\n\n<!-- api-reference: redunet_book -->\n"
    out = api.expand_markers(page, ROOT / "nbs", chapter_exists=lambda doc: False)
    assert "<!--" not in out and "## `redunet_book.core`" in out
    assert "{doc}" not in out                              # no link to a chapter that is not built
    linked = api.expand_markers(page, ROOT / "nbs")
    assert "Exported from the chapter {doc}`/nbs/01_coding_rate`." in linked
    assert api.expand_markers("no marker here", ROOT / "nbs") == "no marker here"

    class App:
        srcdir = str(ROOT)
        handlers = []
        env = type("Env", (), {"found_docs": {"nbs/00_core"}})()

        def connect(self, event, handler, priority=500):
            self.handlers.append((event, handler))

    app = App()
    meta = api.setup(app)
    assert meta["parallel_read_safe"]
    handlers = dict(app.handlers)
    src = [page]
    handlers["source-read"](app, "book/api", src)
    assert "Exported from the chapter {doc}`/nbs/00_core`." in src[0]
    assert "{doc}`/nbs/01_coding_rate`" not in src[0]


def test_book_config_checks_cross_references():
    """_config.yml: the extensions of the book are loaded, and missing references stay errors."""
    cfg = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf8"))
    sphinx_cfg = cfg["sphinx"]["config"]
    exts = sphinx_cfg["extensions"]
    for ext in ("sphinxcontrib.bibtex", "nbdev_directives", "api_reference", "sphinx_proof"):
        assert ext in exts
    assert set(cfg["sphinx"]["local_extensions"]) >= {"nbdev_directives", "api_reference"}
    for path in sphinx_cfg["bibtex_bibfiles"]:
        assert (ROOT / path).is_file(), path
    suppressed = set(sphinx_cfg.get("suppress_warnings", []))
    assert not suppressed & {"myst.xref_missing", "myst", "ref", "ref.ref", "ref.doc", "ref.any", "toc"}, suppressed
    assert sphinx_cfg.get("nitpicky") is True
    assert sphinx_cfg.get("myst_all_links_external", False) is False
    # the nitpick exemption covers other libraries only, never the package itself
    (domain, target), = sphinx_cfg["nitpick_ignore_regex"]
    assert re.fullmatch(target, "Tensor") and not re.fullmatch(target, "redunet_book.rate.coding_rate")


def test_bibliography_keys_are_cited():
    """Every entry of the bibliography is cited somewhere in the book (no dead entries)."""
    bib = (ROOT / "book" / "references.bib").read_text(encoding="utf8")
    keys = re.findall(r"^@\w+\{([^,]+),", bib, re.M)
    assert keys
    text = "\n".join(p.read_text(encoding="utf8") for p in [*(ROOT / "book").glob("*.md"), *(ROOT / "nbs").glob("*.ipynb")])
    cited = set()
    for group in re.findall(r"\{cite(?::\w+)?\}`([^`]+)`", text):
        cited |= {k.strip() for k in group.split(",")}
    assert set(keys) <= cited, set(keys) - cited
    assert cited <= set(keys), cited - set(keys)


def test_errata_page_covers_every_paper_vs_numbers_box():
    """Each chapter with a *Paper vs numbers* box is linked from book/errata.md (by page or label)."""
    errata = (ROOT / "book" / "errata.md").read_text(encoding="utf8")
    missing = []
    for path in sorted((ROOT / "nbs").glob("[0-9]*.ipynb")):   # the chapters (not index)
        nb = nbformat.read(path, as_version=4)
        md = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
        if not re.search(r"^(:::+|```)\{(warning|admonition)\}\s*Paper vs numbers", md, re.M):
            continue
        labels = set(re.findall(r"^\(([\w-]+)\)=", md, re.M))
        linked = f"/nbs/{path.stem}`" in errata or any(f"<{lab}>`" in errata for lab in labels)
        if not linked:
            missing.append(path.name)
    assert not missing, f"chapters with a 'Paper vs numbers' box that book/errata.md does not link: {missing}"


def test_book_pages_refer_to_existing_labels_and_pages():
    """Every {ref} / {doc} of the book/ pages names a label or a page that exists (caught before a build)."""
    labels = set()
    for path in [*(ROOT / "nbs").glob("*.ipynb"), *(ROOT / "book").glob("*.md"), *(ROOT / "book").glob("*.ipynb")]:
        labels |= set(re.findall(r"^\(([\w-]+)\)=", path.read_text(encoding="utf8").replace("\\n", "\n").replace('"', "\n"), re.M))
    for page in sorted((ROOT / "book").glob("*.md")):
        text = page.read_text(encoding="utf8")
        for target in re.findall(r"\{ref\}`(?:[^`<]*<)?([\w-]+)>?`", text):
            assert target in labels, f"{page.name}: no label ({target})="
        for target in re.findall(r"\{doc\}`(?:[^`<]*<)?([^`>]+)>?`", text):
            path = (ROOT / target.lstrip("/")) if target.startswith("/") else (page.parent / target)
            assert path.with_suffix(".md").exists() or path.with_suffix(".ipynb").exists(), f"{page.name}: no page {target}"
