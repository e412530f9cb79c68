"""How the command line prints: rich tables and colour on a terminal, plain aligned text
when piped, and the text form of keys and values.

Every command prints through one `Out`, so the choice between the two forms is made in
one place. Text given to `Out.print` may carry rich markup (`[bold]...[/]`); user data
must go through `esc` first, or a key such as `[x]` would be read as markup.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text


def esc(text: str) -> str:
    """`text` with rich markup characters escaped (for user data inside markup)."""
    return escape(text)


class Out:
    """The standard output of one command."""

    def __init__(self, tty: bool | None = None) -> None:
        self.tty = sys.stdout.isatty() if tty is None else tty
        # Piped output is never wrapped or coloured: it is for grep, files and tests.
        self.console = Console(
            highlight=False,
            soft_wrap=not self.tty,
            force_terminal=self.tty,
            no_color=not self.tty,
        )

    def print(self, text: str = "", style: str | None = None) -> None:
        self.console.print(text, style=style)

    def plain(self, text: str) -> None:
        """Print `text` as is (no markup parsing), e.g. a value."""
        self.console.print(Text(text), soft_wrap=True)

    def rule(self, title: str) -> None:
        if self.tty:
            self.console.rule(f"[bold]{title}[/]", align="left")
        else:
            self.console.print(f"== {Text.from_markup(title).plain} ==")

    def table(
        self,
        columns: Sequence[str],
        rows: Sequence[Sequence[str]],
        *,
        title: str | None = None,
        right: Sequence[str] = (),
    ) -> None:
        """A table: rich on a terminal, aligned plain columns when piped.

        `right` names the columns to right-align (numbers). Cells are plain text.
        """
        if self.tty:
            table = Table(title=title, title_justify="left", header_style="bold")
            for name in columns:
                table.add_column(name, justify="right" if name in right else "left")
            for row in rows:
                table.add_row(*(Text(cell) for cell in row))
            self.console.print(table)
            return
        if title:
            self.console.print(Text(title))
        widths = [len(c) for c in columns]
        for row in rows:
            for i, cell in enumerate(row):
                widths[i] = max(widths[i], len(cell))

        def line(cells: Sequence[str]) -> str:
            parts = [
                cell.rjust(widths[i]) if columns[i] in right else cell.ljust(widths[i])
                for i, cell in enumerate(cells)
            ]
            return "  ".join(parts).rstrip()

        self.console.print(Text(line(columns)))
        for row in rows:
            self.console.print(Text(line(row)))


def err(message: str) -> None:
    """One line on standard error, prefixed with the program name."""
    print(f"lsmkv: {message}", file=sys.stderr)


def show_bytes(data: bytes, hex_mode: bool = False) -> str:
    """Bytes for display: UTF-8 text when printable (and not `hex_mode`), else 0x-hex."""
    if hex_mode:
        return data.hex()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return "0x" + data.hex()
    if text.isprintable():
        return text
    return "0x" + data.hex()


def show_hex(hex_text: str | None, hex_mode: bool = False) -> str:
    """A hex string from introspection results, shown as `show_bytes` would."""
    if hex_text is None:
        return ""
    return show_bytes(bytes.fromhex(hex_text), hex_mode)


def plural(n: int, word: str, words: str | None = None) -> str:
    """'1 entry', '2 entries': `words` is the plural when it is not `word` + 's'."""
    return f"{n} {word if n == 1 else (words or word + 's')}"


def n_entries(n: int) -> str:
    return plural(n, "entry", "entries")


def human_bytes(n: int | float) -> str:
    """1536 -> '1.5 KiB'; exact below 1 KiB."""
    value = float(n)
    if value < 1024:
        return f"{int(value)} B"
    for unit in ("KiB", "MiB", "GiB", "TiB"):
        value /= 1024
        if value < 1024 or unit == "TiB":
            return f"{value:.1f} {unit}"
    return f"{value:.1f} TiB"
