"""Text for a terminal: tenant text can never move the cursor, clear the screen, start a line, link or
write the clipboard.

One rule, two uses:

- :func:`terminal_value` for one value that goes *into* a line (a policy, tenant or user name, a CIPP
  client name, an error message from a service): every character a terminal would act on — each C0
  control including ``\\n``, ``\\r`` and ``\\t``, DEL, each C1 control (``\\x80``-``\\x9f``, the 8-bit
  CSI/OSC among them), the bidirectional and format controls that reorder what is shown (U+061C,
  U+200E, U+200F, U+202A-U+202E, U+2066-U+2069), the line/paragraph separators U+2028/U+2029 and
  lone surrogates — is shown as a visible escape such as ``\\u001b``. A newline in a name therefore
  cannot start a fake line.
- :func:`terminal_output` for a whole output (a table, a report, a JSON document) just before it is
  written: the same escapes, except that ``\\n`` and ``\\t`` are kept. The escape is the ``\\uXXXX``
  form, which is itself a valid JSON string escape, so a JSON document stays valid and still parses
  back to the exact original strings (``json.dumps(..., ensure_ascii=False)`` escapes C0 but leaves
  C1 and bidi controls raw; this pass escapes those).

This module imports nothing of Perimeter: every layer may use it.
"""

from __future__ import annotations

import os
import re
import sys

from safetext.secrets import redact

__all__ = ["UNSAFE_CHARACTERS", "terminal_output", "terminal_value"]

_C0 = "\x00-\x1f"
_DEL_C1 = "\x7f-\x9f"
_FORMAT = "\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069"
_SURROGATES = "\ud800-\udfff"

_IN_VALUE = re.compile(f"[{_C0}{_DEL_C1}{_FORMAT}{_SURROGATES}]")
_IN_OUTPUT = re.compile(f"[\x00-\x08\x0b-\x1f{_DEL_C1}{_FORMAT}{_SURROGATES}]")  # keeps \t (09), \n (0a)

# Every character terminal_value escapes (for tests and for callers that check rather than escape).
UNSAFE_CHARACTERS = frozenset(
    chr(c)
    for c in [
        *range(0x20),
        *range(0x7F, 0xA0),
        0x061C,
        0x200E,
        0x200F,
        0x2028,
        0x2029,
        *range(0x202A, 0x202F),
        *range(0x2066, 0x206A),
        *range(0xD800, 0xE000),
    ]
)


def _escape(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group()):04x}"


def terminal_value(value: object) -> str:
    """One value made safe to put inside a line: every control shown as ``\\uXXXX``, no line breaks.

    ``None`` becomes the empty string; other non-strings are shown by ``str()``.
    """
    text = "" if value is None else value if isinstance(value, str) else str(value)
    return _IN_VALUE.sub(_escape, text)


def terminal_output(text: str) -> str:
    """A whole output made safe to write: like :func:`terminal_value` but keeping ``\\n`` and ``\\t``.

    Defence in depth at each writer; JSON text stays valid JSON with the same parsed strings.
    """
    return _IN_OUTPUT.sub(_escape, text)


def write_output(text: str) -> None:
    """Write a command's output to standard output through :func:`terminal_output`. A reader that went
    away (``… | head``) is not an error of ours: the rest is dropped quietly."""
    try:
        sys.stdout.write(terminal_output(text) + "\n")
        sys.stdout.flush()
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def write_error(command: str, line: str, secrets: tuple[str, ...] = ()) -> None:
    """One line on standard error, after the command's name: secrets masked, every control character
    escaped."""
    print(f"{command}: {terminal_value(redact(line, secrets))}", file=sys.stderr, flush=True)
