from enum import StrEnum


class Scope(StrEnum):
    CONTENT_WRITE = "content:write"
    SUBSCRIBERS_READ = "subscribers:read"
    FEEDS_FULL = "feeds:full"
    COMMENTS_MODERATE = "comments:moderate"
    ADMIN = "admin"
