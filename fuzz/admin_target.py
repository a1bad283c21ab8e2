# Invariant: any admin request gets a 2xx/4xx answer (JSON); state unchanged unless 2xx.
"""Fuzz target for the admin API surface (gwtransports.admin.handlers).

Each input is one raw HTTP/1.1 request. It is parsed with h11 twice, whole and
split byte by byte, and both parses must give the same request (the admin
listener reads with h11). The request then goes to the pure admin handler over a
real gateway, and a write is applied as the listener applies it. The answer must
be a 2xx or 4xx (never a 5xx or an exception), with a JSON body in the admin
error shape for errors (``/metrics`` and YAML dumps are text by design), and
the gateway's config and generation must not move unless the answer is a 2xx
(and not a dry run). Inputs h11 refuses are uninteresting: the listener answers
those with its own 400.

Run it under atheris (``pip install atheris``)::

    python fuzz/admin_target.py fuzz/admin_corpus/

Without atheris, ``check`` runs in the test suite on the corpus and on a short
hypothesis run (tests/gwtransports/admin/test_fuzz_admin.py).
"""

from __future__ import annotations

import json
import sys

import h11

from gwcore.config import from_dict
from gwcore.errors import ConfigError
from gwcore.gateway import Gateway
from gwtransports.admin.handlers import (
    AdminContext,
    AdminRequest,
    Response,
    handle,
    refused_response,
    write_response,
)

_BASE = {
    "services": {"users": {"endpoints": [{"url": "http://127.0.0.1:9001"}]}},
    "routes": {"usermapping": {"prefix": "/user/", "service": "users"}},
}
_CONTEXT = AdminContext(token=None, version="fuzz")


def _parse(chunks: list[bytes]) -> AdminRequest | None:
    conn = h11.Connection(h11.SERVER)
    head: h11.Request | None = None
    body = b""
    for chunk in [*chunks, b""]:
        conn.receive_data(chunk)
        while True:
            try:
                event = conn.next_event()
            except h11.RemoteProtocolError:
                return None
            if event is h11.NEED_DATA or isinstance(event, h11.ConnectionClosed):
                break
            if isinstance(event, h11.Request):
                head = event
            elif isinstance(event, h11.Data):
                body += event.data
            elif isinstance(event, h11.EndOfMessage):
                assert head is not None
                return AdminRequest(
                    method=head.method.decode("ascii", "replace"),
                    target=head.target.decode("ascii", "replace"),
                    headers=tuple(
                        (k.decode("latin-1").lower(), v.decode("latin-1")) for k, v in head.headers
                    ),
                    body=body,
                )
    return None


def _answer(gateway: Gateway, request: AdminRequest) -> Response:
    result = handle(request, gateway, _CONTEXT, 0.0)
    if isinstance(result, Response):
        return result
    try:
        applied = gateway.apply(result.change, 0.0)
    except ConfigError as exc:
        return refused_response(result, exc)
    return write_response(result, applied)


def check(data: bytes) -> None:
    """Assert the invariant for one input.

    Raises:
        AssertionError: The invariant does not hold.
        Exception: Anything the handler raises is a bug and propagates.
    """
    whole = _parse([data])
    split = _parse([data[i : i + 1] for i in range(len(data))])
    assert whole == split, "parsing whole and byte by byte differ"
    if whole is None:
        return
    gateway = Gateway(from_dict(_BASE))
    before = (gateway.config, gateway.generation)
    response = _answer(gateway, whole)
    assert 200 <= response.status < 500, f"status {response.status}"
    if response.content_type == "application/json":
        body = json.loads(response.body)
        if response.status >= 400:
            assert set(body) == {"error", "detail", "errors"}, body
    else:
        assert response.status < 300, "errors are always JSON"
    if response.status >= 300 or "dry_run=1" in whole.target:
        assert (gateway.config, gateway.generation) == before, "a refused write changed state"


def main() -> None:
    """Run under atheris with the corpus directories given on the command line."""
    import atheris  # type: ignore[import-untyped, import-not-found, unused-ignore]  # noqa: PLC0415

    atheris.instrument_all()  # coverage feedback from h11, the handlers and gwcore
    atheris.Setup(sys.argv, check)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
