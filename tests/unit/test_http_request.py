"""Reading the proxied request: Bearer parsing, segment-wise prefixes, paths a rule could not match safely."""

from __future__ import annotations

import pytest

from sidecar.core.ext_authz.http_request import BadPath, bearer_token, normalised_path, prefix_matches


@pytest.mark.parametrize(
    "header,token",
    [
        ("Bearer abc.def.ghi", "abc.def.ghi"),
        ("bearer abc", "abc"),  # the scheme is case-insensitive (RFC 9110 §11.1)
        ("Bearer   abc ", "abc"),
        ("Bearer", None),
        ("Bearer a b", None),  # two tokens: not one credential
        ("Basic dTpw", None),
        ("Bearerabc", None),
        ("", None),
    ],
)
def test_bearer_token(header, token):
    assert bearer_token(header) == token


@pytest.mark.parametrize(
    "prefix,path,matches",
    [
        ("/api", "/api", True),
        ("/api", "/api/x", True),
        ("/api", "/apix", False),
        ("/api/", "/api", True),
        ("/api/", "/api/x", True),
        ("/api/", "/apix", False),
        ("/", "/anything", True),
    ],
)
def test_prefix_matches_whole_segments(prefix, path, matches):
    assert prefix_matches(prefix, path) is matches


@pytest.mark.parametrize(
    "target,path",
    [
        ("/api/x?next=/admin", "/api/x"),
        ("/api//x#frag", "/api/x"),
        ("/a.b/c..d", "/a.b/c..d"),  # dots inside a segment are fine
    ],
)
def test_normalised_path(target, path):
    assert normalised_path(target) == path


@pytest.mark.parametrize(
    "target", ["/a/../b", "/a/./b", "/a/..", "/a/%2e%2E/b", "/a%2fb", "/a%5Cb", "/a\\b", "", "api"]
)
def test_ambiguous_paths_are_refused(target):
    with pytest.raises(BadPath):
        normalised_path(target)
