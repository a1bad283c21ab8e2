"""Request targets: split, normalise, and rewrite onto the upstream path.

Theory of operation
-------------------
A request target goes through three steps, in this order:

1. :func:`split_target` splits an origin-form target (RFC 9112 3.2.1) into the
   raw path and the query. The query is forwarded to the upstream byte for byte;
   it is only checked for characters that cannot appear in a request line.
2. :func:`normalise_path` turns the raw path into the one canonical spelling that
   routing sees. Routing on anything else would let ``/public/../admin`` or
   ``/public/%2e%2e/admin`` reach a route the operator never exposed.
3. :func:`rewrite_path` replaces the matched route prefix with the route's
   ``rewrite`` (Ambassador semantics), giving the path sent upstream.

What normalisation does, exactly (so that upstreams and operators can rely on it):

* ``%XX`` escapes of *unreserved* characters (``A-Z a-z 0-9 - . _ ~``,
  RFC 3986 2.3) are decoded, as RFC 3986 6.2.2.2 allows. This happens before
  dot-segment removal, so ``%2e%2e`` is a ``..`` segment and is removed like one.
* ``%2F`` (``/``), ``%5C`` (``\\``) and ``%00`` in any case are rejected: decoding
  them would change the path's structure (or end a C string upstream), and keeping
  them encoded lets an upstream that decodes them see a path other than the one
  routing saw. Every other escape is kept encoded, its hex digits upper-cased
  (RFC 3986 6.2.2.1). Decoding happens exactly once: ``%252F`` stays ``%252F``.
* A ``%`` not followed by two hex digits is rejected.
* The printable ASCII characters RFC 3986 does not allow raw in a path
  (``" < > [ ] ^ ` { | }``) are percent-encoded, so that both spellings of such a
  path are the same path.
* Raw spaces, control characters, non-ASCII characters, ``\\``, ``#`` and ``?``
  are rejected (none can appear in a valid HTTP/1.1 request line path; ``\\`` is a
  separator on some upstreams).
* Empty segments are dropped (``//`` is merged) and then dot segments are removed
  (RFC 3986 5.2.4): ``.`` is dropped, ``..`` drops the previous segment and never
  climbs above the root. Dropping empty segments first means ``/a//../b`` is
  ``/b``: every segment that routing counts is a real one.
* A trailing ``/`` is kept; a path that ends in ``.`` or ``..`` ends in ``/``.

The result is idempotent: ``normalise_path(normalise_path(p)) == normalise_path(p)``.
"""

from __future__ import annotations

import re

from gwcore.errors import RequestError

__all__ = ["normalise_path", "rewrite_path", "split_normalised", "split_target"]

# Characters RFC 3986 allows raw in a path segment (pchar minus pct-encoded).
_PCHAR = "A-Za-z0-9\\-._~!$&'()*+,;=:@"
# The common case: a path of pchars and '/' only, with no '%', no '//' and no
# segment starting with '.', is already canonical and is returned as is (one regex
# match and two substring scans, all in C). Anything else takes the full path.
_PLAIN = re.compile(f"/[{_PCHAR}/]*")
# Printable ASCII (0x21-0x7e) that is neither a pchar, '%' nor '/': encoded.
_ENCODE = frozenset('"<>[]^`{|}')
# Rejected raw, each with the reason the client is told.
_REJECT = {
    "\\": "backslash in path",
    "#": "fragment ('#') in request target",
    "?": "'?' in path (the query must be split off first)",
}
_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
_HEX = frozenset("0123456789abcdefABCDEF")
# Escapes that would change the path's structure if decoded: rejected.
_FORBIDDEN_ESCAPES = {"2F": "encoded '/' (%2F)", "5C": "encoded '\\' (%5C)", "00": "encoded NUL"}
# Characters that can never appear in a request line (RFC 9112 3.2: the target is
# visible ASCII only).
_BAD_QUERY = re.compile("[^\x21-\x7e]|#")


def split_target(target: str) -> tuple[str, str]:
    """Split an origin-form request target into its raw path and its query.

    Args:
        target: The request target as received, e.g. ``/user/1?x=2``.

    Returns:
        ``(path, query)``: the raw (not yet normalised) path and the query without
        its ``?`` (``""`` when there is none or it is empty). ``"*"`` (the
        asterisk-form of ``OPTIONS *``) is returned as ``("*", "")``; it names no
        path, so :func:`normalise_path` rejects it and the transport answers it
        itself.

    Raises:
        RequestError: The target is empty, absolute-form (``http://h/p``),
            authority-form (``h:443``) or otherwise does not start with ``/``, or
            it contains a fragment, a space, a control or a non-ASCII character.
    """
    if target == "*":
        return "*", ""
    if not target.startswith("/"):
        if not target:
            raise RequestError("empty request target")
        raise RequestError("request target must be origin-form (start with '/')")
    path, _, query = target.partition("?")
    # The path's own characters are checked by normalise_path; the query is
    # forwarded unchanged, so it is checked here.
    bad = _BAD_QUERY.search(query)
    if bad is not None:
        raise RequestError(f"invalid character {bad.group()!r} in query")
    return path, query


def _reject_char(ch: str) -> RequestError:
    reason = _REJECT.get(ch)
    if reason is None:
        reason = f"invalid character {ch!r} in path"
    return RequestError(reason)


def _canonical_chars(path: str) -> str:
    """Check every character and spell each one canonically (decode, encode, upper)."""
    out: list[str] = []
    i = 0
    n = len(path)
    while i < n:
        ch = path[i]
        if ch == "%":
            hexpair = path[i + 1 : i + 3]
            if len(hexpair) != 2 or not _HEX.issuperset(hexpair):
                raise RequestError("malformed percent escape in path")
            hexpair = hexpair.upper()
            forbidden = _FORBIDDEN_ESCAPES.get(hexpair)
            if forbidden is not None:
                raise RequestError(f"{forbidden} in path")
            decoded = chr(int(hexpair, 16))
            out.append(decoded if decoded in _UNRESERVED else "%" + hexpair)
            i += 3
            continue
        if not "\x21" <= ch <= "\x7e" or ch in _REJECT:
            raise _reject_char(ch)
        out.append(f"%{ord(ch):02X}" if ch in _ENCODE else ch)
        i += 1
    return "".join(out)


def _remove_dot_segments(path: str) -> str:
    """RFC 3986 5.2.4 on a path whose empty segments are dropped first."""
    kept: list[str] = []
    segments = path.split("/")
    for segment in segments:
        if segment == "..":
            if kept:
                kept.pop()
        elif segment not in ("", "."):
            kept.append(segment)
    # A path that ends in '/', '.' or '..' names a directory: keep the slash.
    trailing = "/" if kept and segments[-1] in ("", ".", "..") else ""
    return "/" + "/".join(kept) + trailing


def normalise_path(path: str) -> str:
    """Return the canonical form of a raw request path; see the module docstring.

    Args:
        path: A raw path as returned by :func:`split_target`.

    Returns:
        The normalised path: starts with ``/``, has no ``.``/``..`` segments and no
        ``//``. A path already in that form (no ``%``, no dot segment, no ``//``, no
        character needing an escape) is returned unchanged without copying.

    Raises:
        RequestError: The path does not start with ``/`` (including ``*``), has a
            malformed escape, ``%2F``/``%5C``/``%00``, or a raw space, control,
            non-ASCII character, ``\\``, ``#`` or ``?``.
    """
    if _PLAIN.fullmatch(path) is not None and "//" not in path and "/." not in path:
        return path
    if not path.startswith("/"):
        raise RequestError("path must start with '/'")
    return _remove_dot_segments(_canonical_chars(path))


# A whole target whose path is already canonical (as _PLAIN) and whose query is
# visible ASCII without '#': split_normalised's one-match case.
_PLAIN_TARGET = re.compile(f"(/[{_PCHAR}/]*)(?:\\?([\\x21\\x22\\x24-\\x7e]*))?")


def split_normalised(target: str) -> tuple[str, str]:
    """:func:`split_target`, then :func:`normalise_path` on the path, in one step.

    The common target (a canonical path, a plain query) costs one regex match;
    any other takes the two functions, with their errors.

    Args:
        target: The request target as received.

    Returns:
        ``(normalised path, query)``.

    Raises:
        RequestError: As :func:`split_target` or :func:`normalise_path` would.
    """
    match = _PLAIN_TARGET.fullmatch(target)
    if match is not None:
        path = match.group(1)
        if "//" not in path and "/." not in path:
            return path, match.group(2) or ""
    path, query = split_target(target)
    return normalise_path(path), query


def rewrite_path(path: str, prefix: str, rewrite: str) -> str:
    """Replace the matched route prefix of ``path`` with ``rewrite``.

    The prefix's segments are replaced by the rewrite's segments; the rest of the
    path, including whether it ends with ``/``, is kept. So with ``prefix="/user/"``:
    ``rewrite="/"`` maps ``/user/x`` to ``/x`` and ``/user`` to ``/``;
    ``rewrite="/user/"`` (or ``"/user"``) maps every path to itself; and
    ``rewrite="/api/"`` maps ``/user/x`` to ``/api/x``, ``/user/`` to ``/api/`` and
    ``/user`` to ``/api``. The result starts with ``rewrite``, except that a path
    ending exactly at the prefix without a ``/`` keeps not ending with one (it is
    ``rewrite`` without its trailing ``/``, or ``/``). It never contains ``//`` or
    a dot segment when ``path`` and ``rewrite`` do not.

    Args:
        path: A normalised path that the route's prefix matched.
        prefix: The route's prefix (normal form, starts with ``/``).
        rewrite: The route's rewrite (normal form, starts with ``/``).

    Returns:
        The upstream path (without the query).

    Raises:
        ValueError: ``prefix`` does not match ``path`` on whole segments, or
            ``rewrite`` does not start with ``/`` (caller misuse).
    """
    base = prefix[:-1] if prefix[-1:] == "/" else prefix
    rest = path[len(base) :]
    if (rest and rest[0] != "/") or not path.startswith(base):
        raise ValueError(f"prefix {prefix!r} does not match path {path!r}")
    if rewrite[:1] != "/":
        raise ValueError(f"rewrite {rewrite!r} must start with '/'")
    return (rewrite[:-1] if rewrite[-1] == "/" else rewrite) + rest or "/"
