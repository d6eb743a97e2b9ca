"""ext_authz decides on one canonical path: no spelling of a protected path reaches a weaker rule.

Issue 16 case 7: `/public/..;/api/admin/users`, `/api/%61dmin/users`, `/api/admin;x/users` and
`/api/transfers/` were allowed by the weaker rule. Each variant below is what an app (Tomcat, Spring,
WSGI, Express…) would route to the protected handler; it must hit that handler's rule or be refused.
"""

from __future__ import annotations

import asyncio

import pytest

from sidecar.config import ExtAuthzRule, ExtAuthzSettings, Limits
from sidecar.core.ext_authz.decisions import Allow, Deny
from sidecar.core.ext_authz.http_request import HttpRequest
from sidecar.core.ext_authz.policy import Policy, Verifiers

RULES = [
    ExtAuthzRule(name="public", path_prefix="/public", checks=["allow"]),  # prefix, allow
    ExtAuthzRule(name="admin", path_prefix="/api/admin", checks=["deny"]),  # prefix, deny
    ExtAuthzRule(
        name="transfer",
        path_regex="/api/transfers(/[0-9]+)?",
        methods=["POST"],  # regex, step-up
        checks=["jwt", "approval"],
        action="transfer",
    ),
    ExtAuthzRule(name="api", path_prefix="/api", checks=["jwt"]),  # prefix, jwt
]
REFUSED = (400, "malformed")


def decide(path: str, method: str = "GET", case_sensitive: bool = True) -> tuple[str, int] | tuple[int, str]:
    policy = Policy(ExtAuthzSettings(rules=RULES, case_sensitive_paths=case_sensitive), Limits())
    d = asyncio.run(policy.decide(HttpRequest(method, path, {}), Verifiers()))
    if isinstance(d, Deny) and d.status == 400:
        return (d.status, d.reason)
    assert isinstance(d, (Allow, Deny))
    return (d.rule, d.status)


@pytest.mark.parametrize(
    "path, expected",
    [
        # the plain paths
        ("/public/readme", ("public", 200)),
        ("/api/admin/users", ("admin", 403)),
        ("/api/orders", ("api", 503)),  # jwt rule (no verifier here: fail closed, but the rule is right)
        # percent-encoded unreserved characters are the same path (RFC 3986 §6.2.2)
        ("/api/%61dmin/users", ("admin", 403)),
        ("/api/ADM%49N/users", ("api", 503)),  # case-sensitive: /api/ADMIN is not /api/admin (see the option below)
        ("/%61pi/admin/users", ("admin", 403)),
        ("/api/adm%69n", ("admin", 403)),
        ("/public/%7Euser", ("public", 200)),
        ("/api/%c3%a4dmin", ("api", 503)),  # an encoded non-ASCII byte is not "a"
        ("/api/%2561dmin/users", ("api", 503)),  # double-encoded: the app decodes once to %61dmin
        # encoded separators, dots and semicolons, bad escapes: refused
        ("/public/%2e%2e/api/admin/users", REFUSED),
        ("/api/admin%2fusers", REFUSED),
        ("/api%5cadmin", REFUSED),
        ("/api/admin%3bx/users", REFUSED),
        ("/api/admin%", REFUSED),
        ("/api/%zzadmin", REFUSED),
        # `;` path parameters (Tomcat/Spring drop them; `..;` climbs): refused
        ("/public/..;/api/admin/users", REFUSED),
        ("/api/admin;x/users", REFUSED),
        ("/api;/admin/users", REFUSED),
        ("/public;jsessionid=1", REFUSED),
        # dot segments: refused
        ("/public/../api/admin", REFUSED),
        ("/public/./x", REFUSED),
        # trailing slashes: a rule for /x covers /x/
        ("/api/admin/", ("admin", 403)),
        ("/api/admin/users/", ("admin", 403)),
        ("/public/", ("public", 200)),
        # doubled slashes are merged
        ("//api//admin//users", ("admin", 403)),
        ("/api///admin", ("admin", 403)),
        # query and fragment are not the path
        ("/public/x?next=/api/admin", ("public", 200)),
        ("/api/admin#/public", ("admin", 403)),
        # raw non-ASCII, spaces and control characters: refused
        ("/api/ädmin", REFUSED),
        ("/api/ａdmin", REFUSED),  # fullwidth: some stacks NFKC-fold it to "admin"
        ("/api/admin\x00/users", REFUSED),
        ("/api/ad min", REFUSED),
    ],
)
def test_path_variants_meet_the_rule_of_the_path_the_app_routes(path, expected):
    assert decide(path) == expected


@pytest.mark.parametrize(
    "path",
    [
        "/api/transfers",
        "/api/transfers/",
        "/api/transfers/7",
        "/api/transfers/7/",
        "/api/transfers/%37",
        "//api/transfers//7",
        "/api/%74ransfers",
    ],
)
def test_a_regex_rule_sees_the_canonical_path(path):
    assert decide(path, method="POST") == ("transfer", 503)


@pytest.mark.parametrize(
    "path, sensitive, insensitive",
    [
        ("/API/admin/users", ("default", 403), ("admin", 403)),
        ("/Api/Admin", ("default", 403), ("admin", 403)),
        ("/api/ADM%49N/users", ("api", 503), ("admin", 403)),
        ("/PUBLIC/x", ("default", 403), ("public", 200)),
    ],
)
def test_case_sensitive_paths_option(path, sensitive, insensitive):
    assert decide(path, case_sensitive=True) == sensitive
    assert decide(path, case_sensitive=False) == insensitive


def test_case_insensitive_regex_rules():
    assert decide("/API/Transfers/7", method="POST", case_sensitive=False) == ("transfer", 503)
