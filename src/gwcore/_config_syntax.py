"""Syntax of the strings inside a config: paths, hosts, addresses, URLs, tokens.

Each checker takes the value as written and either returns its normal form or
raises ``ValueError`` with a message that says what would be right. They know
nothing about field paths; :mod:`gwcore._config_fields` attaches those.

Route prefixes and rewrites must already be in the normal form that
:mod:`gwcore.rewrite` produces from a request target (RFC 3986 6.2.2: no dot
segments, no ``//``, unreserved characters not percent-encoded, escapes in upper
case). A prefix in any other form could never match, because requests are
normalised before matching; rejecting it at load time beats a silent 404.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping

# RFC 9110 5.6.2: token = 1*tchar.
_TOKEN_RE = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# RFC 3986 3.3 pchar without pct-encoded, plus '/': what a normalised path holds.
_PATH_CHARS = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~!$&'()*+,;=:@/"
)
_UNRESERVED = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~")
_HEX = frozenset("0123456789ABCDEFabcdef")
# Escapes that the request normaliser refuses with 400 (encoded '/', '\', NUL).
_REFUSED_ESCAPES = frozenset({"%2F", "%5C", "%00"})
# A DNS-ish label: letters, digits, '-' and '_' (service names in container
# networks use '_'), not starting or ending with '-'.
_LABEL_RE = re.compile(r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?")
_PORT_RE = re.compile(r"[0-9]{1,5}")
_URL_RE = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*)://([^/?#]*)(.*)", re.DOTALL)
_STAGE_REF_RE = re.compile(r"\$\{stageVariables\.([A-Za-z0-9_]+)\}")
_ETCD_RE = re.compile(r"etcd\(\s*([^,()\s]+)\s*,\s*([^()\s]+)\s*\)")
#: Names of stage variables.
VARIABLE_RE = re.compile(r"[A-Za-z0-9_]+")


def check_token(value: str, what: str) -> str:
    """Check an RFC 9110 token (method, header name).

    Raises:
        ValueError: When ``value`` has characters a token cannot have.
    """
    if _TOKEN_RE.fullmatch(value) is None:
        raise ValueError(f"{what} {value!r} is not a valid token (RFC 9110 5.6.2)")
    return value


def check_header_value(value: str) -> str:
    """Check a header value: visible ASCII, spaces and tabs inside, no edges.

    Raises:
        ValueError: For control characters, non-ASCII, or surrounding whitespace
            (h11 strips it, so a constraint with it could never match).
    """
    if any(not (" " <= ch <= "~" or ch == "\t") for ch in value):
        raise ValueError("header values must be visible ASCII characters")
    if value != value.strip(" \t"):
        raise ValueError("header values must not start or end with whitespace")
    return value


def check_path(value: str, what: str) -> str:
    """Check that a route prefix or rewrite is a path in normal form.

    Args:
        value: The path as written.
        what: ``"prefix"`` or ``"rewrite"``, for messages.

    Returns:
        ``value`` unchanged.

    Raises:
        ValueError: Saying which rule the path breaks.
    """
    if not value.startswith("/"):
        raise ValueError(f"{what} must start with '/'")
    for bad, name in (("?", "'?'"), ("#", "'#'")):
        if bad in value:
            raise ValueError(f"{what} must not contain {name}: it is a path, not a URL")
    if any(ch.isspace() for ch in value):
        raise ValueError(f"{what} must not contain whitespace")
    position = 0
    while (position := value.find("%", position)) != -1:
        _check_escape(value[position : position + 3], what)
        position += 3
    bad_chars = sorted({ch for ch in value if ch not in _PATH_CHARS and ch != "%"})
    if bad_chars:
        shown = ", ".join(repr(ch) for ch in bad_chars)
        raise ValueError(f"{what} must percent-encode {shown} (RFC 3986 path characters only)")
    if "//" in value:
        raise ValueError(
            f"{what} must not contain '//': requests are normalised before matching, "
            "so write the normal form"
        )
    if any(segment in (".", "..") for segment in value.split("/")):
        raise ValueError(
            f"{what} must not contain '.' or '..' segments: requests are normalised "
            "before matching, so write the normal form"
        )
    return value


def _check_escape(escape: str, what: str) -> None:
    if len(escape) < 3 or not set(escape[1:]) <= _HEX:
        raise ValueError(f"{what} has a '%' that is not followed by two hex digits")
    if escape != escape.upper():
        raise ValueError(f"{what} must write percent-escapes in upper case ({escape.upper()})")
    if escape in _REFUSED_ESCAPES:
        raise ValueError(f"{what} must not contain {escape}: requests with it are refused (400)")
    decoded = chr(int(escape[1:], 16))
    if decoded in _UNRESERVED:
        raise ValueError(
            f"{what} must write {decoded!r} instead of {escape}: requests are "
            "normalised before matching, so write the normal form"
        )


def _check_dns_name(name: str) -> str:
    if not name or len(name) > 253:
        raise ValueError("host name must have 1 to 253 characters")
    labels = name.split(".")
    bad = [label for label in labels if _LABEL_RE.fullmatch(label) is None]
    if bad:
        raise ValueError(f"invalid host name label {bad[0]!r} in {name!r}")
    if all(label.isdigit() for label in labels):
        # Digits only: it can only be an IPv4 address.
        try:
            ipaddress.IPv4Address(name)
        except ValueError:
            raise ValueError(f"{name!r} is not a valid IPv4 address") from None
    return name


def _split_host_port(value: str) -> tuple[str, str | None]:
    """Split ``host[:port]`` / ``[v6][:port]``; the host is IPv6 unbracketed."""
    if value.startswith("["):
        end = value.find("]")
        if end == -1:
            raise ValueError(f"{value!r}: '[' without ']'")
        host, rest = value[1:end], value[end + 1 :]
        try:
            host = str(ipaddress.IPv6Address(host))
        except ValueError:
            raise ValueError(f"{host!r} is not a valid IPv6 address") from None
        if rest and not rest.startswith(":"):
            raise ValueError(f"{value!r}: unexpected {rest!r} after ']'")
        return host, rest[1:] if rest else None
    host, colon, port = value.partition(":")
    if ":" in port:
        raise ValueError(f"{value!r}: write IPv6 addresses in brackets, like [::1]:8080")
    return host.lower(), port if colon else None


def _port(text: str, low: int) -> int:
    if _PORT_RE.fullmatch(text) is None or not low <= int(text) <= 65535:
        raise ValueError(f"port must be a number between {low} and 65535, not {text!r}")
    return int(text)


def parse_address(value: str) -> tuple[str, int]:
    """Read a listen address ``host:port`` or ``[v6]:port``.

    Returns:
        The host (IPv6 without brackets, names lower-cased) and the port (0..65535).

    Raises:
        ValueError: For a missing or bad host or port.
    """
    host, port = _split_host_port(value)
    if port is None:
        raise ValueError(f"{value!r} has no port; write host:port, like 127.0.0.1:8080")
    if ":" not in host:
        _check_dns_name(host)
    return host, _port(port, 0)


def format_address(host: str, port: int) -> str:
    """The inverse of :func:`parse_address`."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def normal_host(value: str) -> str:
    """Read a route's host: exact (``api.example.com``) or ``*.example.com``.

    Returns:
        The normal form the router compares with: lower case, no port, no
        trailing dot; IPv6 literals in brackets, compressed.

    Raises:
        ValueError: For a ``*`` anywhere but as the whole first label, or a bad name.
    """
    lowered = value.lower()
    wildcard = lowered.startswith("*.")
    host, port = _split_host_port(lowered[2:] if wildcard else lowered)
    if port is not None:
        _port(port, 1)
    if ":" in host and not wildcard:
        return f"[{host}]"
    host = host.removesuffix(".")
    if "*" in host or ":" in host:
        raise ValueError("a wildcard host is '*.' followed by a domain, like '*.example.com'")
    _check_dns_name(host)
    return f"*.{host}" if wildcard else host


def check_host_header(value: str) -> str:
    """Check a ``Host`` header value to send upstream: ``host[:port]``.

    Raises:
        ValueError: For a bad host name, IPv6 literal or port.
    """
    host, port = _split_host_port(value)
    if ":" not in host:
        _check_dns_name(host)
    if port is not None:
        _port(port, 1)
    return value


def check_http_url(value: str, *, path: bool = True) -> str:
    """Check ``http(s)://host[:port][/base-path]``.

    Args:
        value: The URL.
        path: Whether a base path is allowed (it is for endpoints, not for etcd).

    Raises:
        ValueError: For another scheme, userinfo, query, fragment, bad host/port/path.
    """
    match = _URL_RE.fullmatch(value)
    if match is None or match[1] not in ("http", "https"):
        raise ValueError(f"{value!r} is not an http:// or https:// URL")
    authority, rest = match[2], match[3]
    if "@" in authority:
        raise ValueError("URL must not contain user information ('user@')")
    if not authority:
        raise ValueError(f"{value!r} has no host")
    host, port = _split_host_port(authority)
    if ":" not in host:
        _check_dns_name(host)
    if port is not None:
        _port(port, 1)
    if "?" in rest or "#" in rest:
        raise ValueError("URL must not have a query or fragment")
    if rest and not path and rest != "/":
        raise ValueError("URL must not have a path")
    if rest:
        bad = sorted({ch for ch in rest if ch not in _PATH_CHARS and ch != "%"})
        if bad:
            raise ValueError(f"URL path must percent-encode {', '.join(map(repr, bad))}")
    return value


def stage_references(url: str) -> list[str]:
    """The stage variables a URL refers to, in order.

    Raises:
        ValueError: For a ``${`` that is not a well-formed ``${stageVariables.NAME}``.
    """
    names = _STAGE_REF_RE.findall(url)
    if "${" in _STAGE_REF_RE.sub("", url):
        raise ValueError("write stage variable references as ${stageVariables.NAME}")
    return names


def substitute(url: str, variables: Mapping[str, str]) -> str:
    """Replace every ``${stageVariables.NAME}`` (all names must be defined)."""
    return _STAGE_REF_RE.sub(lambda m: variables[m[1]], url)


def check_endpoint_url(url: str) -> str:
    """Check an endpoint URL with its stage variables already substituted.

    Raises:
        ValueError: Unless ``url`` is an http(s) URL or ``etcd(key, default_url)``
            with a non-empty key and a valid http(s) default.
    """
    if url.startswith("etcd("):
        match = _ETCD_RE.fullmatch(url)
        if match is None:
            raise ValueError(
                "write etcd endpoints as etcd(key, default_url), like "
                "etcd(users-url, http://127.0.0.1:9002)"
            )
        try:
            check_http_url(match[2])
        except ValueError as exc:
            raise ValueError(f"etcd default: {exc}") from None
        return url
    return check_http_url(url)
