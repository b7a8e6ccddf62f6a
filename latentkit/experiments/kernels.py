"""A kernel manager for executing chapters with papermill that cannot wait forever on a message already there.

nbclient waits for a cell's reply with ``get_msg(timeout=None)`` on the kernel client's asyncio ZMQ sockets. On
these machines that wait was seen to miss its wake-up: a chapter's widget cell had run, the kernel was idle and
had sent its reply, yet the client stayed blocked (4 times in the preset matrix's runs of ``score-cifar10``,
always on chapter 1's interactive-slider cell, which every other preset ran through). A new poll sees the
message at once: pyzmq checks a socket's pending events when a poll is registered. So the kernel manager of
:func:`repolling_kernel_manager` hands nbclient kernel clients whose channels wait in slices of
:data:`REPOLL_SECONDS` instead of forever; a wait with a finite timeout is unchanged, and a slice that times
out consumes nothing.

jupyter_client comes with the ``book`` extra (papermill), so the classes are built on first use.

Example:
    >>> manager = repolling_kernel_manager()  # for papermill.execute_notebook(..., kernel_manager_class=manager)
    >>> manager.__name__, manager().client_factory.__name__
    ('RepollingKernelManager', 'RepollingKernelClient')
"""

from __future__ import annotations

import functools
from queue import Empty
from typing import Any

__all__ = ["REPOLL_SECONDS", "repolling_kernel_manager"]

REPOLL_SECONDS = 1.0  # the longest a wait for a kernel message lasts before the socket is polled afresh


@functools.cache
def repolling_kernel_manager() -> type:
    """``jupyter_client.AsyncKernelManager`` whose clients' shell and IOPub channels re-poll (see the module)."""
    from jupyter_client import AsyncKernelManager
    from jupyter_client.asynchronous.client import AsyncKernelClient
    from jupyter_client.channels import AsyncZMQSocketChannel
    from traitlets import Type, default

    class RepollingChannel(AsyncZMQSocketChannel):
        """A ZMQ channel whose unbounded :meth:`get_msg` polls afresh every :data:`REPOLL_SECONDS`."""

        async def get_msg(self, timeout: float | None = None) -> dict[str, Any]:  # type: ignore[override]
            if timeout is not None:
                return await super().get_msg(timeout)
            while True:
                try:
                    return await super().get_msg(REPOLL_SECONDS)
                except Empty:
                    continue

    class RepollingKernelClient(AsyncKernelClient):
        shell_channel_class = Type(RepollingChannel)  # type: ignore[assignment]
        iopub_channel_class = Type(RepollingChannel)  # type: ignore[assignment]

    class RepollingKernelManager(AsyncKernelManager):
        @default("client_factory")
        def _client_factory_default(self) -> type:
            return RepollingKernelClient

    return RepollingKernelManager
