// A reader's code against the TypeScript types openapi-typescript generates from
// docs/openapi.json (issue 11). `make check-types` generates them into a temporary folder
// as api.d.ts, copies this file beside them and type-checks it with `tsc --noEmit --strict`,
// so a change to the spec that breaks such code fails CI. Nothing here runs.
import type { components, paths } from "./api";

type ArticleCard = components["schemas"]["ArticleCard"];
type Problem = components["schemas"]["ProblemDocument"];
type ListArticles = paths["/v1/articles"]["get"];
type ArticlePage = ListArticles["responses"][200]["content"]["application/json"];
type ListQuery = NonNullable<ListArticles["parameters"]["query"]>;
type NotFound =
  paths["/v1/articles/{slug}"]["get"]["responses"][404]["content"]["application/problem+json"];

// List articles: the query a reader builds, then a page and its cursor.
// `ticker` is repeatable: any of these symbols.
export const firstPage: ListQuery = { ticker: ["NVDA", "BRK/B"], author_kind: "ai_agent", limit: 10 };

export function nextQuery(page: ArticlePage, query: ListQuery): ListQuery | null {
  return page.next_cursor === null ? null : { ...query, cursor: page.next_cursor };
}

// Read a card's fields, minding the ones that may be null.
export function describe(card: ArticleCard): string {
  const published = card.published_at === null ? "draft" : new Date(card.published_at).toISOString();
  const byline = card.author.kind === "ai_agent" ? `${card.author.name} (AI)` : card.author.name;
  const symbols = card.tickers
    .filter((ticker) => ticker.role === "primary")
    .map((ticker) => `${ticker.symbol}${ticker.exchange === null ? "" : `:${ticker.exchange}`}`);
  const tags = card.tags.map((tag) => tag.slug);
  const image = card.hero_image?.url ?? "none";
  const minutes: number = card.reading_time_minutes;
  const flagged: boolean = card.ai_generated;
  return [card.id, card.slug, card.title, card.dek, published, card.updated_at, byline,
    symbols.join(","), tags.join(","), image, minutes, flagged, card.canonical_url].join(" | ");
}

export function titles(page: ArticlePage): string[] {
  return page.items.map(describe);
}

// The README's example: a page over plain fetch, a problem document when it fails.
export async function listArticles(base: string, tickers: string[], cursor?: string): Promise<ArticlePage> {
  const query = new URLSearchParams(tickers.map((symbol): [string, string] => ["ticker", symbol]));
  if (cursor !== undefined) query.set("cursor", cursor);
  const response = await fetch(`${base}/v1/articles?${query}`);
  if (!response.ok) throw new Error(((await response.json()) as Problem).detail);
  return (await response.json()) as ArticlePage;
}

// A problem document, as a 404 answers it.
export function explain(problem: NotFound): string {
  const same: Problem = problem;
  const request = same.request_id ?? "no request id";
  return `${same.status} ${same.title}: ${same.detail} (${same.type}; ${request})`;
}

// The types are strict: these must stay errors, or the spec lost what makes them so.
export function strictness(card: ArticleCard, problem: Problem): void {
  // @ts-expect-error published_at is null for a draft
  card.published_at.length;
  // @ts-expect-error author kinds are an enum
  const kind: typeof card.author.kind = "robot";
  // @ts-expect-error status is a number
  const status: string = problem.status;
  // @ts-expect-error limit is an integer, not a string
  const query: ListQuery = { limit: "10" };
  void [kind, status, query];
}
