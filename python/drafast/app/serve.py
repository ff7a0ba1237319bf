"""``drafast run``: one process, one role, until a signal (or a failed component) stops it."""

from __future__ import annotations

import logging

from drafast.app.lifecycle import SignalStop, first_error
from drafast.app.process import DriverProcess
from drafast.app.settings import RunOptions
from drafast.errors import ConfigError, DrafastError

log = logging.getLogger(__name__)


async def serve_until_signalled(opts: RunOptions) -> int:
    """0 after a signal; a start-up or run-time failure propagates as one :class:`DrafastError`
    (the CLI prints it and exits 2) after everything started was stopped."""
    stop = SignalStop(opts.grace_seconds)
    stop.install()
    try:
        async with DriverProcess(opts).running():
            await stop.event.wait()
    except BaseExceptionGroup as group:
        err = first_error(group)
        if isinstance(err, DrafastError):
            raise err from None
        raise
    except OSError as err:  # e.g. a directory the process cannot create
        raise ConfigError(f"{err.filename or 'start-up'}: {err.strerror or err}") from err
    finally:
        stop.disarm()
    return 0
