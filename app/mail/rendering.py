"""Mail bodies from Jinja2 templates: HTML autoescaped, plain text verbatim."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from functools import lru_cache

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from app.articles.schemas import ArticleCard
from app.models import Newsletter


@dataclass(frozen=True)
class RenderedMail:
    subject: str
    text: str
    html: str


@lru_cache
def environment() -> Environment:
    # Autoescape keys on the name: `x.html.j2` is HTML, `x.txt.j2` is not, so a headline
    # with `<` or `&` stays readable in text and harmless in HTML.
    return Environment(
        loader=PackageLoader("app.mail", "templates"),
        autoescape=select_autoescape(
            enabled_extensions=("html", "html.j2"), default_for_string=True
        ),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        enable_async=False,
    )


def _render(name: str, **context: object) -> str:
    return environment().get_template(name).render(**context)


def order_for_subscriber(
    cards: Sequence[ArticleCard], *, tickers: set[str], authors: set[str]
) -> tuple[list[ArticleCard], list[ArticleCard]]:
    """Articles on followed tickers or by followed authors first, each group newest first."""
    followed, others = [], []
    for card in cards:
        mine = card.author.slug in authors or any(t.symbol in tickers for t in card.tickers)
        (followed if mine else others).append(card)
    return followed, others


def render_edition(
    newsletter: Newsletter,
    day: date,
    cards: Sequence[ArticleCard],
    *,
    tickers: set[str],
    authors: set[str],
    manage_url: str,
    unsubscribe_url: str,
) -> RenderedMail:
    followed, others = order_for_subscriber(cards, tickers=tickers, authors=authors)
    subject = f"{newsletter.name}: {day:%b} {day.day}, {day:%Y}"
    context = {
        "subject": subject,
        "newsletter": newsletter,
        "day": day,
        "followed": followed,
        "others": others,
        "manage_url": manage_url,
        "unsubscribe_url": unsubscribe_url,
    }
    return RenderedMail(
        subject, _render("edition.txt.j2", **context), _render("edition.html.j2", **context)
    )


def render_confirmation(
    newsletters: Sequence[Newsletter], *, confirm_url: str, ttl_hours: int
) -> RenderedMail:
    names = ", ".join(newsletter.name for newsletter in newsletters)
    subject = f"Confirm your subscription to {names}"
    context = {
        "subject": subject,
        "names": names,
        "confirm_url": confirm_url,
        "ttl_hours": ttl_hours,
    }
    return RenderedMail(
        subject,
        _render("confirmation.txt.j2", **context),
        _render("confirmation.html.j2", **context),
    )


def render_sign_in(*, sign_in_url: str, ttl_minutes: int) -> RenderedMail:
    """The same mail for every address: a new reader and a returning one get one link."""
    subject = "Your sign-in link"
    context = {"subject": subject, "sign_in_url": sign_in_url, "ttl_minutes": ttl_minutes}
    return RenderedMail(subject, _render("sign_in.txt.j2", **context), _render("sign_in.html.j2", **context))
