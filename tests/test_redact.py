"""What a stored violation keeps of SQL, code, messages and cache keys: the shape,
never the values (ddt_perfpanels.redact)."""

import pytest

from ddt_perfpanels.redact import (
    redact_code,
    redact_finding,
    redact_key,
    redact_prose,
    redact_sql,
)


@pytest.mark.parametrize(
    ("key", "pattern"),
    [
        ("badge_progress:17", "badge_progress:{int}"),
        ("pwreset:alice@example.com:17", "pwreset:{email}:{int}"),
        ("apikey:sk_live_4eC39HqLyjWDarjtT1zdp7dc", "apikey:{secret}"),
        ("stripe:sk_live_{hash}", "stripe:{secret}"),  # as the cache panel abstracts it
        ("token:abcdef", "token:{secret}"),
        ("session:q8x2kz9x3l0d8a7b6c5d4e3f2g1h0j9k", "session:{secret}"),
        ("obj:550e8400-e29b-41d4-a716-446655440000", "obj:{uuid}"),
        ("etag:9f86d081884c", "etag:{hex}"),
        ("jwt:eyJhbGciOiJIUzI1NiJ9", "jwt:{secret}"),
        ("u:AbCdEfGhIjKlMnOpQr", "u:{token}"),
        ("views.decorators.cache.cache_page", "views.decorators.cache.cache_page"),
        ("user:alice:profile", "user:alice:profile"),  # a plain word cannot be told apart
    ],
)
def test_cache_key_patterns(key, pattern):
    assert redact_key(key) == pattern


def test_sql_keeps_its_shape_without_literals():
    sql = """SELECT "a"."id" FROM "a" WHERE "a"."pw" = 'hunter2' AND "a"."n" > 5 AND x = %s"""
    assert redact_sql(sql) == (
        """SELECT "a"."id" FROM "a" WHERE "a"."pw" = %s AND "a"."n" > %s AND x = %s"""
    )


@pytest.mark.parametrize(
    ("code", "stored"),
    [
        (
            "ApiToken.objects.filter(password='hunter2')",
            "ApiToken.objects.filter(password=...)",
        ),
        (
            'Book.objects.select_related("author")[:20]',
            'Book.objects.select_related("author")[:20]',
        ),
        (
            'Author.objects.annotate(n=Count("books", filter=Q(books__title="x"))).filter(pk=3)',
            'Author.objects.annotate(n=Count("books", filter=Q(books__title=...))).filter(pk=...)',
        ),
        ('caches["sessions"].get_many(keys)', 'caches["sessions"].get_many(keys)'),
        (
            'cache.get_many([f"pwreset:{email}:{pk}" for pk in pks])',
            'cache.get_many([f"pwreset:{email}:{pk}" for pk in pks])',
        ),
    ],
)
def test_code_loses_its_values_and_keeps_its_names(code, stored):
    assert redact_code(code) == stored


def test_messages_lose_quoted_values_and_keep_counts():
    assert redact_prose("4 calls for keys ('sk_live_4eC39HqLyjWDarjtT1zdp7dc', …)") == (
        "4 calls for keys (..., …)"
    )
    assert redact_prose('Use select_related("author"): 4 queries become 1.') == (
        'Use select_related("author"): 4 queries become 1.'
    )
    assert redact_prose("filter(pk=42) ran at views.py:12") == "filter(pk=...) ran at views.py:12"


def test_a_finding_loses_names_derived_from_its_values():
    stored = redact_finding(
        {
            "kind": "count_in_loop",
            "model": "shop.Author",
            "suggestion": 'Author.objects.annotate(title_s3cret_x_books=Count("books", '
            'filter=Q(books__title="s3cret-x")))',
            "message": "then read author.title_s3cret_x_books",
            "sql": "SELECT 1 WHERE title = 's3cret-x'",
        }
    )
    assert "s3cret" not in str(stored)
    assert stored["model"] == "shop.Author"
    assert "title_value_books" in stored["suggestion"]
    assert stored["message"] == "then read author.title_value_books"


def test_a_cache_finding_loses_its_example_keys_wherever_quoted():
    stored = redact_finding(
        {"kind": "repeated_get", "pattern": "u:bob@x.io:{int}", "message": "u:bob@x.io:7 was read"},
        raw_keys=["u:bob@x.io:7"],
    )
    assert stored == {
        "kind": "repeated_get",
        "pattern": "u:{email}:{int}",
        "message": "u:{email}:{int} was read",
    }
