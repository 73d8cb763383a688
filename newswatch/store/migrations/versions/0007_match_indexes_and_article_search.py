"""store: indexes for listing and pruning, and a full-text index over articles

`newswatch matches` lists newest first (optionally one rule's) from an index on
(matched_at, id) / (rule_id, matched_at, id); `newswatch prune` finds old articles by
fetched_at. `--search` reads a word index: FTS5 on SQLite (an external-content table kept
in step by triggers), a GIN index over a 'simple' tsvector on PostgreSQL (built in, no
extension to install). Both index words, so a search finds whole words and phrases the way
rules do; a LIKE '%text%' could use neither backend's b-tree index.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03 13:40:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SQLITE_SEARCH = [
    """CREATE VIRTUAL TABLE article_fts USING fts5(
        title, summary, body, content='article', content_rowid='id',
        tokenize='unicode61 remove_diacritics 2')""",
    """CREATE TRIGGER article_fts_insert AFTER INSERT ON article BEGIN
        INSERT INTO article_fts(rowid, title, summary, body)
        VALUES (new.id, new.title, new.summary, new.body);
    END""",
    """CREATE TRIGGER article_fts_delete AFTER DELETE ON article BEGIN
        INSERT INTO article_fts(article_fts, rowid, title, summary, body)
        VALUES ('delete', old.id, old.title, old.summary, old.body);
    END""",
    """CREATE TRIGGER article_fts_update AFTER UPDATE OF title, summary, body ON article BEGIN
        INSERT INTO article_fts(article_fts, rowid, title, summary, body)
        VALUES ('delete', old.id, old.title, old.summary, old.body);
        INSERT INTO article_fts(rowid, title, summary, body)
        VALUES (new.id, new.title, new.summary, new.body);
    END""",
    "INSERT INTO article_fts(article_fts) VALUES ('rebuild')",  # the articles stored so far
]
SQLITE_SEARCH_DROP = [
    "DROP TRIGGER IF EXISTS article_fts_update",
    "DROP TRIGGER IF EXISTS article_fts_delete",
    "DROP TRIGGER IF EXISTS article_fts_insert",
    "DROP TABLE IF EXISTS article_fts",
]
# the same expression as newswatch.store.search's query, or PostgreSQL will not use it
POSTGRESQL_SEARCH = (
    "CREATE INDEX ix_article_search ON article USING gin "
    "(to_tsvector('simple'::regconfig, title || ' ' || summary || ' ' || body))"
)


def upgrade() -> None:
    with op.batch_alter_table("article", schema=None) as batch_op:
        batch_op.create_index("ix_article_fetched_at", ["fetched_at"], unique=False)
    with op.batch_alter_table("match", schema=None) as batch_op:
        batch_op.create_index("ix_match_matched_at", ["matched_at", "id"], unique=False)
        batch_op.create_index(
            "ix_match_rule_matched_at", ["rule_id", "matched_at", "id"], unique=False
        )
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for statement in SQLITE_SEARCH:
            op.execute(statement)
    elif dialect == "postgresql":
        op.execute(POSTGRESQL_SEARCH)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for statement in SQLITE_SEARCH_DROP:
            op.execute(statement)
    elif dialect == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_article_search")
    with op.batch_alter_table("match", schema=None) as batch_op:
        batch_op.drop_index("ix_match_rule_matched_at")
        batch_op.drop_index("ix_match_matched_at")
    with op.batch_alter_table("article", schema=None) as batch_op:
        batch_op.drop_index("ix_article_fetched_at")
