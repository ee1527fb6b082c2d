"""The one table of the Redis commands the cache hooks understand: what kind of
call each one is, where its keys and written values are among its arguments, and
what its reply tells (hits, bytes read). Commands not in it are ``other``, with
their first argument as their key."""

from __future__ import annotations

from typing import NamedTuple


class Command(NamedTuple):
    # The call's kind: read, write, delete, touch, scan or other.
    kind: str = "other"
    # Where the keys are: "first" (the first argument), "all" (every argument),
    # "pairs" (key, value, key, ...), "eval" (numkeys, then the keys), "none".
    keys: str = "first"
    # The values written: an index among the arguments after the key, or "pairs"
    # (MSET's), "hash" (field, value, ...), "rest" (every argument after the key).
    written: int | str | None = None
    # What the reply tells: "hit" (a value or None: hit and bytes), "value" (bytes
    # read), "mget" (a hit and bytes a key), "values" (bytes read, summed),
    # "exists" (a hit, for one key), "collection" (the bytes of its members).
    reply: str = ""


def _same(names: str, command: Command) -> dict[str, Command]:
    return dict.fromkeys(names.split(), command)


COMMANDS: dict[str, Command] = {
    **_same(
        "PING INFO FLUSHDB FLUSHALL SCRIPT CLIENT SELECT AUTH HELLO DBSIZE MULTI EXEC "
        "DISCARD UNWATCH CONFIG TIME ECHO RANDOMKEY COMMAND SLOWLOG LASTSAVE SAVE BGSAVE "
        "BGREWRITEAOF PUBLISH SUBSCRIBE UNSUBSCRIBE PSUBSCRIBE PUNSUBSCRIBE READONLY "
        "READWRITE QUIT RESET WAIT LATENCY ACL MODULE FUNCTION SWAPDB MONITOR CLUSTER "
        "DEBUG MEMORY OBJECT SHUTDOWN ROLE REPLICAOF SLAVEOF PUBSUB",
        Command(keys="none"),
    ),
    # The pattern of KEYS and SCAN ... MATCH is read apart.
    **_same("KEYS SCAN", Command("scan", keys="none")),
    **_same("GET GETEX GETDEL", Command("read", reply="hit")),
    "HGET": Command("read", reply="value"),
    "MGET": Command("read", keys="all", reply="mget"),
    "HMGET": Command("read", reply="values"),
    "EXISTS": Command("read", keys="all", reply="exists"),
    **_same("DEL UNLINK", Command("delete", keys="all")),
    "TOUCH": Command("touch", keys="all"),
    **_same("EXPIRE PEXPIRE EXPIREAT PEXPIREAT PERSIST", Command("touch")),
    "WATCH": Command(keys="all"),
    **_same("SET SETNX APPEND", Command("write", written=0)),
    **_same("SETEX PSETEX", Command("write", written=1)),
    "GETSET": Command("write", written=0, reply="value"),
    **_same("MSET MSETNX", Command("write", keys="pairs", written="pairs")),
    **_same("INCR INCRBY DECR DECRBY INCRBYFLOAT ZADD", Command("write")),
    **_same("HSET HMSET HSETNX", Command("write", written="hash")),
    **_same("SADD LPUSH RPUSH", Command("write", written="rest")),
    **_same("LPOP RPOP", Command(reply="value")),
    **_same("SMEMBERS HGETALL HVALS LRANGE ZRANGE", Command(reply="collection")),
    **_same("EVAL EVALSHA EVAL_RO EVALSHA_RO FCALL FCALL_RO", Command(keys="eval")),
}

_UNKNOWN = Command()


def command(name: str) -> Command:
    """``name`` as redis-py sends it: a word, or two (``CLIENT SETNAME``)."""
    found = COMMANDS.get(name)
    if found is None:
        found = COMMANDS.get(name.split(" ", 1)[0], _UNKNOWN)
    return found


def key_event_kind(name: str) -> str:
    """What a command does to each of its keys: a scan touches none of them."""
    kind = command(name).kind
    return "other" if kind == "scan" else kind
