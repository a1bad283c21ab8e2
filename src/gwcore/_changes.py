"""What happens inside a :class:`~gwcore.gateway.Gateway` after a request: outcomes,
retries, config and store changes and lease expiry.

Kept apart from ``gateway.py`` so that each module stays readable; every function
here takes the gateway and is called only by it.

Changes are all-or-nothing: a config change is first checked and prepared by
:func:`gwcore._runtime.plan` (which raises without touching anything) and only then
installed. Installing keeps, by service name, the balancer (when its kind did not
change), retry budget, counters and in-flight counts, and, by endpoint identity,
all health state; so a reload never marks a dead endpoint healthy again and never
forgets a healthy one.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, assert_never

from gwcore._runtime import Plan, RouteState, ServiceState, plan
from gwcore.balance import make_policy
from gwcore.config import Config, Passive
from gwcore.errors import ConfigError, FieldError, NoHealthyEndpoint
from gwcore.events import (
    Applied,
    Change,
    ConfigReplaced,
    EtcdKeyDeleted,
    EtcdKeySet,
    EtcdReachable,
    EtcdUnreachable,
    Forward,
    InstanceDeregistered,
    InstanceHeartbeat,
    InstanceRegistered,
    Outcome,
    ResponseReceived,
    RouteDeleted,
    RouteUpserted,
    ServiceDeleted,
    ServiceUpserted,
    UpstreamReset,
)
from gwcore.failover import RETRYABLE_STATUSES, Retry, Verdict, candidates, classify
from gwcore.resolve import parse_url

if TYPE_CHECKING:
    from gwcore.gateway import Gateway

# Statuses counted as upstream failures when a service has passive checking off.
_DEFAULT_FAILURES = Passive().failure_statuses


# --------------------------------------------------------------------------- outcomes


def release(gw: Gateway, forward: Forward) -> None:
    """End an attempt: free its in-flight slot (never below zero)."""
    # A repeated finish() or one for a service removed since must not corrupt the
    # counts least-request balances on, so both are tolerated rather than raised.
    service = gw._services.get(forward.service)
    if service is None:
        return
    count = service.in_flight.get(forward.endpoint, 0) - 1
    if count > 0:
        service.in_flight[forward.endpoint] = count
    else:
        service.in_flight.pop(forward.endpoint, None)


def outcome(gw: Gateway, forward: Forward, event: Outcome, now: float) -> Forward | None:
    """See :meth:`gwcore.gateway.Gateway.outcome`."""
    service = gw._services.get(forward.service)
    passive = service.service.health.passive if service is not None else None
    statuses = passive.failure_statuses if passive is not None else _DEFAULT_FAILURES
    if (
        service is not None
        and type(event) is ResponseReceived
        and event.status not in statuses
        and event.status not in RETRYABLE_STATUSES
    ):
        # The common answer, as the general path below treats it: a success that
        # is final (no verdict to build, no retry to consider).
        counters = service.counters
        counters.upstream_ok += 1
        counters.latency.add(event.latency)
        gw._health.observe(forward.service, forward.endpoint, False, passive, now)
        route = gw._routes.get(forward.route)
        if route is not None:
            route.counters.respond(event.status)
        return None
    verdict = classify(event, forward.endpoint, statuses)
    # Health and counters first: the retry below must already see this endpoint
    # ejected when this failure was the one that ejected it.
    if service is not None:
        if verdict.failed:
            service.counters.upstream_bad += 1
        else:
            service.counters.upstream_ok += 1
        if isinstance(event, ResponseReceived):
            service.counters.latency.add(event.latency)
        gw._health.observe(forward.service, forward.endpoint, verdict.failed, passive, now)
    if verdict.retry is Retry.NEVER:
        why = ""  # the outcome is final; its own error (or response) says it all
    elif verdict.retry is Retry.IF_IDEMPOTENT and not forward.idempotent:
        why = "not retried: the request is not idempotent and its bytes were sent"
    else:
        retry = _retry(gw, forward, service, now)
        if isinstance(retry, Forward):
            release(gw, forward)
            return retry
        why = retry
    _give_up(gw, forward, event, verdict, why)
    return None


def _give_up(gw: Gateway, forward: Forward, event: Outcome, verdict: Verdict, why: str) -> None:
    """Let the response through (returns), or end the attempt with its error (raises)."""
    route = gw._routes.get(forward.route)
    if isinstance(event, ResponseReceived):
        # The upstream's answer stands; the attempt goes on until finish().
        if route is not None:
            route.counters.respond(event.status)
        return
    error = verdict.error
    assert error is not None  # every outcome but a response carries its error
    release(gw, forward)
    # A reset mid-response was already counted when its head arrived.
    started = isinstance(event, UpstreamReset) and event.response_started
    if route is not None and not started:
        route.counters.respond(error.status_hint)
    raise type(error)(f"{error.reason}; {why}" if why else error.reason)


def _retry(
    gw: Gateway, forward: Forward, service: ServiceState | None, now: float
) -> Forward | str:
    """A retry Forward, or why there is none.

    The checks go from cheapest to the one with a side effect: the budget is only
    spent once a retry is otherwise certain.
    """
    if service is None:
        return f"not retried: service {forward.service!r} was removed"
    config = service.service
    if forward.attempt >= config.retries:
        return f"gave up after {forward.attempt + 1} attempts (retries: {config.retries})"
    down = gw._health.down.get(service.name)
    try:
        cands, panicking = candidates(
            service.name, service.members, down, forward.tried, config.panic
        )
    except NoHealthyEndpoint as exc:
        return f"not retried: {exc.reason}"
    if not cands:
        return f"not retried: every healthy endpoint was tried ({len(forward.tried)} tried)"
    if not service.budget.try_spend(now, config.retry_budget):
        return "not retried: the service's retry budget is used up"
    # No hash key here: the request's own endpoint failed, so any other will do.
    member = service.policy.pick(cands, None, service.in_flight)
    address = member.address
    # The Forward does not carry the rewritten path apart; the old endpoint's base
    # path is recovered from its identity (a base URL) and swapped for the new one's.
    old = gw.address(forward.endpoint)
    headers = forward.headers
    if headers and headers[0] == ("host", old.netloc) and old.netloc != address.netloc:
        # The Host was the endpoint's own (no client Host, no host_rewrite).
        headers = (("host", address.netloc), *headers[1:])
    identity = address.identity
    service.counters.retries += 1
    if panicking:
        service.counters.panics += 1
    service.in_flight[identity] = service.in_flight.get(identity, 0) + 1
    return dataclasses.replace(
        forward,
        endpoint=identity,
        scheme=address.scheme,
        host=address.host,
        port=address.port,
        target=address.base + forward.target[len(old.base) :],
        headers=headers,
        attempt=forward.attempt + 1,
        tried=forward.tried | {identity},
        panic=panicking,
    )


# --------------------------------------------------------------------------- changes


def install(gw: Gateway, new: Plan, now: float) -> None:
    """Swap in a checked plan, carrying state over by name and identity.

    Only services that are new or changed are re-resolved: with 10,000 services a
    single route upsert must not touch every endpoint.
    """
    old_services = gw._services
    services: dict[str, ServiceState] = {}
    stale: list[ServiceState] = []
    for name, service in new.config.services.items():
        state = old_services.get(name)
        specs = new.specs[name]
        if state is None:
            state = ServiceState(name, service, specs, gw._rng)
        elif state.service is service and state.specs is specs:
            state.prepare(new.config)  # the config's default timeouts may have changed
            services[name] = state
            continue
        elif state.service.balancer != service.balancer:
            state.policy = make_policy(service.balancer, gw._rng)
        state.service = service
        state.prepare(new.config)
        state.set_specs(specs)
        services[name] = state
        stale.append(state)
    routes: dict[str, RouteState] = {}
    for name, route in new.config.routes.items():
        route_state = gw._routes.get(name)
        if route_state is None:
            route_state = RouteState(route)
        elif route_state.route is not route:
            route_state.set(route)
        route_state.prepare(new.config)
        routes[name] = route_state
    gw._plan = new
    gw._services = services
    gw._routes = routes
    for name in old_services.keys() - services.keys():
        gw._probes.schedule(name, (), None, now)
        gw._health.forget(name, ())
    for state in stale:
        _refresh(gw, state, now)


def _refresh(gw: Gateway, state: ServiceState, now: float) -> bool:
    """Re-resolve a service's members; True when they changed."""
    members = gw._resolver.members(state.name, state.specs)
    changed = members != state.members
    state.set_members(members)
    identities = [m.identity for m in members]
    gw._probes.schedule(state.name, members, state.service.health.active, now)
    gw._health.forget(state.name, identities)
    return changed


def _replace(gw: Gateway, config: Config, now: float, what: str) -> Applied:
    if config == gw._plan.config:
        return Applied(generation=gw._generation, changed=False, summary=(f"{what}: unchanged",))
    install(gw, plan(config, gw._plan), now)
    gw._generation += 1
    return Applied(generation=gw._generation, changed=True, summary=(what,))


def _refresh_where(
    gw: Gateway, now: float, key: str | None = None, service: str | None = None
) -> bool:
    """Re-resolve the services a change can affect: the one named, those using an
    etcd key, or (neither given) every service with an etcd endpoint."""
    if service is not None:
        state = gw._services.get(service)
        return state is not None and _refresh(gw, state, now)
    changed = False
    for state in gw._services.values():
        if state.etcd_keys and (key is None or key in state.etcd_keys):
            changed |= _refresh(gw, state, now)
    return changed


def apply(gw: Gateway, change: Change, now: float) -> Applied:
    """See :meth:`gwcore.gateway.Gateway.apply`."""
    config = gw._plan.config
    warnings: tuple[str, ...] = ()
    match change:
        case ConfigReplaced(config=new):
            return _replace(gw, new, now, "config replaced")
        case RouteUpserted(route=route):
            verb = "updated" if route.name in config.routes else "created"
            routes = config.routes.set(route.name, route)
            return _replace(
                gw, dataclasses.replace(config, routes=routes), now, f"route {route.name}: {verb}"
            )
        case RouteDeleted(name=name):
            # Deleting what is absent is a no-op, so a pipeline may repeat a delete.
            if name not in config.routes:
                return _replace(gw, config, now, f"route {name}: absent")
            routes = config.routes.delete(name)
            return _replace(
                gw, dataclasses.replace(config, routes=routes), now, f"route {name}: deleted"
            )
        case ServiceUpserted(name=name, service=service):
            verb = "updated" if name in config.services else "created"
            services = config.services.set(name, service)
            return _replace(
                gw, dataclasses.replace(config, services=services), now, f"service {name}: {verb}"
            )
        case ServiceDeleted(name=name):
            if name not in config.services:
                return _replace(gw, config, now, f"service {name}: absent")
            users = sorted(
                r.name for r in config.routes.values() if any(b.service == name for b in r.backends)
            )
            if users:
                message = f"still used by route(s) {', '.join(users)}"
                raise ConfigError([FieldError(f"services.{name}", message)])
            services = config.services.delete(name)
            return _replace(
                gw, dataclasses.replace(config, services=services), now, f"service {name}: deleted"
            )
        case EtcdKeySet(key=key, value=value):
            _, warning = gw._resolver.etcd_set(key, value)
            warnings = (warning,) if warning else ()
            changed = _refresh_where(gw, now, key=key)
            summary = f"etcd key {key}: {'ignored' if warning else 'set'}"
        case EtcdKeyDeleted(key=key):
            gw._resolver.etcd_delete(key)
            changed = _refresh_where(gw, now, key=key)
            summary = f"etcd key {key}: deleted"
        case EtcdUnreachable(reason=reason):
            gw._resolver.etcd_reachable = False
            changed = _refresh_where(gw, now)
            summary = f"etcd unreachable ({reason or 'no cause given'}): defaults serve"
        case EtcdReachable():
            gw._resolver.etcd_reachable = True
            changed = _refresh_where(gw, now)
            summary = "etcd reachable"
        case InstanceRegistered(service=service, instance=instance, url=url, weight=w, ttl=ttl):
            try:
                address = parse_url(url)
            except ConfigError as exc:
                raise ConfigError([FieldError("url", exc.reason)]) from None
            gw._resolver.register(service, instance, address, weight=w, ttl=ttl, now=now)
            if service not in gw._services:
                # Registration may race the service's own creation: keep the instance
                # so it serves as soon as the service appears.
                warnings = (f"service {service!r} is not configured; instance kept for it",)
            changed = _refresh_where(gw, now, service=service)
            summary = f"instance {service}/{instance}: registered"
        case InstanceHeartbeat(service=service, instance=instance):
            # A lease moved; routing did not: no new generation.
            gw._resolver.heartbeat(service, instance, now)
            changed = False
            summary = f"instance {service}/{instance}: alive"
        case InstanceDeregistered(service=service, instance=instance):
            gw._resolver.deregister(service, instance)
            changed = _refresh_where(gw, now, service=service)
            summary = f"instance {service}/{instance}: deregistered"
        case _:
            assert_never(change)
    expiry = gw._resolver.next_expiry()
    gw._next_expiry = expiry if expiry is not None else float("inf")
    if changed:
        gw._generation += 1
    return Applied(
        generation=gw._generation, changed=changed, summary=(summary,), warnings=warnings
    )


def expire(gw: Gateway, now: float) -> None:
    """Drop instances whose lease ended; bump the generation when members changed."""
    changed = False
    for service in gw._resolver.expire(now):
        changed |= _refresh_where(gw, now, service=service)
    expiry = gw._resolver.next_expiry()
    gw._next_expiry = expiry if expiry is not None else float("inf")
    if changed:
        gw._generation += 1
