"""Full-text search of prompts: the query syntax, and the SQL for each database engine.

Syntax (what the search box accepts):

- ``lighthouse storm``: every word must appear (AND);
- ``"oil painting"``: the words as a phrase, in that order;
- ``-people`` or ``-"text logo"``: leave out prompts with that word or phrase.

Anything else is taken as words. User input never reaches the engine's query language as
syntax: it is split into runs of letters and digits, and each term is handed over as a quoted
phrase (SQLite FTS5) or through ``phraseto_tsquery`` (PostgreSQL), so no input can cause a
syntax error; odd input just finds less.

Indexes, made by migration 0003 for the engine in use:

- SQLite: ``gallery_generation_fts``, an external-content FTS5 table over ``prompt`` (Porter
  stemming, accents folded), kept in step by triggers;
- PostgreSQL: a stored generated ``tsvector`` column, ``prompt_search``
  (``to_tsvector('english', prompt)``), with a GIN index.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.db import connection
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import BigIntegerField, BooleanField, F, Q, QuerySet
from django.db.models.expressions import Expression, RawSQL

FTS_TABLE = "gallery_generation_fts"
PG_CONFIG = "english"
# A stored generated column: the ORM never names it, PostgreSQL keeps it in step, and a row
# read while paging is checked without re-parsing its prompt.
PG_VECTOR = '"gallery_generation"."prompt_search"'

# Cap the work one query can ask for: a pasted essay is cut, not run.
MAX_TERMS = 16
MAX_TEXT = 500

_TOKEN = re.compile(r'(-?)"([^"]*)"?|(\S+)')
_WORD = re.compile(r"\w+")

SQLITE_CREATE = [
    """CREATE VIRTUAL TABLE IF NOT EXISTS gallery_generation_fts USING fts5(
        prompt, content='gallery_generation', content_rowid='id',
        tokenize='porter unicode61 remove_diacritics 2')""",
]
# Triggers keep the external-content index in step with the table. IF NOT EXISTS: they are
# re-created after every migrate, because SQLite's schema editor rebuilds a table (dropping
# its triggers) for many ALTERs.
SQLITE_TRIGGERS = [
    """CREATE TRIGGER IF NOT EXISTS gallery_generation_fts_ai AFTER INSERT ON gallery_generation
    BEGIN
        INSERT INTO gallery_generation_fts(rowid, prompt) VALUES (new.id, new.prompt);
    END""",
    """CREATE TRIGGER IF NOT EXISTS gallery_generation_fts_ad AFTER DELETE ON gallery_generation
    BEGIN
        INSERT INTO gallery_generation_fts(gallery_generation_fts, rowid, prompt)
        VALUES ('delete', old.id, old.prompt);
    END""",
    """CREATE TRIGGER IF NOT EXISTS gallery_generation_fts_au AFTER UPDATE OF prompt
    ON gallery_generation
    BEGIN
        INSERT INTO gallery_generation_fts(gallery_generation_fts, rowid, prompt)
        VALUES ('delete', old.id, old.prompt);
        INSERT INTO gallery_generation_fts(rowid, prompt) VALUES (new.id, new.prompt);
    END""",
]
SQLITE_REBUILD = "INSERT INTO gallery_generation_fts(gallery_generation_fts) VALUES ('rebuild')"
SQLITE_DROP = [
    "DROP TRIGGER IF EXISTS gallery_generation_fts_ai",
    "DROP TRIGGER IF EXISTS gallery_generation_fts_ad",
    "DROP TRIGGER IF EXISTS gallery_generation_fts_au",
    "DROP TABLE IF EXISTS gallery_generation_fts",
]
POSTGRES_COLUMN = (
    "ALTER TABLE gallery_generation ADD COLUMN IF NOT EXISTS prompt_search tsvector "
    f"GENERATED ALWAYS AS (to_tsvector('{PG_CONFIG}'::regconfig, prompt)) STORED"
)
POSTGRES_CREATE = [
    "CREATE INDEX IF NOT EXISTS generation_prompt_fts ON gallery_generation "
    "USING gin (prompt_search)"
]
POSTGRES_DROP = ["DROP INDEX IF EXISTS generation_prompt_fts"]
POSTGRES_DROP_COLUMN = "ALTER TABLE gallery_generation DROP COLUMN IF EXISTS prompt_search"


@dataclass(frozen=True)
class SearchQuery:
    """A parsed search: each term is a tuple of words (more than one word: a phrase)."""

    include: tuple[tuple[str, ...], ...] = ()
    exclude: tuple[tuple[str, ...], ...] = ()

    def __bool__(self) -> bool:
        return bool(self.include or self.exclude)


def parse(text: str) -> SearchQuery:
    """Split what a user typed into terms to find and terms to leave out."""
    include: list[tuple[str, ...]] = []
    exclude: list[tuple[str, ...]] = []
    for match in _TOKEN.finditer(text[:MAX_TEXT]):
        negated, quoted, bare = match.group(1), match.group(2), match.group(3)
        if bare is not None:
            negated = "-" if bare.startswith("-") and len(bare) > 1 else ""
            quoted = bare[1:] if negated else bare
        words = tuple(w.lower() for w in _WORD.findall(quoted or ""))
        if not words:
            continue
        target = exclude if negated else include
        if words not in target:
            target.append(words)
    return SearchQuery(tuple(include[:MAX_TERMS]), tuple(exclude[:MAX_TERMS]))


def matches(query: SearchQuery, vendor: str | None = None) -> Q:
    """A filter on Generation for rows whose prompt matches `query` (all rows if empty)."""
    if not query:
        return Q()
    vendor = vendor or connection.vendor
    if vendor == "sqlite":
        return _sqlite(query)
    if vendor == "postgresql":
        return _postgres(query)
    return _fallback(query)


def narrow(rows: QuerySet, query: SearchQuery, vendor: str | None = None) -> QuerySet:
    """`rows` narrowed to those matching `query`. Order and cut pages on `key(query)`."""
    if not query:
        return rows
    vendor = vendor or connection.vendor
    if vendor == "sqlite" and query.include:
        # A join rather than `id IN (matches)`: FTS5 then streams its matches in rowid order
        # and a page stops after its last row, instead of first collecting every match (at a
        # million rows, 0.2 ms instead of 18 ms for a common word).
        return rows.extra(
            tables=["gallery_generation_fts"],
            where=[
                '"gallery_generation_fts" MATCH %s',
                '"gallery_generation_fts"."rowid" = "gallery_generation"."id"',
            ],
            params=[_fts5_expression(query)],
        )
    return rows.filter(matches(query, vendor))


def key(query: SearchQuery, vendor: str | None = None) -> Expression | F:
    """The id to order and cut pages on: the row's own, or on SQLite when joined to the FTS
    table, the FTS rowid (the same number), so that SQLite can use FTS5's own order."""
    vendor = vendor or connection.vendor
    if vendor == "sqlite" and query.include:
        return RawSQL('"gallery_generation_fts"."rowid"', (), output_field=BigIntegerField())
    return F("id")


def _fts5_expression(query: SearchQuery) -> str:
    expression = " AND ".join(_fts5_phrase(t) for t in query.include)
    return expression + "".join(f" NOT {_fts5_phrase(t)}" for t in query.exclude)


def _fts5_phrase(words: tuple[str, ...]) -> str:
    # Words hold only letters, digits and "_", so they need no escaping inside the quotes.
    return '"' + " ".join(words) + '"'


def _sqlite(query: SearchQuery) -> Q:
    sub = (
        '"gallery_generation"."id" {} '
        "(SELECT rowid FROM gallery_generation_fts WHERE gallery_generation_fts MATCH %s)"
    )
    if query.include:
        expression = _fts5_expression(query)
        # The user's words travel as a parameter; the SQL around them is fixed.
        return Q(RawSQL(sub.format("IN"), [expression], output_field=BooleanField()))  # noqa: S611
    # FTS5 has no "everything but": leave out what matches any excluded term.
    expression = " OR ".join(_fts5_phrase(t) for t in query.exclude)
    return Q(RawSQL(sub.format("NOT IN"), [expression], output_field=BooleanField()))  # noqa: S611


def _postgres(query: SearchQuery) -> Q:
    parts, params = [], []
    for words in query.include:
        parts.append(f"phraseto_tsquery('{PG_CONFIG}'::regconfig, %s)")
        params.append(" ".join(words))
    for words in query.exclude:
        parts.append(f"(!! phraseto_tsquery('{PG_CONFIG}'::regconfig, %s))")
        params.append(" ".join(words))
    sql = f"{PG_VECTOR} @@ ({' && '.join(parts)})"
    # Only fixed fragments are joined into the SQL; the user's words are parameters.
    return Q(RawSQL(sql, params, output_field=BooleanField()))  # noqa: S611


def _fallback(query: SearchQuery) -> Q:
    """Other engines: case-insensitive substring matching, correct but unindexed."""
    condition = Q()
    for words in query.include:
        condition &= Q(prompt__icontains=" ".join(words))
    for words in query.exclude:
        condition &= ~Q(prompt__icontains=" ".join(words))
    return condition


def install(conn: BaseDatabaseWrapper) -> None:
    """Create the search index for this connection's engine (used by migration 0003)."""
    with conn.cursor() as cursor:
        if conn.vendor == "sqlite":
            for sql in [*SQLITE_CREATE, *SQLITE_TRIGGERS, SQLITE_REBUILD]:
                cursor.execute(sql)
        elif conn.vendor == "postgresql":
            for sql in [POSTGRES_COLUMN, *POSTGRES_CREATE]:
                cursor.execute(sql)


def uninstall(conn: BaseDatabaseWrapper) -> None:
    with conn.cursor() as cursor:
        if conn.vendor == "sqlite":
            for sql in SQLITE_DROP:
                cursor.execute(sql)
        elif conn.vendor == "postgresql":
            for sql in [*POSTGRES_DROP, POSTGRES_DROP_COLUMN]:
                cursor.execute(sql)


def restore_sqlite_triggers(conn: BaseDatabaseWrapper) -> None:
    """After migrate: put back triggers that a table rebuild may have dropped. The index
    itself stays valid through a rebuild (same ids, same prompts)."""
    if conn.vendor != "sqlite":
        return
    with conn.cursor() as cursor:
        cursor.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name=%s", [FTS_TABLE])
        if cursor.fetchone() is None:
            return  # migrated back before 0003, or not yet there
        for sql in SQLITE_TRIGGERS:
            cursor.execute(sql)
