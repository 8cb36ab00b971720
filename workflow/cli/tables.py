"""Tables for people: operator text shown literally, readable in an 80-column terminal.

Every cell is a :class:`rich.text.Text`, never a markup string: reasons, keys and Sent's
messages are data typed by someone else, and ``[red]`` or ``[/]`` in them must print as typed
(as markup it is swallowed, or crashes the command). Their control characters (an escape
sequence, a line feed) print as visible escapes (:func:`workflow.core.printable.printable`).
Columns fold long values onto more lines instead of cutting them with an ellipsis; ``--json``
gives every field in full.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from workflow.core.printable import duration, printable, relative_time

if TYPE_CHECKING:
    from rich.console import Console
    from rich.text import Text

# rich loads only to print a table: the time helpers serve plain output too.

__all__ = [
    "TIME_FORMAT",
    "Column",
    "duration",
    "literal",
    "print_table",
    "relative_time",
    "short_time",
]

#: Table times: UTC, to the second, without the year (``--json`` has full ISO timestamps).
TIME_FORMAT = "%m-%d %H:%M:%S"


class Column:
    """A table column.

    Args:
        header: the column's title.
        fixed: keep the width of its longest value (up to ``max_width``) in any terminal;
            the other columns (free text) give way and wrap instead.
        max_width: fold longer values onto more lines.
        justify: ``left`` or ``right``.
    """

    def __init__(
        self,
        header: str,
        *,
        fixed: bool = False,
        max_width: int | None = None,
        justify: str = "left",
    ) -> None:
        self.header = header
        self.fixed = fixed
        self.max_width = max_width
        self.justify = justify


def literal(value: Any) -> Text:
    """``value`` as plain text: no markup, no emoji codes, no highlighting, control characters
    escaped; a tuple is a cell of several lines, one a value."""
    from rich.text import Text

    if isinstance(value, tuple):
        return Text("\n".join(printable(line) for line in value))
    return Text(printable(value))


def short_time(value: datetime | None) -> str:
    """A timestamp in :data:`TIME_FORMAT` (empty for ``None``)."""
    return value.strftime(TIME_FORMAT) if value is not None else ""


def print_table(
    columns: Sequence[Column],
    rows: Sequence[Sequence[Any]],
    *,
    title: str | None = None,
    console: Console | None = None,
    edge: bool = False,
) -> None:
    """Print rows under ``columns``, every cell literal, long values folded, never cut.

    Without an ``edge`` (the default) the table gains two columns of text in a narrow terminal.
    """
    from rich import box
    from rich.console import Console
    from rich.table import Table

    table = Table(title=literal(title) if title else None, box=box.ROUNDED, show_edge=edge)
    cells = [[literal(cell) for cell in row] for row in rows]
    for index, column in enumerate(columns):
        width = None
        if column.fixed:
            # A fixed width is never collapsed by rich (a minimum width can be, and then the
            # table overflows and the terminal cuts its last column).
            lines = [len(column.header)]
            lines += [len(line) for row in cells for line in row[index].plain.splitlines()]
            width = min(max(lines), column.max_width or max(lines))
        table.add_column(
            literal(column.header), overflow="fold", width=width, max_width=column.max_width,
            justify=column.justify,  # type: ignore[arg-type]
        )  # fmt: skip
    for row in cells:
        table.add_row(*row)
    (console or Console(highlight=False)).print(table)
