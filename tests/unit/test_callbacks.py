"""Callback signatures: authy-client@1.1.4's own signed vectors, then tampering, nonces, parsing and bounds.

The three vectors are copied from the SDK's test suite (dist/test/asserts/signature-assert_test.js and
dist/test/client_test.js "should verify the signature of a POST request"): key, request and the signature
the SDK accepts.
"""

from __future__ import annotations

import json

import pytest

from sidecar.core.factors.callbacks import (
    CallbackLimits,
    canonical_string,
    encode_params,
    js_number,
    params_from_body,
    sign,
    tree_from_pairs,
    verify_signature,
)
from sidecar.core.factors.collation import sort_key
from sidecar.core.shared.outcomes import InvalidArgument, Reason

SDK_NONCE = "1455825429"
SDK_URL = "https://foo.bar/"
SDK_APPROVAL_BODY = {
    "approval_request": {
        "expiration_timestamp": 1455911778,
        "logos": None,
        "transaction": {
            "created_at_time": 1455825378,
            "customer_uuid": "2ccf0040-ed25-0132-5987-0e67b818e6fb",
            "details": {},
            "device_details": None,
            "device_geolocation": None,
            "device_signing_time": 0,
            "encrypted": False,
            "flagged": False,
            "hidden_details": {},
            "message": ".",
            "reason": None,
            "requester_details": None,
            "status": "approved",
            "uuid": "996201c0-b7a7-0133-7c06-0e67b818e6fb",
        },
    },
    "authy_id": 1234567,
    "callback_action": "approval_request_status",
    "device_uuid": "4d89c320-a9bb-0133-7c02-0e67b818e6fb",
    "signature": "BObhJgZwgU7O9r4Uo9VT6j6shAOe7y/IRGpW/N0Uq34/XHZU9E+aHOI5rcQzW1ZgNCECzVrqrsnjhYEK4Zq1naKWu0YNkuvILmMz8"
    "IxJEQH+c+6x186fjIjxvP4nu4p/pfUDomo/za24s1XOjtNlVsrDTDXClHUh5MjFQbyBjhFd8gOtmGVatN7K2Lx71I8YR2JDL"
    "bRX4DlJEMu++PLBn1nqQH9tbNYzX5jjX87CXPBtDfRwfWSs/imnfZ9zkDq4ZKuBcuwzQNsxKlby6782X0o78rYhCHrcDnHgRt"
    "yMGvX9ovK3XTt6M7p6i9SKaRgBWIOFVPygxv15iJesqt9cng==",
    "status": "approved",
    "uuid": "996221c0-b7a7-0133-7c06-0e67b818e6fb",
}
SDK_VECTORS = [
    ("foo", {"foo": {"bar": {"biz": "foo"}}, "qux": "net"}, "uq/wB8AR1Acvn0wFcjm7mmBJyR11nuuMhMy6semsAO8="),
    ("foo", {"foo": {"bar": {"biz": "foo bar"}}, "qux": "net"}, "+fyGys+d5yNJx9SpeKZdf+N77od1t1cC/fVSWDW2+kY="),
    ("1DS9YIwGquvvIdx8GdcdqZGLAewZZyhd", SDK_APPROVAL_BODY, "hqB6las54sMBA83GKs0U1QQi9ocJ2tH20SXHZNzfqqQ="),
]
NOW = float(SDK_NONCE)


@pytest.mark.parametrize("key, body, signature", SDK_VECTORS, ids=["nested", "space-as-plus", "approval-request"])
def test_the_sdks_own_signed_vectors_verify(key, body, signature):
    assert sign(key, SDK_NONCE, "POST", SDK_URL, body) == signature
    verdict = verify_signature(
        key, nonce=SDK_NONCE, method="POST", url=SDK_URL, params=body, signature=signature, now=NOW, window_seconds=300
    )
    assert verdict.valid and verdict.reason is Reason.NONE


def test_the_sdk_vector_survives_a_round_trip_through_json_bytes():
    key, body, signature = SDK_VECTORS[2]
    params = params_from_body(json.dumps(dict(reversed(list(body.items())))).encode())
    assert sign(key, SDK_NONCE, "POST", SDK_URL, params) == signature


def test_canonical_string_brackets_nested_keys_writes_arrays_as_key_brackets_and_spaces_as_plus():
    body = {"b": ["x y", "z"], "a": {"c d": None, "e": True}, "empty": {}, "none": []}
    assert canonical_string("1", "post", "HTTPS://Host.example/cb?x=1", body) == (
        "1|POST|https://host.example/cb|a%5Bc+d%5D=&a%5Be%5D=true&b%5B%5D=x+y&b%5B%5D=z"
    )


def test_keys_sort_as_javascript_localecompare_not_by_code_point():
    # Node 20: ["a", "a_", "a-b", "a1b", "ab", "aB", "Ab", "ab1"]; code-point order would put "Ab" first.
    keys = ["ab1", "Ab", "aB", "ab", "a1b", "a-b", "a_", "a"]
    assert sorted(keys, key=sort_key) == ["a", "a_", "a-b", "a1b", "ab", "aB", "Ab", "ab1"]
    assert sorted(["é", "e", "f", "E"], key=sort_key) == ["e", "E", "é", "f"]
    assert encode_params({"Zebra": 1, "apple": 2}) == "apple=2&Zebra=1"


def test_array_indices_sort_as_strings_like_qs():
    # qs sorts an array's indices with the same comparator: 0, 1, 10, 11, 2 …
    assert encode_params({"a": list(range(12))}).split("&")[:4] == [
        "a%5B%5D=0",
        "a%5B%5D=1",
        "a%5B%5D=10",
        "a%5B%5D=11",
    ]


def test_numbers_print_as_javascript_prints_them():
    assert [js_number(x) for x in (1.0, 0.1, 1e21, 1e-7, 2**53 + 1, -0.000001)] == [
        "1",
        "0.1",
        "1e+21",
        "1e-7",
        "9007199254740992",
        "-0.000001",
    ]


def test_form_pairs_become_the_nested_object_a_body_parser_builds():
    tree = tree_from_pairs([("a[]", "1"), ("a[]", "2"), ("b[x][y]", "3"), ("c[1]", "z"), ("c[0]", "y"), ("d[", "q")])
    assert tree == {"a": ["1", "2"], "b": {"x": {"y": "3"}}, "c": ["y", "z"], "d[": "q"}


def test_body_json_and_form_give_the_same_params():
    as_json = params_from_body(b'{"b": {"c": "1"}, "a": "x y", "t": "true"}')
    as_form = params_from_body(b"t=true&a=x+y&b%5Bc%5D=1")
    assert as_json == as_form == {"a": "x y", "b": {"c": "1"}, "t": "true"}


def check(body, *, signature=None, nonce=SDK_NONCE, method="POST", url=SDK_URL, now=NOW, key="foo"):
    if signature is None:
        signature = sign(key, nonce, method, url, body)
    return verify_signature(
        "foo", nonce=nonce, method=method, url=url, params=body, signature=signature, now=now, window_seconds=300.0
    )


def test_tampered_body_url_method_key_or_nonce_is_bad_signature():
    body = SDK_VECTORS[1][1]
    good = SDK_VECTORS[1][2]
    assert check({**body, "qux": "nett"}, signature=good).reason is Reason.BAD_SIGNATURE
    assert check(body, signature=good, url="https://foo.bar/x").reason is Reason.BAD_SIGNATURE
    assert check(body, signature=good, method="PUT").reason is Reason.BAD_SIGNATURE
    assert check(body, key="another-key").reason is Reason.BAD_SIGNATURE
    assert check(body, signature=good, nonce=str(int(NOW) - 1)).reason is Reason.BAD_SIGNATURE
    # The query string is not signed (the SDK signs protocol//host + pathname).
    assert check(body, signature=good, url="https://foo.bar/?utm=1").valid


def test_stale_or_future_nonce_is_expired_even_when_signed_correctly():
    body = {"a": "1"}
    assert check(body, nonce=str(int(NOW) - 301)).reason is Reason.EXPIRED
    assert check(body, nonce=str(int(NOW) + 301)).reason is Reason.EXPIRED
    assert check(body, nonce=str(int(NOW) - 299)).valid


def test_unreadable_nonce_or_signature_is_malformed():
    assert check({}, nonce="yesterday").reason is Reason.MALFORMED
    assert check({}, nonce="nan").reason is Reason.MALFORMED
    assert check({}, signature="not base64!!").reason is Reason.MALFORMED


@pytest.mark.parametrize(
    "body, field, words",
    [
        (b"[" * 1000 + b"]" * 1000, "body", "deeper"),
        (b'{"a":' * 40 + b"1" + b"}" * 40, "body", "deeper"),
        (b"x" * (64 * 1024 + 1), "body", "larger"),
        (b"\xff\xfe", "body", "UTF-8"),
        (b'{"a": NaN}', "body", "JSON"),
        (b"[1, 2]", "body", "object"),
        ("&".join(f"k{i}=v" for i in range(1001)).encode(), "body", "1000"),
        (json.dumps({"a": list(range(1001))}).encode(), "body", "1000 values"),
    ],
)
def test_hostile_bodies_are_invalid_arguments_naming_the_field(body, field, words):
    with pytest.raises(InvalidArgument) as caught:
        params_from_body(body)
    assert caught.value.field == field and words in caught.value.problem


def test_params_pairs_are_bounded_in_count_key_value_and_depth():
    limits = CallbackLimits()
    with pytest.raises(InvalidArgument, match="entries"):
        tree_from_pairs([(f"k{i}", "v") for i in range(limits.max_entries + 1)])
    with pytest.raises(InvalidArgument, match="key longer"):
        tree_from_pairs([("k" * (limits.max_key_chars + 1), "v")])
    with pytest.raises(InvalidArgument, match="longer than"):
        tree_from_pairs([("k", "v" * (limits.max_value_chars + 1))])
    with pytest.raises(InvalidArgument, match="deeper"):
        tree_from_pairs([("a" + "[b]" * limits.max_depth, "v")])


def test_a_lone_surrogate_is_an_invalid_argument_not_a_crash():
    with pytest.raises(InvalidArgument):
        encode_params(params_from_body(b'{"a": "\\ud800"}'))


@pytest.mark.parametrize(
    "body, key",
    [
        (b'{"status":"approved","status":"denied"}', "status"),
        (b'{"approval_request":{"status":"approved","uuid":"u","status":"denied"}}', "status"),
        (b"status=approved&status=denied", "status"),
        (b"approval_request[status]=approved&approval_request[status]=denied", "approval_request[status]"),
        (b"a[0]=x&a[0]=y", "a[0]"),
        (b"a=1&a[b]=2", "a"),  # a value, then an object under the same key
        (b"a[b]=2&a=1", "a"),  # an object, then a value
    ],
)
def test_row14_a_repeated_key_or_member_is_refused_whichever_parser_the_app_uses(body, key):
    with pytest.raises(InvalidArgument) as caught:
        params_from_body(body)
    assert caught.value.field == "body" and f"repeats the key {key!r}" in caught.value.problem


def test_row14_array_items_are_not_repeated_keys():
    assert params_from_body(b"a[]=1&a[]=2&b[0]=x&b[1]=y") == {"a": ["1", "2"], "b": ["x", "y"]}
    assert params_from_body(b'{"a":{"s":1},"b":{"s":2}}') == {"a": {"s": 1}, "b": {"s": 2}}
    with pytest.raises(InvalidArgument, match="repeats the key 'a'"):
        tree_from_pairs([("a", "1"), ("a[b]", "2")])  # the params map: distinct strings, one key


@pytest.mark.parametrize(
    "body",
    [
        b'{"a":[' + b",".join([b"[]"] * 4001) + b"]}",
        b'{"a":[' + b",".join([b"{}"] * 4001) + b"]}",
        b"{" + b",".join(b'"k%d":{}' % i for i in range(2001)) + b"}",
    ],
)
def test_row13_empty_containers_and_keys_count_against_the_node_bound(body):
    with pytest.raises(InvalidArgument) as caught:
        params_from_body(body)
    assert caught.value.field == "body" and "4000 nodes" in caught.value.problem


def test_row13_the_node_bound_leaves_room_for_a_thousand_values():
    flat = {f"k{i}": "v" for i in range(1000)}
    assert params_from_body(json.dumps(flat).encode()) == flat
    nested = {f"k{i}": {"v": i} for i in range(999)}
    assert params_from_body(json.dumps(nested).encode()) == nested
    deep_form = [(f"k{i}" + "[x]" * 31, "v") for i in range(200)]  # 200 pairs × 32 levels: 12,800 nodes
    with pytest.raises(InvalidArgument, match="nodes"):
        tree_from_pairs(deep_form)
