"""The one table of the Redis commands the cache hooks understand: what kind of
call each one is, where its keys and written values are among its arguments, and
what its reply tells (hits, bytes read). Commands not in it are ``other``, with
their first argument as their key."""

from __future__ import annotations

from typing import Any, NamedTuple

from ddt_perfpanels.recording.cache_records import _MAX_KEYS, RedisCommand, key_text, value_size


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


def spec(name: str) -> Command:
    """``name`` as redis-py sends it: a word, or two (``CLIENT SETNAME``)."""
    found = COMMANDS.get(name)
    if found is None:
        found = COMMANDS.get(name.split(" ", 1)[0], _UNKNOWN)
    return found


def key_event_kind(name: str) -> str:
    """What a command does to each of its keys: a scan touches none of them."""
    kind = spec(name).kind
    return "other" if kind == "scan" else kind


# -- reading a command and its reply ----------------------------------------------


def command_name(args: tuple[Any, ...]) -> str:
    if not args:
        return ""
    name = args[0]
    if isinstance(name, bytes):
        name = name.decode("utf-8", "replace")
    return str(name).upper()


def _command_keys(name: str, args: tuple[Any, ...]) -> tuple[list[Any], str | None]:
    where = spec(name).keys
    if where == "none":
        pattern = None
        if name == "KEYS" and len(args) > 1:
            pattern = key_text(args[1])
        elif name == "SCAN":
            for i, arg in enumerate(args[:-1]):
                if isinstance(arg, (str, bytes)) and key_text(arg).upper() == "MATCH":
                    pattern = key_text(args[i + 1])
        return [], pattern
    if where == "all":
        return list(args[1 : 1 + _MAX_KEYS]), None
    if where == "pairs":
        return list(args[1 : 1 + 2 * _MAX_KEYS : 2]), None
    if where == "eval":
        try:
            count = int(args[2])
        except (IndexError, TypeError, ValueError):
            return [], None
        return list(args[3 : 3 + min(count, _MAX_KEYS)]), None
    return ([args[1]] if len(args) > 1 else []), None


def _new_command(args: tuple[Any, ...], server: str) -> tuple[RedisCommand, list[Any]]:
    name = command_name(args)
    keys, pattern = _command_keys(name, args)
    command = RedisCommand(name, [key_text(k) for k in keys], pattern, server)
    # Bytes written: the values this command sends.
    written = spec(name).written
    if isinstance(written, int):
        if len(args) > 2 + written:
            command.written_sizes = [value_size(args[2 + written])]
    elif written == "pairs":
        command.written_sizes = [value_size(v) for v in args[2 : 2 + 2 * _MAX_KEYS : 2]]
    elif written == "hash" and len(args) > 3:
        command.written_sizes = [sum(value_size(v) or 0 for v in args[3::2])]
    elif written == "rest" and len(args) > 2:
        command.written_sizes = [sum(value_size(v) or 0 for v in args[2:])]
    return command, keys


def _observe_reply(command: RedisCommand, reply: Any) -> None:
    tells = spec(command.name).reply
    if tells == "hit" or tells == "value":
        if tells == "hit":
            command.hits = [reply is not None]
        command.read_sizes = [value_size(reply) if reply is not None else None]
    elif tells == "mget" and isinstance(reply, list):
        command.hits = [value is not None for value in reply[: len(command.keys)]]
        command.read_sizes = [
            value_size(value) if value is not None else None for value in reply[: len(command.keys)]
        ]
    elif tells == "values" and isinstance(reply, list):
        command.read_sizes = [sum(value_size(v) or 0 for v in reply if v is not None)]
    elif tells == "exists" and len(command.keys) == 1 and isinstance(reply, int):
        command.hits = [reply > 0]
    elif tells == "collection" and isinstance(reply, (list, set, dict)):
        values = reply.values() if isinstance(reply, dict) else reply
        command.read_sizes = [sum(value_size(v) or 0 for v in values)]
