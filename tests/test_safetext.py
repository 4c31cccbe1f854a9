"""The output rules of safetext/: tenant text as inert Markdown (markdown_text) and as spreadsheet cells
(formula_safe), for every payload class of tests/payloads.py; and the guards that keep pages on them."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import payloads
import pytest

from safetext.cells import FORMULA_STARTS, formula_safe, formula_safe_rows
from safetext.markdown import WORD_JOINER, markdown_text, shown_text
from support import ROOT

# What Streamlit 1.67's frontend matches in text *after* backslash escapes are resolved
# (static/js/StreamlitMarkdown*.js): remark-gfm's autolink literals, e-mail literals, Streamlit's icon,
# logo and emoji shortcodes, and the directive form (:name[ ).
GFM_URL = re.compile(r"(https?://|www(?=\.))([-.\w]+)", re.IGNORECASE | re.ASCII)
GFM_EMAIL = re.compile(r"([-.\w+]+)@([-\w]+(?:\.[-\w]+)+)", re.ASCII)
SHORTCODE = re.compile(r":[\w+-][\w_+-]*:", re.ASCII)
DIRECTIVE = re.compile(r":[a-z][a-z0-9-]*\[", re.IGNORECASE)
DOTS = ".\u3002\uff0e\uff61"


def resolved(markdown: str) -> str:
    """The text remark's plugins see: CommonMark's backslash escapes resolved, nothing else."""
    return re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", markdown)


PUNCTUATION = r"""!"#$%&'()*+,-./:;<=>?@[\]^_`{|}~"""


def unescaped_specials(markdown: str) -> list[str]:
    """ASCII punctuation in ``markdown`` that no backslash escapes."""
    out, i = [], 0
    while i < len(markdown):
        ch = markdown[i]
        if ch == "\\" and i + 1 < len(markdown) and markdown[i + 1] in PUNCTUATION:
            i += 2
            continue
        if ch in PUNCTUATION:
            out.append(ch)
        i += 1
    return out


@pytest.mark.parametrize("payload", payloads.ALL)
def test_markdown_text_leaves_no_markup_link_or_directive(payload):
    out = markdown_text(payload)
    assert unescaped_specials(out) == []  # no emphasis, link, image, HTML, code, math, table, entity
    text = resolved(out)
    assert not GFM_URL.search(text), text
    assert not GFM_EMAIL.search(text), text
    assert not SHORTCODE.search(text) and ":material" not in text and not DIRECTIVE.search(text)
    assert not re.search(f"www[{DOTS}]", text, re.IGNORECASE)  # a full-width dot is a dot to a browser
    assert not re.search(r"[a-z]://", text, re.IGNORECASE)  # no scheme of any kind (ftp:// too)
    assert not any(ch in out for ch in "\r\n\t\v\f\x85\u2028\u2029")  # no line can start a block
    assert not out.startswith(" ")  # nor can leading spaces start an indented code block


@pytest.mark.parametrize("payload", payloads.ALL)
def test_markdown_text_shows_the_same_text(payload):
    expected = re.sub(r"\r\n|[\r\n\t\v\f\x85\u2028\u2029]", " ", payload)
    assert shown_text(markdown_text(payload)) == expected


@pytest.mark.parametrize(
    ("value", "broken"),
    [
        ("Reauth at www.evil.example/cipp", "www" + WORD_JOINER),
        ("WWW.evil.example", "WWW" + WORD_JOINER),
        ("www\u3002evil\u3002example", "www" + WORD_JOINER),
        ("www\uff61evil", "www" + WORD_JOINER),
        ("https://evil.example", ":" + WORD_JOINER),
        ("phish@evil.example", "@" + WORD_JOINER),
        ("mailto:phish@evil.example", ":" + WORD_JOINER),
        (":material/warning:", ":" + WORD_JOINER),
        (":red[alarm]", ":" + WORD_JOINER),
        (":streamlit:", ":" + WORD_JOINER),
        (":smile:", ":" + WORD_JOINER),
    ],
)
def test_each_text_pattern_start_is_broken_by_a_word_joiner(value, broken):
    assert broken in resolved(markdown_text(value))


def test_markdown_text_of_ordinary_text_and_odd_values():
    assert markdown_text("Contoso Ltd") == "Contoso Ltd"
    assert markdown_text("  indented") == "\u00a0\u00a0indented"
    assert markdown_text("a\n# b") == "a \\# b"
    assert markdown_text("x\n===") == "x \\=\\=\\="  # no setext heading
    assert markdown_text("&lt;") == "\\&lt\\;"  # an entity stays the text it is
    assert markdown_text(53003) == "53003"
    assert markdown_text(None) == "None"


def test_plain_is_the_markdown_rule():
    from ui.chrome import plain

    for payload in payloads.ALL:
        assert plain(payload) == markdown_text(payload)


def test_chart_label_escapes_html_and_latex():
    from ui.output import chart_label

    assert chart_label('<a href="https://evil.example">x</a>') == (
        '&lt;a href="https://evil.example"&gt;x&lt;/a&gt;'
    )
    assert chart_label('Zapier "test"') == 'Zapier "test"' and chart_label("O'Brien") == "O'Brien"
    assert chart_label("$x^2$").startswith(WORD_JOINER)
    assert chart_label("Contoso & Co") == "Contoso &amp; Co"


# --- cells -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("payload", payloads.FORMULAS + ["=1", "+1", "-x", "@x", "\tx", "\rx"])
def test_formula_safe_prefixes_every_formula_start(payload):
    out = formula_safe(payload)
    assert out == "'" + payload
    assert not out.startswith(FORMULA_STARTS)


@pytest.mark.parametrize("payload", payloads.ALL)
def test_no_payload_starts_a_formula_after_formula_safe(payload):
    out = formula_safe(payload)
    assert not out.startswith(payloads.FORMULA_STARTS)
    assert out == payload or out == "'" + payload


@pytest.mark.parametrize("value", [-5, -2.5, 0, 3, True, None, "", "Contoso", "a=b", " =1"])
def test_formula_safe_leaves_numbers_and_other_text_alone(value):
    assert formula_safe(value) == value


def test_formula_safe_rows_of_each_table_shape():
    import pandas as pd

    rows = [{"Tenant": "=HYPERLINK(1)", "Count": -3, "=Header": "+x"}]
    assert formula_safe_rows(rows) == [{"Tenant": "'=HYPERLINK(1)", "Count": -3, "'=Header": "'+x"}]
    assert formula_safe_rows([["@a", 1], ["b", -1]]) == [["'@a", 1], ["b", -1]]
    assert formula_safe_rows({"Name": ["-a", "b"], "N": [-1, 2]}) == {"Name": ["'-a", "b"], "N": [-1, 2]}
    assert formula_safe_rows((["-a"],)) == [["'-a"]]
    frame = pd.DataFrame({"Name": ["=a", "b", None], "N": [-1, 2, 3], "-col": ["x", "y", "z"]})
    safe = formula_safe_rows(frame)
    assert list(safe.columns) == ["Name", "N", "'-col"]
    assert safe["Name"].tolist()[:2] == ["'=a", "b"] and pd.isna(safe["Name"].tolist()[2])
    assert safe["N"].tolist() == [-1, 2, 3] and str(safe["N"].dtype) == "int64"
    assert frame["Name"].tolist()[:2] == ["=a", "b"]  # the caller's frame is not changed
    strings = pd.DataFrame({"s": pd.Series(["+1", "ok"], dtype="string")})
    assert formula_safe_rows(strings)["s"].tolist() == ["'+1", "ok"]
    assert formula_safe_rows(None) is None


# --- guards ----------------------------------------------------------------------------------------


def _calls(path: Path, names: set[str]) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [
        f"{path.relative_to(ROOT)}:{node.lineno} .{node.func.attr}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in names
    ]


def test_pages_show_tables_only_through_ui_output():
    """st.dataframe / st.table / st.data_editor (or a column's) only inside ui/output.py, so no table
    can skip the formula rule (and st.table the Markdown rule)."""
    files = [*(ROOT / "pages").glob("*.py"), *(ROOT / "ui").glob("*.py"), ROOT / "dashboard.py"]
    found = [
        call
        for path in files
        if path.name != "output.py"
        for call in _calls(path, {"dataframe", "table", "data_editor"})
    ]
    assert found == []


def test_safetext_imports_nothing_of_perimeter():
    project = {p.name for p in ROOT.iterdir() if p.is_dir() and (p / "__init__.py").exists()} - {"safetext"}
    for path in (ROOT / "safetext").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            assert not any(n.split(".")[0] in project for n in names), (path.name, names)


def _output_app():
    import payloads  # AppTest runs this function's body as a script: it imports for itself

    from ui.output import markdown_table, table

    table([{"Name": p, "N": -1} for p in payloads.ALL], key="rows")
    markdown_table([{"Name": p, "N": -1} for p in payloads.ALL])


def test_ui_output_tables_hold_only_safe_cells():
    """What Streamlit receives from ui.output: export-safe dataframe cells, inert Markdown table cells."""
    from streamlit.testing.v1 import AppTest

    app = AppTest.from_function(_output_app, default_timeout=30)
    app.run()
    assert not app.exception
    frame = app.dataframe[0].value
    assert frame["N"].tolist() == [-1] * len(payloads.ALL)
    assert frame["Name"].tolist() == [formula_safe(p) for p in payloads.ALL]
    assert not any(str(v).startswith(FORMULA_STARTS) for v in frame["Name"])
    cells = app.table[0].value
    assert cells.iloc[:, 0].tolist() == [markdown_text(formula_safe(p)) for p in payloads.ALL]


def test_text_copied_from_a_page_is_typed_back_without_its_invisible_characters():
    from investigate.filters import Filters
    from safetext.markdown import WORD_JOINER, typed_text

    pasted = f" alice@{WORD_JOINER}contoso.example\u200b "
    assert typed_text(pasted) == "alice@contoso.example"
    assert Filters(user=pasted).user == "alice@contoso.example"
    assert Filters.from_query_params({"ip": f"2001:{WORD_JOINER}db8::/32"}).ip == "2001:db8::/32"
