"""What the first revision of each domain shares: its tables made, or adopted from a file of an earlier release."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

# A growing key: INTEGER on SQLite (the rowid itself), a BIGSERIAL on PostgreSQL.
SEQ = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def seq(name: str = "seq") -> sa.Column:
    return sa.Column(name, SEQ, primary_key=True, autoincrement=True)


def text(name: str, nullable: bool = False, **kwargs: object) -> sa.Column:
    return sa.Column(name, sa.Text(), nullable=nullable, **kwargs)  # type: ignore[arg-type]


def integer(name: str, nullable: bool = False, **kwargs: object) -> sa.Column:
    return sa.Column(name, sa.Integer(), nullable=nullable, **kwargs)  # type: ignore[arg-type]


def create_or_adopt(name: str, *columns: sa.Column | sa.Constraint, indexes: dict[str, list[str]] | None = None
                    ) -> None:
    """Create the table; a SQLite file written before the schema was versioned already has it: kept as it is when
    it has every column, else rebuilt with its rows in their order (its rowid becomes `seq`)."""
    bind = op.get_bind()
    inspector = sa.inspect(bind)
    wanted = [c.name for c in columns if isinstance(c, sa.Column)]
    if not inspector.has_table(name):
        op.create_table(name, *columns)
    else:
        found = {c["name"] for c in inspector.get_columns(name)}
        if not set(wanted) <= found:
            _rebuild(name, columns, wanted, found)
    present = {index["name"] for index in sa.inspect(bind).get_indexes(name)}
    for index, on in (indexes or {}).items():
        if index not in present:
            op.create_index(index, name, on)


def _rebuild(name: str, columns: tuple[sa.Column | sa.Constraint, ...], wanted: list[str], found: set[str]) -> None:
    legacy = f"legacy_{name}"
    op.rename_table(name, legacy)
    for index in sa.inspect(op.get_bind()).get_indexes(legacy):
        op.drop_index(index["name"], table_name=legacy)  # their names are the new table's
    op.create_table(name, *columns)
    kept = [c for c in wanted if c in found]
    into, select = list(kept), list(kept)
    if "seq" in wanted and "seq" not in found:
        into.append("seq")
        select.append("rowid")
    op.execute(f"INSERT INTO {name} ({', '.join(into)}) SELECT {', '.join(select)} FROM {legacy} ORDER BY rowid")
    op.drop_table(legacy)
