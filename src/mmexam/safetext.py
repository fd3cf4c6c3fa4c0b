"""Text that came from a student, made safe to print or write anywhere.

Exception messages, printed output and names that student code sends back
are hostile: an ESC sequence in a message would reach the TA's terminal
(OSC 52 writes the clipboard, OSC 0 the window title, CSI 2J clears the
screen) and every file a report is written to. `printable` removes every C0
and C1 control character and DEL — all but newline and tab — so what is left
is plain text in the terminal, CSV, JSON and HTML alike. It is the one helper
for this: the sandbox's client applies it to everything a child sends back in
words, and the check result models apply it again to every message they hold.

Standard library only: the sandbox's client imports it.
"""

from __future__ import annotations

import re

__all__ = ["printable"]

# C0 (U+0000–U+001F) but tab and newline, DEL (U+007F), C1 (U+0080–U+009F).
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def printable(text: str) -> str:
    """`text` without control characters (newline and tab kept; CR LF becomes LF)."""
    if not text or (text.isascii() and text.isprintable()):  # nothing to remove
        return text
    return _CONTROL.sub("", text.replace("\r\n", "\n"))
