"""What the vendor halves of the store share: the rows that hang on a checkpoint (``Dependent``)."""

from __future__ import annotations

from dataclasses import dataclass

from pipelines.store.fast import Row, Table


@dataclass
class Dependent:
    """Rows that exist only if the checkpoint named in column ``key`` was inserted (children, links, log)."""

    table: Table
    key: str  # attname of the column holding the checkpoint id
    rows: list[Row]
    ignore_conflicts: bool = True
