"""What ``BudgetMiddleware`` stores from real traffic carries no values.

A violation is kept for weeks and shown to every staff user allowed to view
it, so before it is written: SQL loses its literals, suggested code and
messages lose the values rendered into them, cache key patterns lose every part
that varies (ids, emails, tokens, keys), and all text loses the characters a
database refuses (NUL, lone surrogates). The toolbar, in development, keeps
showing the real values: only what is persisted goes through here.
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
from typing import Any

PLACEHOLDER = "..."

# -- storable text -------------------------------------------------------------------

# PostgreSQL refuses NUL in text and JSON; no database takes a lone surrogate
# (it is no valid UTF-8).
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def storable(text: str) -> str:
    """The text without the characters a database refuses, nothing else lost."""
    return _UNSTORABLE.sub("", text) if _UNSTORABLE.search(text) else text


def storable_json(value: Any) -> Any:
    """``storable`` applied to every string of a JSON value, keys included."""
    if isinstance(value, str):
        return storable(value)
    if isinstance(value, dict):
        return {storable_json(k): storable_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [storable_json(v) for v in value]
    return value


# -- cache keys and words that are values -------------------------------------------------

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_UUID = re.compile(r"[0-9a-fA-F]{8}(?:-?[0-9a-fA-F]{4}){3}-?[0-9a-fA-F]{12}")
# A run of word characters (with - and _), or an existing {placeholder}.
_WORD = re.compile(r"\{\w+\}|[A-Za-z0-9_\-]+")
_HEX = re.compile(r"[0-9a-fA-F]+")
_DIGITS = re.compile(r"[0-9]+")
# Well-known key and token shapes: Stripe, GitHub, Slack, AWS, Google, JWT.
_SECRET_SHAPE = re.compile(
    r"(?:sk|pk|rk|whsec)_(?:live|test)_|gh[pousr]_|xox[abposr]-|AKIA|ASIA|AIza|eyJ",
)
_SECRET_RUN = re.compile(r"\{secret\}(?:\{\w+\})+")
# A word after one of these (``apikey:…``, ``token=…``) is the secret itself.
_SECRET_WORDS = frozenset(
    "key apikey api_key secret token auth password passwd pwd signature sig otp code "
    "session sessionid csrf nonce bearer credential credentials".split()
)


def _word_placeholder(word: str, after_secret_word: bool, numbers: bool) -> str:
    if word.startswith("{") and word.endswith("}"):
        return word
    if _SECRET_SHAPE.match(word) or after_secret_word:
        return "{secret}"
    if word.isdigit():
        return "{int}" if numbers else word
    has_digit = any(c.isdigit() for c in word)
    if len(word) >= 8 and has_digit and _HEX.fullmatch(word):
        return "{hex}"
    core = word.replace("_", "").replace("-", "")
    mixed_case = core != core.lower() and core != core.upper()
    if len(word) >= 16 and (has_digit or mixed_case or not core.isalpha()):
        return "{token}"
    if len(word) >= 32:
        return "{token}"
    if has_digit:
        return _DIGITS.sub("{int}", word)
    return word


def redact_words(text: str, numbers: bool = True) -> str:
    """Emails, UUIDs, numbers (inside identifiers too; alone only when
    ``numbers``), hex digests, long random tokens and anything shaped like a key
    or following ``key``/``token``/... become placeholders; plain words stay."""
    text = _EMAIL.sub("{email}", text)
    text = _UUID.sub("{uuid}", text)
    out: list[str] = []
    last = 0
    previous = ""
    for match in _WORD.finditer(text):
        word = match.group(0)
        out.append(text[last : match.start()])
        separator = text[last : match.start()]
        after_secret = previous.lower().strip("_-") in _SECRET_WORDS and separator in (
            ":",
            "=",
            "_",
            "-",
            "/",
            ".",
            "|",
        )
        replaced = _word_placeholder(word, after_secret, numbers)
        out.append(replaced)
        previous = word if replaced == word else ""
        last = match.end()
    out.append(text[last:])
    # "sk_live_{hash}", as the cache panel abstracts it, is one secret.
    return _SECRET_RUN.sub("{secret}", "".join(out))


def redact_key(key: str) -> str:
    """A cache key (or key pattern) with every variable part replaced:
    ``pwreset:alice@example.com:17`` -> ``pwreset:{email}:{int}``."""
    redacted = redact_words(key)
    return redacted if len(redacted) <= 200 else redacted[:200] + "…"


# -- SQL -----------------------------------------------------------------------------------


def redact_sql(sql: str) -> str:
    """The statement with every string and number literal a ``%s``; identifiers,
    keywords and placeholders stay."""
    import sqlparse
    from sqlparse import tokens as T

    try:
        statements = sqlparse.parse(sql)
    except Exception:  # sqlparse gives up on some inputs: keep nothing doubtful
        return PLACEHOLDER
    out: list[str] = []
    for statement in statements:
        for token in statement.flatten():  # type: ignore[no-untyped-call]  # sqlparse: unannotated
            if token.ttype in T.Literal.String.Single or token.ttype in T.Literal.Number:
                out.append("%s")
            elif token.ttype in T.Comment:
                out.append("/* … */")
            else:
                out.append(token.value)
    return "".join(out)


# -- Python code and messages ---------------------------------------------------------------

# Calls whose positional string arguments name fields, lookups or aliases, not
# values: select_related("author") keeps "author".
_NAMING_CALLS = frozenset(
    "select_related prefetch_related Prefetch only defer values values_list order_by "
    "F OuterRef Count Sum Avg Min Max Exists caches using getattr hasattr".split()
)
# Class attributes whose tuple names relations: list_select_related = ("author",).
_NAMING_ATTRIBUTES = frozenset({"list_select_related"})
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:__[A-Za-z0-9_]+)*(?:\.[A-Za-z_][A-Za-z0-9_]*)?")
_STRING_BODY = re.compile(r"(?is)^([rbuf]*)('''|\"\"\"|'|\")(.*)\2$")


def _is_code(text: str) -> bool:
    try:
        ast.parse(text)
    except (SyntaxError, ValueError):
        return False
    return True


def redact_code(code: str, values: set[str] | None = None) -> str:
    """Python source with the values in it replaced by ``...``: string and number
    literals, except field and lookup names (``select_related("author")``),
    slice bounds and f-string templates (whose variable parts are redacted as
    cache keys are). ``values``: gets the bodies of the strings replaced."""
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(code).readline))
    except (tokenize.TokenError, SyntaxError, IndentationError):
        return redact_prose(code)
    replacements: dict[tuple[tuple[int, int], tuple[int, int]], str] = {}
    stack: list[str | None] = []
    previous: tokenize.TokenInfo | None = None
    assigned = ""  # the name of ``name = (...)``, while its value is read
    for i, tok in enumerate(tokens):
        if tok.type == tokenize.OP and tok.string in "([{":
            name = (
                previous.string if previous is not None and previous.type == tokenize.NAME else None
            )
            if not stack and previous is not None and previous.string == "=" and assigned:
                stack.append(assigned if assigned in _NAMING_ATTRIBUTES else None)
            else:
                stack.append(name if tok.string != "{" else None)
        elif tok.type == tokenize.OP and tok.string in ")]}":
            if stack:
                stack.pop()
        elif tok.type == tokenize.STRING:
            replaced = replacements[(tok.start, tok.end)] = _string(tok.string, stack, previous)
            body = _STRING_BODY.match(tok.string)
            if values is not None and replaced == PLACEHOLDER and body is not None:
                values.add(body.group(3))
        elif tok.type == tokenize.NUMBER:
            following = tokens[i + 1] if i + 1 < len(tokens) else None
            in_slice = (
                previous is not None
                and previous.string in ("[", ":")
                and following is not None
                and following.string in ("]", ":")
            )
            if not in_slice:
                replacements[(tok.start, tok.end)] = PLACEHOLDER
        elif tok.type == tokenize.COMMENT:
            replacements[(tok.start, tok.end)] = redact_prose(tok.string)
        elif tok.type in (getattr(tokenize, "FSTRING_MIDDLE", -1),):
            replacements[(tok.start, tok.end)] = redact_words(tok.string)
        if tok.type == tokenize.OP and tok.string == "=" and not stack:
            assigned = previous.string if previous is not None else ""
        if tok.type not in (tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT):
            previous = tok
    return _apply(code, replacements)


def _string(literal: str, stack: list[str | None], previous: Any) -> str:
    match = _STRING_BODY.match(literal)
    if match is None:
        return PLACEHOLDER
    prefix, quote, body = match.groups()
    if "f" in prefix.lower():
        return prefix + quote + redact_words(body) + quote
    naming = bool(stack) and (stack[-1] in _NAMING_CALLS or stack[-1] in _NAMING_ATTRIBUTES)
    positional = previous is not None and previous.string in ("(", ",", "[")
    if naming and positional and _NAME.fullmatch(body):
        return literal
    return PLACEHOLDER


def _apply(code: str, replacements: dict[tuple[tuple[int, int], tuple[int, int]], str]) -> str:
    if not replacements:
        return code
    lines = code.splitlines(keepends=True)
    offsets = [0]
    for line in lines:
        offsets.append(offsets[-1] + len(line))

    def at(position: tuple[int, int]) -> int:
        row, col = position
        return offsets[row - 1] + col if row - 1 < len(offsets) else len(code)

    out: list[str] = []
    last = 0
    for (start, end), text in sorted(replacements.items()):
        a, b = at(start), at(end)
        out.append(code[last:a])
        out.append(text)
        last = b
    out.append(code[last:])
    return "".join(out)


_QUOTED = re.compile(r"""(?P<eq>(?:[=<>!]=?|:)\s*)?(?P<q>['"])(?P<body>[^'"\n]{0,300}?)(?P=q)""")
_ASSIGNED_NUMBER = re.compile(r"(?<=[=<>])(\s*)-?\d[\d_.eE+-]*")


def redact_prose(text: str, values: set[str] | None = None) -> str:
    """A message or suggestion in words: quoted values and ``x=<value>`` become
    ``...``; quoted names (``"author"``) stay; words shaped like values are
    redacted as in cache keys. ``values``: gets the quoted values replaced."""

    def quoted(match: re.Match[str]) -> str:
        eq, body = match.group("eq") or "", match.group("body")
        if not eq and _NAME.fullmatch(body) and redact_words(body) == body:
            return match.group(0)
        if values is not None:
            values.add(body)
        return eq + PLACEHOLDER

    text = _QUOTED.sub(quoted, text)
    text = _ASSIGNED_NUMBER.sub(lambda m: m.group(1) + PLACEHOLDER, text)
    # Counts and line numbers stay: "4 queries", "views.py:12".
    return redact_words(text, numbers=False)


def redact_text(text: str, values: set[str] | None = None) -> str:
    """Code when it parses as Python, else a message."""
    return redact_code(text, values) if _is_code(text) else redact_prose(text, values)


def _without_values(text: str, values: list[str]) -> str:
    """Each value gone from the text, as written and as a name derived from it
    (an annotation named after a filter value: ``title_hunter2_books_count``)."""
    for value in values:
        text = text.replace(value, PLACEHOLDER)
        slug = re.sub(r"\W+", "_", value).strip("_")
        if len(slug) >= 3:
            text = re.sub(
                r"(?i)(?<![A-Za-z0-9])" + re.escape(slug) + r"(?![A-Za-z0-9])", "value", text
            )
    return text


# -- a finding, as stored ---------------------------------------------------------------

# Names of models, fields, lookups and code locations: no values in them.
_NAMES_ONLY = frozenset(
    {
        "source",
        "kind",
        "model",
        "field",
        "path",
        "fix",
        "lookup",
        "origin",
        "access_site",
        # where an owner-form fix goes: class, attribute and file:line
        "where",
        "where_note",
    }
)


def redact_finding(finding: dict[str, Any], raw_keys: Any = ()) -> dict[str, Any]:
    """A compact finding (``evaluate.summarize_findings``) fit to store: SQL,
    code and messages without values, the cache key pattern without its
    variable parts. ``raw_keys``: the finding's example cache keys, as written,
    replaced wherever a message quotes them."""
    keys = sorted((k for k in raw_keys if isinstance(k, str) and k), key=len, reverse=True)
    # The values the code and messages quote, to take out of every field
    # (names derived from them included).
    found: set[str] = set()
    for name, value in finding.items():
        if isinstance(value, str) and name not in _NAMES_ONLY and name not in ("sql", "pattern"):
            redact_text(value, found)
    values = sorted((v for v in found if len(v) >= 3), key=len, reverse=True)
    out: dict[str, Any] = {}
    for name, value in finding.items():
        if not isinstance(value, str) or name in _NAMES_ONLY:
            out[name] = value
            continue
        for key in keys:
            value = value.replace(key, redact_key(key))
        value = _without_values(value, values)
        if name == "sql":
            value = redact_sql(value)
        elif name == "pattern":
            value = redact_key(value)
        else:
            value = redact_text(value)
        out[name] = value
    return out
