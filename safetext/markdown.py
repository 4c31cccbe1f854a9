"""Tenant text as inert Markdown for Streamlit: the one rule for every place the UI renders Markdown.

Streamlit renders Markdown (st.markdown, st.caption, alerts, toasts, st.metric's label, value and delta,
st.table cells, widget and expander labels, help tooltips) with remark-gfm and its own plugins. Escaping
Markdown's specials is not enough there, because several steps run on the *text* left after backslash
escapes have been resolved (Streamlit 1.67's frontend, StreamlitMarkdown*.js):

- remark-gfm's autolink literals: ``/(https?:\\/\\/|www(?=\\.))([-.\\w]+)([^ \\t\\r\\n]*)/gi`` and e-mail
  addresses ``/([-.\\w+]+)@([-\\w]+(?:\\.[-\\w]+)+)/gu`` become links. ``www\\.evil\\.example`` is still a
  link; so is ``www.evil．example`` (a full-width dot after the first label: browsers read U+3002,
  U+FF0E and U+FF61 in a host name as '.').
- ``:material/name:`` icons (the raw source is rewritten to ``:material_name:`` and matched again in
  text), ``:streamlit:``, emoji shortcodes (remark-emoji) and directives such as ``:red[...]``.

So besides escaping every ASCII punctuation character (CommonMark lets each one be escaped), this puts an
invisible U+2060 WORD JOINER where those text patterns would start: after every ':' (no scheme ``x://``,
no ``:name:`` or ``:name[``), after every '@' (no e-mail or ``mailto:``/``xmpp:`` form) and between ``www``
and a following dot of any width. Line breaks (and tabs, vertical tabs, form feeds, NEL, U+2028/U+2029)
become spaces, so tenant text cannot start a block (heading, list, quote, setext underline, definition);
leading spaces become no-break spaces, so it cannot start an indented code block either.

The result shows the same characters (plus invisible word joiners), never a link, image, element,
emphasis, icon, colour or formula. ``$`` is escaped, which keeps Streamlit from loading KaTeX.
"""

from __future__ import annotations

import re
import string

WORD_JOINER = "\u2060"
# Dots a browser accepts between host-name labels (IDNA maps these to '.').
DOTS = ".\u3002\uff0e\uff61"
_ASCII_PUNCTUATION = frozenset(string.punctuation)
_AFTER_JOINER = frozenset(":@")  # a word joiner follows each of these
_BREAKS = re.compile(r"\r\n|[\r\n\t\v\f\x85\u2028\u2029]")
_WWW = re.compile(f"(www)(?=[{re.escape(DOTS)}])", re.IGNORECASE)
_LEADING_SPACES = re.compile(r"^ +")


def markdown_text(value: object) -> str:
    """``value`` (as ``str``) as Markdown that Streamlit shows as exactly that text, inert.

    Use for every piece of text someone else wrote that reaches a Markdown-rendering element; embed the
    result in a constant template (``f"**Why:** {markdown_text(reason)}"``)."""
    text = _BREAKS.sub(" ", str(value))
    text = _WWW.sub(lambda m: m.group(1) + WORD_JOINER, text)
    out = []
    for ch in text:
        if ch in _ASCII_PUNCTUATION:
            out.append("\\" + ch)
            if ch in _AFTER_JOINER:
                out.append(WORD_JOINER)
        else:
            out.append(ch)
    return _LEADING_SPACES.sub(lambda m: "\u00a0" * len(m.group()), "".join(out))


# Invisible characters a copy from a page can carry into a form: the word joiners above, zero-width
# spaces and joiners, the byte-order mark.
_INVISIBLE = re.compile("[\u200b\u200c\u200d\u2060\ufeff]")


def typed_text(value: str) -> str:
    """What a person typed or pasted into a form, without the invisible characters copying tenant text
    from a page brings along (``markdown_text`` puts word joiners into UPNs and IPv6 addresses), and
    without surrounding spaces: so a value copied from one page finds its match in a filter or a range."""
    return _INVISIBLE.sub("", value).strip()


def shown_text(markdown: str) -> str:
    """What a reader sees of ``markdown_text(x)`` when Streamlit renders it, for tests: ``x`` with line
    breaks as spaces (escapes resolved, word joiners and no-break spaces undone)."""
    text = re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", markdown)
    return text.replace(WORD_JOINER, "").replace("\u00a0", " ")
