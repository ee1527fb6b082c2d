"""The database hook: Django's official ``connection.execute_wrapper``.

The wrapper is appended to every connection when it connects (and to those
already connected when first installed). Outside a capture it costs one
``ContextVar.get()`` and passes the call straight through.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from time import perf_counter
from typing import TYPE_CHECKING, Any

from django.db import connections
from django.db.backends.signals import connection_created

from ddt_perfpanels.recording import context, where
from ddt_perfpanels.recording.context import NO_FRAMES, ONE_PARAM, Load, QueryRecord
from ddt_perfpanels.recording.stack import TOOLBAR_STORAGE, capture_stack, shared_stack

if TYPE_CHECKING:
    from types import FrameType

    from django.db.backends.base.base import BaseDatabaseWrapper

    from ddt_perfpanels.recording.context import Recorder
    from ddt_perfpanels.recording.stack import Frame, TemplatePosition

# The table of django-debug-toolbar's DatabaseStore (its HistoryEntry model).
_TOOLBAR_TABLE = "debug_toolbar_historyentry"
# The code flags of a frame that can be suspended and resumed from another caller.
_SUSPENDS = (
    inspect.CO_GENERATOR
    | inspect.CO_COROUTINE
    | inspect.CO_ASYNC_GENERATOR
    | inspect.CO_ITERABLE_COROUTINE
)


def record_query(
    execute: Callable[[str, Any, bool, dict[str, Any]], Any],
    sql: str,
    params: Any,
    many: bool,
    context_: dict[str, Any],
) -> Any:
    recorder = context._active.get()
    if recorder is None:
        return execute(sql, params, many, context_)
    start = perf_counter()
    error: Exception | None = None
    try:
        return execute(sql, params, many, context_)
    except Exception as exc:
        error = exc
        raise
    finally:
        duration = (perf_counter() - start) * 1000
        try:
            if recorder.light:
                # The numbers only: no stack, and no cause (the ORM hooks record
                # nothing into a light capture), kept in the recorder's light
                # lists (Recorder.records says why). Written here, not in a
                # function of its own: this runs for every query of every light
                # capture, and a call is most of what it would cost.
                if not isinstance(sql, str):
                    sql = _as_text(sql)
                sqls = recorder.light_sql
                if len(sqls) >= recorder.light_room:
                    _drop(recorder, duration)
                elif _TOOLBAR_TABLE not in sql:  # the toolbar's own storage, told by its table
                    # Everything that can fail before the first append: the
                    # lists stay the same length.
                    connection = context_["connection"]
                    if many:
                        param = params = None  # executemany's may be a consumed generator
                    elif type(params) is tuple and len(params) == 1:
                        params, param = ONE_PARAM, params[0]
                    else:
                        param = None
                    if many or error is not None:
                        recorder.light_odd[len(sqls)] = (
                            many,
                            None if error is None else context.format_exception(error),
                        )
                    sqls.append(sql)
                    recorder.light_params.append(params)
                    recorder.light_param.append(param)
                    recorder.light_connection.append(connection)
                    recorder.light_ms.append(duration)
            else:
                _record(recorder, sql, params, many, context_, duration, error)
        except Exception as exc:  # never let bookkeeping break the user's query
            recorder.internal_error("recording a query", exc)


def _as_text(sql: object) -> str:
    """Django types the SQL as a str; bytes or a driver's SQL object all the same."""
    return sql.decode("utf-8", "replace") if isinstance(sql, bytes) else str(sql)


def _drop(recorder: Recorder, duration: float) -> None:
    """Past MAX_QUERIES: counted and timed, not recorded."""
    recorder.dropped_queries += 1
    recorder.dropped_time_ms += duration


def _record(
    recorder: Recorder,
    sql: object,  # a str, as Django types it; bytes or a driver's SQL object all the same
    params: Any,
    many: bool,
    context_: dict[str, Any],
    duration: float,
    error: Exception | None,
) -> None:
    """A query of a full capture: with its stack and its cause."""
    if not isinstance(sql, str):
        sql = _as_text(sql)
    if len(recorder.records) >= recorder.max_queries:
        _drop(recorder, duration)
        return
    connection = context_["connection"]
    cause = context._cause.get()
    frames: Sequence[Frame]
    template: TemplatePosition | None
    library: Sequence[Frame]
    if recorder.provenance_stopped_at is not None:
        # The numbers only: no stack. The toolbar's own storage is told by its
        # table instead of by its frames.
        if _TOOLBAR_TABLE in sql:
            return
        frames, template, library = NO_FRAMES, None, NO_FRAMES
        start = None
    else:
        # A load's own query (its first) starts from the frame that asked for
        # the rows: below it is only Django's machinery, not worth walking.
        # Later queries of the load (a signal handler's, as rows are built)
        # walk from here: skip this function and record_query.
        start = cause.frame if type(cause) is Load and cause.first_query is None else None
        walked = recorder.last_walk
        if (
            start is not None
            and walked is not None
            and walked[0] is start
            and walked[1] == start.f_lasti
            and (walked[5] is None or _resumed_as_before(start, walked[5]))
        ):
            # A loop's next load, asked for from the same line of the same frame:
            # that frame is still running, so the frames above it are unchanged
            # (for a generator's frame: resumed from where it was resumed before).
            frames, template, library = walked[2], walked[3], walked[4]
        else:
            library = []
            stack, template = capture_stack(
                recorder.stack_depth, skip=2, toolbar_storage=True, library=library, start=start
            )
            if stack is TOOLBAR_STORAGE:
                return
            if not library:
                library = NO_FRAMES
            if stack:
                # A tuple of (file, line, function) tuples, one per distinct stack:
                # the garbage collector does not track it, where a list would be
                # traversed by every collection until the request ends.
                frames = shared_stack(stack)
                if start is not None:
                    if not start.f_code.co_flags & _SUSPENDS:
                        recorder.last_walk = (start, start.f_lasti, frames, template, library, None)
                    else:
                        # A generator's or a coroutine's frame (a generator
                        # expression's loop): resumed from elsewhere, the frames
                        # above it would differ, so where it was resumed from is
                        # kept with the walk.
                        resumers = _resumers(start)
                        if resumers is not None:
                            recorder.last_walk = (
                                start, start.f_lasti, frames, template, library, resumers
                            )
            elif template is None:
                # A worker thread of aget() and friends: the awaiting code's frames.
                awaited = context._async_frames.get()
                frames = awaited[1] if awaited else NO_FRAMES
            else:
                frames = NO_FRAMES
    if many:
        # executemany params may be a generator that execute() consumed.
        params = None
    record = QueryRecord(
        len(recorder.records),
        sql,
        params,
        many,
        connection.alias,
        connection.vendor,
        duration,
        frames,
        template,
    )
    record.library = library
    record.cause = cause
    if error is not None:
        record.error = context.format_exception(error)
    recorder.records.append(record)
    if isinstance(cause, Load) and cause.first_query is None:
        cause.first_query = record
        if cause.built == () and library and not frames:
            # A package followed a relation: what built its queryset (see
            # orm._begin_load).
            cause.built = tuple(library)
        where.note(recorder, cause, start=start)
    if (
        recorder.provenance_stopped_at is None
        # recorder.provenance_size(), inlined: this runs for every query.
        and len(recorder.tags) + len(recorder.loads) + len(recorder.ops) >= recorder.max_provenance
    ):
        recorder.stop_provenance()


# How many frames above a generator's frame are compared, at most, to reuse its
# walk (generators resuming generators); past that, its stack is walked again.
_MAX_RESUMERS = 8


def _resumers(frame: FrameType) -> tuple[tuple[FrameType, int], ...] | None:
    """The frames above a generator's (or coroutine's) frame, each with where it
    is, up to the first that cannot be suspended: the frames above that one stay
    as they are while it runs. None when it is further up than _MAX_RESUMERS."""
    chain: list[tuple[FrameType, int]] = []
    caller = frame.f_back
    while caller is not None and len(chain) < _MAX_RESUMERS:
        chain.append((caller, caller.f_lasti))
        if not caller.f_code.co_flags & _SUSPENDS:
            return tuple(chain)
        caller = caller.f_back
    return None


def _resumed_as_before(frame: FrameType, resumers: tuple[tuple[FrameType, int], ...]) -> bool:
    caller = frame.f_back
    for expected, lasti in resumers:
        if caller is not expected or caller.f_lasti != lasti:
            return False
        caller = caller.f_back
    return True


def _add_wrapper(connection: BaseDatabaseWrapper) -> None:
    if record_query not in connection.execute_wrappers:
        connection.execute_wrappers.append(record_query)


def _on_connection_created(sender: Any, connection: BaseDatabaseWrapper, **kwargs: Any) -> None:
    _add_wrapper(connection)


def install() -> None:
    """Hook every connection of every thread from now on; idempotent."""
    connection_created.connect(_on_connection_created, dispatch_uid="ddt_perfpanels_db")
    hook_open_connections()


def hook_open_connections() -> None:
    """Connections of this thread that exist already (connected or not): the
    signal only fires on connect, and a connection may be open already."""
    for connection in connections.all(initialized_only=True):
        _add_wrapper(connection)
