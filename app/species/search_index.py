"""The species search index: FTS5 on SQLite, weighted tsvector plus pg_trgm on PostgreSQL."""
import uuid
from collections.abc import Iterable

from sqlalchemy import Uuid, bindparam, text
from sqlalchemy.orm import Session

from app.search import index
from app.search.base import SearchIndexNames
from app.search.index import fts_match, query_terms
from app.search.service import CONTROL_CHARS
from app.species.models import Species, SpeciesCommonName
from app.species.names import normalise_scientific_name

INDEX_NAMES = SearchIndexNames(
    tables=("species_fts",),
    columns=("species.search_names", "species.search_vector", "species.search_names_vector"),
    indexes=("ix_species_search_vector", "ix_species_search_names_trgm", "ix_species_search_names_vector"))

_PG_NAMES = ("(SELECT string_agg(c.name, ' ') FROM species_common_name c WHERE c.species_id = s.id)")
_PG_REINDEX = text(f"""
UPDATE species AS s SET
  search_names = lower(concat_ws(' ', s.scientific_name, {_PG_NAMES}, s.synonyms::text)),
  search_vector =
      setweight(to_tsvector('simple', s.scientific_name), 'A')
   || setweight(to_tsvector('simple', coalesce({_PG_NAMES}, '') || ' ' || coalesce(s.synonyms::text, '')), 'B')
   || setweight(to_tsvector('simple', coalesce(s.family, '') || ' ' || coalesce(s.genus, '')), 'C')
   || setweight(to_tsvector('english', coalesce(s.description, '') || ' ' || coalesce(s.care_notes, '')), 'D'),
  search_names_vector =
      setweight(to_tsvector('simple', s.scientific_name), 'A')
   || setweight(to_tsvector('simple', coalesce({_PG_NAMES}, '') || ' ' || coalesce(s.synonyms::text, '')), 'B')
   || setweight(to_tsvector('simple', coalesce(s.family, '') || ' ' || coalesce(s.genus, '')), 'C')
WHERE s.id IN :ids
""").bindparams(bindparam("ids", expanding=True, type_=Uuid))
_SQLITE_DELETE = text("DELETE FROM species_fts WHERE species_id IN :ids").bindparams(
    bindparam("ids", expanding=True, type_=Uuid))
_SQLITE_INSERT = text("""
INSERT INTO species_fts (species_id, scientific_name, names, taxonomy, body)
SELECT s.id, s.scientific_name,
       coalesce((SELECT group_concat(c.name, ' ') FROM species_common_name c WHERE c.species_id = s.id), '')
         || ' ' || coalesce(s.synonyms, ''),
       coalesce(s.family, '') || ' ' || coalesce(s.genus, ''),
       coalesce(s.description, '') || ' ' || coalesce(s.care_notes, '')
FROM species s WHERE s.id IN :ids
""").bindparams(bindparam("ids", expanding=True, type_=Uuid))

# What a hit shows, fetched for the page's rows only (so a hit needs no second query).
_DISPLAY = """SELECT r.id, r.score, r.total, s.scientific_name, s.slug, s.family, s.description,
       (SELECT {agg}(n.name, ', ') FROM (SELECT c.name FROM species_common_name c
                                         WHERE c.species_id = r.id ORDER BY c.position, c.name) n) AS names
FROM ranked r JOIN species s ON s.id = r.id
ORDER BY r.score DESC, s.scientific_name"""
# One statement, one round trip. Candidates come from bounded index look-ups, so a word found in
# every description stays fast; then exact scientific name first (100), name matches (5), text
# rank, trigram closeness. Name matches use the names-only vector (revision 0007): the
# whole-document one would need a weight filter that its GIN index cannot check. Names match word
# for word with the last word a prefix (search as you type): a prefix on every word made GIN merge
# thousands of postings per word ("giant:*"). Every name match outscores every text-only match, so
# when names alone fill the page the whole-document look-up (thousands of rows for a word like
# "leaves") cannot change it: its one-time filter skips it. Trigram look-ups cost more still, so
# they run only when words found nothing (typos, partial Latin names); no LIMIT inside, or the
# planner picks a sequential scan. The LIMIT on the union keeps the planner's estimate small
# enough that it fetches candidates by primary key rather than hashing the whole table.
_PG_SEARCH = text(f"""
WITH q AS (
  SELECT websearch_to_tsquery('simple', :q) || websearch_to_tsquery('english', :q) AS tsq,
         to_tsquery('simple', :names) AS names
), named AS MATERIALIZED (
  SELECT s.id FROM species s, q WHERE s.search_names_vector @@ q.names LIMIT :cap
), texts AS MATERIALIZED (
  SELECT s.id FROM species s, q
  WHERE (SELECT count(*) FROM named) < :offset + :limit AND s.search_vector @@ q.tsq LIMIT :cap
), fuzzy AS (
  SELECT s.id FROM species s
  WHERE NOT EXISTS (SELECT FROM named) AND NOT EXISTS (SELECT FROM texts)
    AND :ql <% s.search_names
), candidates AS (
  SELECT id, true AS by_name FROM species WHERE scientific_name = :exact
  UNION SELECT id, true FROM named UNION SELECT id, true FROM fuzzy UNION SELECT id, false FROM texts
  LIMIT 2 * :cap + 1
), ranked AS (
  SELECT s.id,
         (CASE WHEN s.scientific_name = :exact THEN 100 ELSE 0 END)
         + (CASE WHEN s.search_names_vector @@ q.names THEN 5 ELSE 0 END)
         + ts_rank(s.search_vector, q.tsq || q.names, 1) * 10
         + (CASE WHEN c.by_name THEN word_similarity(:ql, s.search_names) ELSE 0 END) AS score,
         count(*) OVER () AS total
  FROM (SELECT id, bool_or(by_name) AS by_name FROM candidates GROUP BY id) c
  JOIN species s ON s.id = c.id, q
  ORDER BY score DESC, s.scientific_name LIMIT :limit OFFSET :offset
)
{_DISPLAY.format(agg="string_agg")}
""")
_SQLITE_SEARCH = text(f"""
WITH f AS (
  SELECT species_id, bm25(species_fts, 0, 10.0, 5.0, 2.0, 1.0) AS rank
  FROM species_fts WHERE species_fts MATCH :match
), ranked AS (
  SELECT s.id AS id, (CASE WHEN s.scientific_name = :exact THEN 100 ELSE 0 END) - f.rank AS score,
         count(*) OVER () AS total
  FROM f JOIN species s ON s.id = f.species_id
  ORDER BY score DESC, s.scientific_name LIMIT :limit OFFSET :offset
)
{_DISPLAY.format(agg="group_concat")}
""")
# A bound on how many candidates one look-up yields, so a word in every description stays fast.
CANDIDATE_CAP = 100


def reindex(session: Session, species_ids: Iterable[uuid.UUID]) -> None:
    """Bring the search index up to date for these species (inside the caller's transaction)."""
    index.reindex(session, species_ids, pg=_PG_REINDEX, sqlite=(_SQLITE_DELETE, _SQLITE_INSERT))


def search(session: Session, q: str, limit: int, offset: int) -> tuple[list, int]:
    """Return the page's matching species, best first, and how many matched.

    Rows carry id, score, scientific_name, slug, family, description and names (common names).
    """
    q = CONTROL_CHARS.sub(" ", q)
    terms = query_terms(q)
    if not terms:
        return [], 0
    conn = session.connection()
    exact = normalise_scientific_name(" ".join(terms))
    if conn.dialect.name == "postgresql":
        plain = " ".join(terms)
        params = {"q": q, "ql": plain.lower(), "exact": exact, "cap": CANDIDATE_CAP,
                  "names": " & ".join([*(t.lower() for t in terms[:-1]), terms[-1].lower() + ":*"]),
                  "limit": limit, "offset": offset}
        rows = conn.execute(_PG_SEARCH, params).all()
    else:
        rows = conn.execute(_SQLITE_SEARCH, {"match": fts_match(terms), "exact": exact, "limit": limit,
                                             "offset": offset}).all()
    return rows, (rows[0].total if rows else 0)


def _touched_species(session: Session) -> set:
    touched = set()
    for obj in (*session.new, *session.dirty, *session.deleted):
        if isinstance(obj, Species):
            touched.add(obj)
        elif isinstance(obj, SpeciesCommonName) and obj.species_id:
            touched.add(obj.species_id)
    return touched


def listen() -> None:
    """Keep the index current on every flush that adds, changes or removes species or names."""
    index.keep_current("species", _touched_species, reindex)
