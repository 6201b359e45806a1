"""Full-text search: the one place the two backends differ in how articles are read."""

from typing import Any

from sqlalchemy import Float, Integer, String, bindparam, column, func, literal, literal_column, select, table
from sqlmodel import col

from app.articles.filters import FeedFilters, Shape, filtered, is_visible
from app.models import Article

# How many of a search's newest matches are ranked (and so the most a search can return).
SEARCH_CANDIDATES = 500
# SQLite scores every word over each candidate's whole text, and FTS5 walks each word's
# postings: a search's work grows with its words (42 words took 1.02 s, issue 10).
MAX_SEARCH_WORDS = 6

# The FTS5 table the SQLite migration creates; PostgreSQL uses `article.search_vector`.
sqlite_search = table("article_search", column("rowid"), column("article_search"))
CANDIDATES = bindparam("candidates", type_=Integer())


def few_enough_words(query: str) -> str:
    """A query's words, repeats included, are at most `MAX_SEARCH_WORDS`, on both backends."""
    if len(query.split()) > MAX_SEARCH_WORDS:
        raise ValueError(f"must have at most {MAX_SEARCH_WORDS} words")
    return query


def search_terms(query: str) -> str:
    """The words of a free-text query as an FTS5 expression: each word quoted, all required."""
    return " ".join('"{}"'.format(word.replace('"', '""')) for word in query.split())


def search_parameters(filters: FeedFilters) -> dict[str, Any]:
    if not filters.query:
        return {}
    parameters: dict[str, Any] = {
        "candidates": SEARCH_CANDIDATES, "query": filters.query, "match": search_terms(filters.query),
    }
    for index, word in enumerate(filters.search_words()):
        parameters[f"word_{index}"] = word
    return parameters


def _occurrences(text: Any, word: Any) -> Any:
    """How many times `word` appears in the lowercased `text`."""
    return (func.length(text) - func.length(func.replace(text, word, ""))) / func.length(word)


def _newest_match(candidates: Any) -> Any:
    """The newest of a search's candidates, on every row: what a scheduled article that
    matches changes when it appears, wherever it ranks (`app.caching.state`)."""
    return func.max(candidates.c.published_at).over().label("newest_match")


def ranked(shape: Shape) -> Any:
    """A subquery of (id, score, newest_match) for the newest `SEARCH_CANDIDATES` visible
    articles that match the query and the other filters.

    Ranking every match does not scale: a common word matches 4% of a million articles,
    and `ts_rank` over 40,000 of them took 1.8 s. The newest matches are found through the
    feed index (or the search index for rare words) and only they are ranked.

    PostgreSQL ranks a weighted tsvector with `ts_rank`; SQLite matches with FTS5 and
    scores a weighted count of the query's words. Title outweighs dek, which outweighs
    body, on both. Both scores depend on the article alone. FTS5's `bm25` does not: its
    IDF and average length move with every insert, so a search cursor holding the last
    score would skip or repeat results.
    """
    newest_first = (col(Article.published_at).desc(), col(Article.id).desc())
    if shape.dialect == "postgresql":
        tsquery = func.websearch_to_tsquery(literal_column("'english'"), bindparam("query", type_=String()))
        vector = literal_column("article.search_vector")
        matches = select(
            col(Article.id).label("id"), col(Article.published_at).label("published_at"), vector.label("vector")
        ).where(vector.op("@@")(tsquery))
        candidates = (
            filtered(matches.where(is_visible()), shape).order_by(*newest_first).limit(CANDIDATES)
        ).subquery("candidates")
        score = func.ts_rank(candidates.c.vector, tsquery).cast(Float)
        return select(candidates.c.id, score.label("score"), _newest_match(candidates)).subquery("ranked")
    matched = select(sqlite_search.c.rowid).where(sqlite_search.c.article_search.op("MATCH")(bindparam("match")))
    matches = select(
        col(Article.id).label("id"), col(Article.published_at).label("published_at"),
        func.lower(Article.title).label("title"), func.lower(Article.dek).label("dek"),
        func.lower(Article.body_markdown).label("body"),
    ).where(col(Article.id).in_(matched))
    candidates = (
        filtered(matches.where(is_visible()), shape).order_by(*newest_first).limit(CANDIDATES)
    ).subquery("candidates")
    weighted = [(candidates.c.title, 10), (candidates.c.dek, 4), (candidates.c.body, 1)]
    words = [bindparam(f"word_{index}", type_=String()) for index in range(shape.search_words or 0)]
    score = sum(
        (weight * _occurrences(text, word) for word in words for text, weight in weighted), literal(0)
    )
    return select(candidates.c.id, score.cast(Float).label("score"), _newest_match(candidates)).subquery("ranked")
