"""message search: a word index per participant, kept by the database; backfilled

Each word of a message is indexed once per participant as "<userID>:<word>", so that a
search reads only the searching user's terms (chat/store/search.py). SQLite: a contentless FTS5
table kept by triggers calling chat_search_terms (registered by chat.store.search on every
connection). PostgreSQL: immutable SQL functions and a GIN expression index on messages,
which follows inserts, edits and deletes by itself. Existing messages are indexed here.

Revision ID: 5b7e2c9d41a3
Revises: a12193e0bb4c
Create Date: 2026-12-02 10:00:00.000000

"""
from alembic import op

from chat.store import search


# revision identifiers, used by Alembic.
revision = '5b7e2c9d41a3'
down_revision = 'a12193e0bb4c'
branch_labels = None
depends_on = None

_INSERT = (
    "INSERT INTO message_search (rowid, terms) "
    "VALUES (new.id, chat_search_terms(new.sender_id, new.recipient_id, new.content));"
)
_DELETE = (
    "INSERT INTO message_search (message_search, rowid, terms) "
    "VALUES ('delete', old.id, chat_search_terms(old.sender_id, old.recipient_id, old.content));"
)

SQLITE = (
    # detail=none, columnsize=0: only which messages hold a term, the least to store. The
    # ascii tokenizer keeps each "<userID>:<word>" whole (chat_search_terms made the words).
    """CREATE VIRTUAL TABLE message_search USING fts5(
        terms, content='', detail=none, columnsize=0, tokenize="ascii tokenchars ':'")""",
    f"CREATE TRIGGER message_search_insert AFTER INSERT ON messages BEGIN {_INSERT} END",
    f"CREATE TRIGGER message_search_delete AFTER DELETE ON messages BEGIN {_DELETE} END",
    "CREATE TRIGGER message_search_update AFTER UPDATE OF id, sender_id, recipient_id, content"
    f" ON messages BEGIN {_DELETE} {_INSERT} END",
    "INSERT INTO message_search (rowid, terms) "
    "SELECT id, chat_search_terms(sender_id, recipient_id, content) FROM messages",
)

# Words: runs of [[:alnum:]], case-folded (upper then lower: 'ß' -> 'ss', 'ς' -> 'σ'), NFC,
# cut at 200 characters like chat.store.search.MAX_WORD. {collation} is ICU's root when the server
# has it, so the rules do not depend on the database's locale.
POSTGRESQL = (
    """CREATE FUNCTION chat_search_words(body text) RETURNS text[]
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
        SELECT coalesce(array_agg(DISTINCT left(w, 200)), '{{}}')
        FROM regexp_split_to_table(
            normalize(lower(upper(body COLLATE {collation})), NFC), '[^[:alnum:]]+') AS w
        WHERE w <> ''
    $$""",
    """CREATE FUNCTION chat_search_vector(sender text, recipient text, body text)
    RETURNS tsvector LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
        SELECT coalesce(array_to_tsvector(array_agg(p || ':' || w)), ''::tsvector)
        FROM unnest(ARRAY[sender, recipient]) AS p, unnest(chat_search_words(body)) AS w
    $$""",
    # Each word of q, qualified by the searcher, as a prefix; all of them (&).
    """CREATE FUNCTION chat_search_query(searcher text, q text)
    RETURNS tsquery LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
        SELECT coalesce(string_agg(quote_literal(searcher || ':' || w) || ':*', ' & '), '')::tsquery
        FROM unnest(chat_search_words(q)) AS w
    $$""",
    "CREATE INDEX ix_messages_search ON messages"
    " USING gin (chat_search_vector(sender_id, recipient_id, content))",
)


def upgrade():
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        # This connection may predate the import of chat.store.search's connect hook.
        search.register_functions(bind.connection.dbapi_connection)
        statements = SQLITE
    else:
        icu = bind.exec_driver_sql(
            "SELECT 1 FROM pg_collation WHERE collname = 'und-x-icu'"
        ).scalar()
        collation = '"und-x-icu"' if icu else '"default"'
        statements = [s.format(collation=collation) for s in POSTGRESQL]
    for statement in statements:
        op.execute(statement)


def downgrade():
    if op.get_bind().dialect.name == "sqlite":
        for name in ("insert", "delete", "update"):
            op.execute(f"DROP TRIGGER message_search_{name}")
        op.execute("DROP TABLE message_search")
    else:
        op.execute("DROP INDEX ix_messages_search")
        op.execute("DROP FUNCTION chat_search_query(text, text)")
        op.execute("DROP FUNCTION chat_search_vector(text, text, text)")
        op.execute("DROP FUNCTION chat_search_words(text)")
