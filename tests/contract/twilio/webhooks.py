"""The PyPI twilio==9.13.0 SDK's own webhook validator (twilio/request_validator.py RequestValidator.validate)
on signed requests the test hands in: form params as a dict (a list value: a repeated name, as a MultiDict
would give), a JSON body as the string it was. Run with the SDK's install folder on sys.path.
    python webhooks.py <auth-token> '<json list of {name, kind: "form"|"json", url, signature, params|body}>'
Prints one JSON line {name: true|false}."""

import json
import sys

from twilio.request_validator import RequestValidator


class MultiDict(dict):
    def getall(self, name):
        value = self[name]
        return value if isinstance(value, list) else [value]


validator = RequestValidator(sys.argv[1])
results = {}
for case in json.loads(sys.argv[2]):
    params = MultiDict(case.get("params") or {})
    if case["kind"] == "json" and "bodySHA256" in case["url"]:
        params = case["body"]  # the validator hashes a str body only when the URL carries bodySHA256
    results[case["name"]] = validator.validate(case["url"], params, case["signature"])
print(json.dumps(results))
