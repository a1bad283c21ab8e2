"""A real admin listener on a free loopback port, run by trio in a thread."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace

import trio

from gwcore.config import Config, Listener
from gwcore.gateway import Gateway
from gwtransports.admin.server import GatewayTarget, run_admin
from gwtransports.admin.store import MemoryStore, Store


@dataclass
class RunningAdmin:
    gateway: Gateway
    url: str
    port: int


@contextmanager
def running_admin(
    config: Config, store: Store | None = None, *, scheme: str = "http"
) -> Iterator[RunningAdmin]:
    """Serve the admin API of a gateway on ``config`` until the block ends."""
    config = replace(config, admin=replace(config.admin, listen=Listener(host="127.0.0.1", port=0)))
    gateway = Gateway(config)
    started = threading.Event()
    state = _ThreadState()

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            state.cancel = nursery.cancel_scope
            state.token = trio.lowlevel.current_trio_token()
            target = GatewayTarget(gateway, trio.current_time)
            listeners = await nursery.start(run_admin, config, target, store or MemoryStore())
            state.port = listeners[0].socket.getsockname()[1]
            nursery.start_soon(_tick, gateway)
            started.set()

    def thread_main() -> None:
        try:
            trio.run(main)
        except BaseException as exc:  # reported to the test below
            state.error = exc
            started.set()

    thread = threading.Thread(target=thread_main, daemon=True)
    thread.start()
    assert started.wait(10), "admin server did not start"
    if state.error is not None:
        raise state.error
    assert state.cancel is not None
    try:
        yield RunningAdmin(
            gateway=gateway, url=f"{scheme}://127.0.0.1:{state.port}", port=state.port
        )
    finally:
        trio.from_thread.run_sync(state.cancel.cancel, trio_token=state.token)
        thread.join(10)


async def _tick(gateway: Gateway) -> None:
    """Expire instance leases as ``gw serve`` does (the core says when)."""
    while True:
        deadline = gateway.next_deadline()
        await trio.sleep_until(min(deadline, trio.current_time() + 0.05) if deadline else
                               trio.current_time() + 0.05)  # fmt: skip
        gateway.tick(trio.current_time())


@dataclass
class _ThreadState:
    cancel: trio.CancelScope | None = None
    token: trio.lowlevel.TrioToken | None = None
    port: int = 0
    error: BaseException | None = None
