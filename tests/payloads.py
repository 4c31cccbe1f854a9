"""Hostile tenant text: what an attacker can put in a tenant name, a policy name, a UPN, an app name or
a CIPP client name. Every page, export and CLI must show these as inert text (SECURITY in README).

Each payload carries the marker ``evil`` in any address it would link to, so a test can assert that no
link, image or other element points there, whatever form the payload took on the way.
"""

from __future__ import annotations

EVIL = "evil"  # in every address below: no href/src in a page may contain it

HTML = [
    '<img src="https://evil.example/i.png" onerror="alert(1)">',
    "<script>window.evil=1</script>",
    '<a href="https://evil.example/html">html link</a>',
]
MARKDOWN_LINKS = [
    "[click here](https://evil.example/md)",
    "![pic](https://evil.example/pic.png)",
    "<https://evil.example/angle>",
    "[ref][1]\n\n[1]: https://evil.example/ref",
]
AUTO_LINKS = [
    "Reauth at www.evil.example/cipp",
    "see https://evil.example/plain now",
    "http://evil\u3002example/fullwidth",  # full-width ideographic full stop: browsers read it as '.'
    "www.evil\uff0eexample",  # full-width full stop
    "mail phish@evil.example today",
    "ftp://evil.example/file",
]
FORMULAS = [
    '=HYPERLINK("https://evil.example/f","open")',
    "+cmd|' /C calc'!A0",
    "-2+3+cmd|' /C calc'!A0",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "\t=1+1",
]
TERMINAL = [
    "\x1b[2J\x1b[HCleared",  # clear screen, cursor home
    "Nice name\x1b[1A\x1b[2K",  # cursor up, erase line
    "x\nTarget:  policy 'Harmless' (faked)",  # a faked line
    "\x1b]8;;https://evil.example/osc8\x07link\x1b]8;;\x07",  # OSC 8 hyperlink
    "\x1b]52;c;ZXZpbA==\x07clipboard",  # OSC 52 clipboard write
    "\x9b31mC1 CSI",  # 8-bit CSI
    "abc\u202edcba",  # right-to-left override
]
STREAMLIT_DIRECTIVES = [":red[alarm] :material/warning: $x^2$ **bold** _em_ `code`"]

ALL = HTML + MARKDOWN_LINKS + AUTO_LINKS + FORMULAS + TERMINAL + STREAMLIT_DIRECTIVES

# Characters a terminal must never receive raw from tenant text.
TERMINAL_CONTROLS = (
    {chr(c) for c in range(0x20) if chr(c) not in "\n\t"}
    | {"\x7f"}
    | {chr(c) for c in range(0x80, 0xA0)}
    | set("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
)
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
