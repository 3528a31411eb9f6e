"""Checks real HTTP answers of mod_permafrost against openapi/openapi.json.

    doc = OpenAPI("openapi/openapi.json")
    doc.validate_response("GET", "/api/v1/findings?limit=5", 200, headers, body)

validate_response raises AssertionError, with a message naming the request,
the status and what is wrong, when the answer does not match the document:

- The path as sent loses its query and the server prefix ("/api/v1", from
  the document's `servers`), then is matched against the path templates
  (a literal template wins over one with parameters).
- The method must be documented for that path (HEAD falls back to GET, as
  the API answers HEAD wherever it answers GET), and the status for that
  operation ("200", then "2XX", then "default").
- Every header the response documents as required must be present, and
  every documented header that is present must match its schema (integer
  headers are parsed first).
- A body is expected when the response documents content, the method is not
  HEAD and the status is not 204 or 304; otherwise the body must be empty.
  A body must be `application/json; charset=utf-8`, strict UTF-8 JSON without
  duplicate keys or NaN, and valid against the documented schema
  (JSON Schema 2020-12, `$ref`s resolved over the whole document).

The document describes routed requests. Requests that match no route still
get answers the contract fixes (section 5: the key is checked first, then the
route and the method), so unless strict=True those are checked too:
an undocumented path may answer 401, 404, 500 or 503 (checked against the
shared responses in components/responses), and a method the path does not
document may answer 405 (checked against the path's documented 405, `Allow`
included), 401, 500 or 503. Anything else there is an AssertionError.

Headers named in ignore_headers (or, when that is None, in the environment
variable PFOPENAPI_IGNORE_HEADERS, comma-separated) are not required; a
stopgap while a feature is missing, e.g.
PFOPENAPI_IGNORE_HEADERS=X-RateLimit-Limit,X-RateLimit-Remaining,X-RateLimit-Reset

Runs under Debian's /usr/bin/python3 with python3-jsonschema (4.10).
`python3 t/pfopenapi.py [openapi.json]` runs a self-test.
"""
import json
import os
import re
import sys
import warnings

import jsonschema
from jsonschema import Draft202012Validator, validators
from jsonschema.exceptions import ValidationError, best_match

with warnings.catch_warnings():
    # Deprecated (not removed) in jsonschema >= 4.18; the way to go in 4.10.
    warnings.simplefilter("ignore", DeprecationWarning)
    from jsonschema import RefResolver

__all__ = ["OpenAPI"]

METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
NO_BODY_STATUSES = (204, 304)
# Answers a request can get before its route and method are known.
UNROUTED_PATH = {401: "Unauthorized", 404: "NotFound", 500: "InternalError",
                 503: "ServiceUnavailable"}
UNROUTED_METHOD = {401: "Unauthorized", 500: "InternalError", 503: "ServiceUnavailable"}


def _pattern(validator, pattern, instance, schema):
    """`pattern` with ECMA-262 anchoring: Python's `$` also matches before a
    final newline, so "uuid\\n" would pass a `^...$` pattern."""
    if not validator.is_type(instance, "string"):
        return
    p = pattern[:-1] + r"\Z" if pattern.endswith("$") and not pattern.endswith("\\$") else pattern
    if not re.search(p, instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


_Validator = validators.extend(Draft202012Validator, {"pattern": _pattern})


class _DuplicateKey(ValueError):
    pass


def _no_duplicates(pairs):
    out = {}
    for k, v in pairs:
        if k in out:
            raise _DuplicateKey(f"duplicate key {k!r}")
        out[k] = v
    return out


def _no_constants(name):
    raise ValueError(f"{name} is not JSON")


def _header_items(headers):
    """(name, value) pairs from a dict, a list of pairs or an email.message."""
    if headers is None:
        return []
    if hasattr(headers, "items"):
        return list(headers.items())
    return list(headers)


def _short(body, limit=300):
    text = body.decode("utf-8", "replace") if isinstance(body, (bytes, bytearray)) else str(body)
    return text if len(text) <= limit else text[:limit] + "..."


class OpenAPI:
    def __init__(self, path_to_openapi_json, ignore_headers=None, strict=False):
        with open(path_to_openapi_json, encoding="utf-8") as f:
            self.doc = json.load(f)
        self.strict = strict
        if ignore_headers is None:
            ignore_headers = [h for h in os.environ.get("PFOPENAPI_IGNORE_HEADERS", "").split(",")
                              if h.strip()]
        self.ignore_headers = {h.strip().lower() for h in ignore_headers}
        servers = self.doc.get("servers") or [{"url": ""}]
        self.prefix = servers[0]["url"].rstrip("/")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            self.resolver = RefResolver.from_schema(self.doc)
        self._validators = {}
        routes = []
        for template, item in self.doc.get("paths", {}).items():
            parts = re.split(r"(\{[^}/]+\})", template)
            rx = "".join("[^/]+" if p.startswith("{") else re.escape(p) for p in parts)
            nparams = sum(1 for p in parts if p.startswith("{"))
            routes.append((nparams, template, re.compile("^" + rx + "$"), item))
        routes.sort(key=lambda r: r[0])
        self.routes = [(t, rx, item) for _, t, rx, item in routes]

    # -- document access

    def deref(self, node):
        """Follows local "$ref"s (#/components/...) until a real object."""
        seen = set()
        while isinstance(node, dict) and "$ref" in node:
            ref = node["$ref"]
            if ref in seen or not ref.startswith("#/"):
                raise AssertionError(f"openapi.json: cannot follow $ref {ref!r}")
            seen.add(ref)
            node = self.doc
            for part in ref[2:].split("/"):
                part = part.replace("~1", "/").replace("~0", "~")
                if not isinstance(node, dict) or part not in node:
                    raise AssertionError(f"openapi.json: dangling $ref {ref!r}")
                node = node[part]
        return node

    def _validator(self, schema):
        # Schemas live in self.doc for the object's lifetime, so id() is stable.
        v = self._validators.get(id(schema))
        if v is None:
            v = self._validators[id(schema)] = _Validator(schema, resolver=self.resolver)
        return v

    def _check(self, schema, instance, what, shown=None):
        errors = sorted(self._validator(schema).iter_errors(instance),
                        key=lambda e: list(e.absolute_path))
        if not errors:
            return
        lines = []
        for e in ([best_match(errors)] + [e for e in errors if e is not best_match(errors)])[:8]:
            where = "/" + "/".join(str(p) for p in e.absolute_path)
            lines.append(f"  at {where}: {e.message}")
            for sub in sorted(e.context or [], key=lambda s: list(s.relative_path))[:4]:
                subwhere = "/".join(str(p) for p in sub.relative_path)
                lines.append(f"      ({'/' + subwhere if subwhere else 'alternative'}: "
                             f"{sub.message})")
        more = f"\n  ... and {len(errors) - 8} more" if len(errors) > 8 else ""
        tail = f"\n  in: {shown}" if shown else ""
        raise AssertionError(f"{what} does not match its schema:\n" + "\n".join(lines) + more
                             + tail)

    # -- lookup

    def _match(self, rest):
        for template, rx, item in self.routes:
            if rx.match(rest):
                return template, item
        return None, None

    def _response_for(self, method, path, status):
        """(response object, description of where it came from)."""
        path_only = path.split("#", 1)[0].split("?", 1)[0]
        where = f"{method} {path} -> {status}"
        if not (path_only == self.prefix or path_only.startswith(self.prefix + "/")):
            raise AssertionError(f"{where}: path is not under the server prefix {self.prefix!r}")
        rest = path_only[len(self.prefix):]
        template, item = self._match(rest)
        if item is None:
            if not self.strict and status in UNROUTED_PATH:
                name = UNROUTED_PATH[status]
                return (self.deref({"$ref": f"#/components/responses/{name}"}),
                        f"{where} (undocumented path: components/responses/{name})")
            raise AssertionError(f"{where}: path {rest!r} is not documented"
                                 + ("" if self.strict else
                                    f" (such a path may only answer "
                                    f"{sorted(UNROUTED_PATH)})"))
        op = item.get(method.lower())
        if op is None and method == "HEAD":
            op = item.get("get")
        if op is None:
            documented = [m.upper() for m in METHODS if m in item]
            if not self.strict and status == 405:
                for m in METHODS:
                    if m in item and "405" in item[m].get("responses", {}):
                        return (self.deref(item[m]["responses"]["405"]),
                                f"{where} (method not on {template}: its documented 405)")
            if not self.strict and status in UNROUTED_METHOD:
                name = UNROUTED_METHOD[status]
                return (self.deref({"$ref": f"#/components/responses/{name}"}),
                        f"{where} (method not on {template}: components/responses/{name})")
            raise AssertionError(f"{where}: method {method} is not documented for {template} "
                                 f"(documented: {', '.join(documented)})")
        responses = op.get("responses", {})
        resp = (responses.get(str(status)) or responses.get(f"{status // 100}XX")
                or responses.get("default"))
        if resp is None:
            raise AssertionError(f"{where}: status {status} is not documented for "
                                 f"{method} {template} (documented: "
                                 f"{', '.join(sorted(responses))})")
        return self.deref(resp), f"{where} ({op.get('operationId', template)})"

    # -- the check

    def validate_response(self, method, path, status, headers, body_bytes):
        method = method.upper()
        status = int(status)
        resp, where = self._response_for(method, path, status)
        if body_bytes is None:
            body_bytes = b""
        if isinstance(body_bytes, str):
            body_bytes = body_bytes.encode("utf-8")

        got = {}
        for k, v in _header_items(headers):
            got.setdefault(k.lower(), v)

        for name, h in (resp.get("headers") or {}).items():
            if name.lower() == "content-type":
                continue  # OpenAPI ignores a Content-Type header entry
            h = self.deref(h)
            value = got.get(name.lower())
            if value is None:
                if h.get("required") and name.lower() not in self.ignore_headers:
                    raise AssertionError(f"{where}: required header {name} is missing "
                                         f"(headers: {sorted(got)})")
                continue
            schema = h.get("schema")
            if schema is None:
                continue
            types = self.deref(schema).get("type")
            types = types if isinstance(types, list) else [types]
            instance = value
            if "integer" in types and re.fullmatch(r"-?[0-9]+", value.strip()):
                instance = int(value.strip())
            self._check(schema, instance, f"{where}: header {name}: {value!r}")

        expects_body = (method != "HEAD" and status not in NO_BODY_STATUSES
                        and bool(resp.get("content")))
        if not expects_body:
            if body_bytes:
                raise AssertionError(f"{where}: no body expected, got {len(body_bytes)} bytes: "
                                     f"{_short(body_bytes)}")
            return

        ctype = got.get("content-type")
        if ctype is None:
            raise AssertionError(f"{where}: a body needs a Content-Type header")
        media, _, params = ctype.partition(";")
        media = media.strip().lower()
        if not media.startswith("application/json"):
            raise AssertionError(f"{where}: Content-Type {ctype!r} is not application/json")
        charset = dict((p.split("=", 1) + [""])[:2] for p in
                       (x.strip().lower() for x in params.split(";")) if p).get("charset")
        if charset not in ("utf-8", '"utf-8"'):
            raise AssertionError(f"{where}: Content-Type {ctype!r} lacks charset=utf-8")
        media_obj = resp["content"].get(media) or resp["content"].get("application/json")
        if media_obj is None:
            raise AssertionError(f"{where}: media type {media} is not documented "
                                 f"(documented: {', '.join(resp['content'])})")
        try:
            text = body_bytes.decode("utf-8")
            body = json.loads(text, object_pairs_hook=_no_duplicates,
                              parse_constant=_no_constants)
        except (UnicodeDecodeError, ValueError) as e:
            raise AssertionError(f"{where}: body is not valid JSON ({e}): "
                                 f"{_short(body_bytes)}") from None
        schema = media_obj.get("schema")
        if schema is not None:
            self._check(schema, body, f"{where}: body", _short(body_bytes))


# ------------------------------------------------------------------ self-test

def _selftest(path):
    doc = OpenAPI(path, ignore_headers=())

    # The document's schemas themselves must be valid 2020-12.
    for name, s in doc.doc["components"]["schemas"].items():
        Draft202012Validator.check_schema(s)

    U1 = "3f2b6c1e-8d4a-4b7e-9c0d-1a2b3c4d5e6f"
    U2 = "aaaaaaaa-0000-4000-8000-000000000001"
    TS = "2026-11-23T09:41:07.123456Z"
    RL = {"X-RateLimit-Limit": "1000", "X-RateLimit-Remaining": "999",
          "X-RateLimit-Reset": "1795000000"}
    CT = {"Content-Type": "application/json; charset=utf-8"}
    ETAG = {"ETag": '"0123456789abcdef0123456789abcdef"'}
    finding = {"id": U1, "tenantId": U2, "severity": "high", "status": "open",
               "findingType": "stale_credential", "title": "Old secret", "identityId": None,
               "firstSeenAt": TS, "lastSeenAt": TS, "resolvedAt": None}
    detail = dict(finding, description=None, remediation="Rotate it.",
                  evidence={"anything": [1, {"goes": True}]},
                  identity={"id": U2, "displayName": "svc", "type": "servicePrincipal"})
    meta = {"total": 1, "limit": 100, "offset": 0, "nextCursor": None}
    webhook = {"id": U1, "name": "SOC pager", "webhookUrl": "https://hooks.example.com/pf",
               "webhookType": "generic", "eventTypes": ["finding_critical", "finding_high"],
               "active": True, "createdAt": TS}
    created = dict(webhook, signingSecret="pfwhsec_" + "ab" * 32)
    err400 = {"error": {"code": "INVALID_PARAMETER", "message": "Invalid query parameter "
                        "'limit': must be an integer from 1 to 500",
                        "details": [{"field": "limit", "message": "must be an integer"}]}}
    err401 = {"error": {"code": "UNAUTHORIZED", "message": "A valid API key is required."}}
    err405 = {"error": {"code": "METHOD_NOT_ALLOWED", "message": "POST is not allowed here."}}
    err404 = {"error": {"code": "NOT_FOUND", "message": "No such resource."}}
    W401 = {"WWW-Authenticate": 'Bearer realm="permafrost"'}

    def j(o):
        return json.dumps(o).encode()

    def h(*parts):
        out = {}
        for p in parts:
            out.update(p)
        return out

    good = [
        ("list", "GET", f"/api/v1/findings?severity=critical,high&tenant={U2}", 200,
         h(CT, ETAG, RL), j({"data": [finding], "meta": dict(meta, tenant=U2)})),
        ("list with a cursor", "GET", "/api/v1/identities?type=user", 200, h(CT, ETAG, RL),
         j({"data": [], "meta": dict(meta, total=7, limit=5, nextCursor="eyJ2IjoxfQ.x-y_z")})),
        ("detail", "GET", f"/api/v1/findings/{U1}", 200, h(CT, ETAG, RL), j({"data": detail})),
        ("detail without identity", "GET", f"/api/v1/findings/{U1}", 200, h(CT, ETAG, RL),
         j({"data": dict(detail, identity=None)})),
        ("health", "GET", "/api/v1/health", 200, CT,
         b'{"status":"ok","database":"ok","version":"0.1.0"}'),
        ("health degraded", "GET", "/api/v1/health", 503, h(CT, {"Retry-After": "5"}),
         b'{"status":"degraded","database":"unavailable","version":"0.1.0"}'),
        ("400", "GET", "/api/v1/identities?limit=0", 400, h(CT, RL), j(err400)),
        ("401", "GET", "/api/v1/tenants", 401, h(CT, W401), j(err401)),
        ("405", "POST", "/api/v1/identities", 405, h(CT, RL, {"Allow": "GET, HEAD"}), j(err405)),
        ("405 public", "POST", "/api/v1/health", 405, h(CT, {"Allow": "GET, HEAD"}), j(err405)),
        ("401 before 405", "DELETE", "/api/v1/findings", 401, h(CT, W401), j(err401)),
        ("304", "GET", "/api/v1/tenants", 304, h(ETAG, RL), b""),
        ("HEAD", "HEAD", "/api/v1/findings", 200, h(CT, ETAG, RL), b""),
        ("unknown path 404", "GET", "/api/v1/nowhere", 404, h(CT, RL), j(err404)),
        ("create webhook", "POST", "/api/v1/webhooks", 201,
         h(CT, RL, {"Location": f"/api/v1/webhooks/{U1}"}), j({"data": created})),
        ("delete webhook", "DELETE", f"/api/v1/webhooks/{U1}", 204, RL, b""),
        ("openapi.json", "GET", "/api/v1/openapi.json", 200, h(CT, ETAG),
         j({"openapi": "3.1.0", "info": {}, "paths": {}})),
    ]
    bad = [
        ("extra field", "GET", "/api/v1/findings", 200, h(CT, ETAG, RL),
         j({"data": [dict(finding, extra=1)], "meta": meta})),
        ("missing field", "GET", "/api/v1/findings", 200, h(CT, ETAG, RL),
         j({"data": [{k: v for k, v in finding.items() if k != "resolvedAt"}], "meta": meta})),
        ("millisecond timestamp", "GET", "/api/v1/findings", 200, h(CT, ETAG, RL),
         j({"data": [dict(finding, firstSeenAt="2026-11-23T09:41:07.123Z")], "meta": meta})),
        ("uppercase uuid", "GET", "/api/v1/findings", 200, h(CT, ETAG, RL),
         j({"data": [dict(finding, id=U1.upper())], "meta": meta})),
        ("uuid with newline", "GET", "/api/v1/findings", 200, h(CT, ETAG, RL),
         j({"data": [dict(finding, id=U1 + "\n")], "meta": meta})),
        ("severity outside enum", "GET", "/api/v1/findings", 200, h(CT, ETAG, RL),
         j({"data": [dict(finding, severity="urgent")], "meta": meta})),
        ("meta without nextCursor", "GET", "/api/v1/findings", 200, h(CT, ETAG, RL),
         j({"data": [], "meta": {"total": 0, "limit": 100, "offset": 0}})),
        ("limit 0 in meta", "GET", "/api/v1/findings", 200, h(CT, ETAG, RL),
         j({"data": [], "meta": dict(meta, limit=0)})),
        ("no ETag", "GET", "/api/v1/findings", 200, h(CT, RL), j({"data": [], "meta": meta})),
        ("weak ETag", "GET", "/api/v1/findings", 200, h(CT, RL, {"ETag": 'W/"x"'}),
         j({"data": [], "meta": meta})),
        ("no rate-limit headers", "GET", "/api/v1/findings", 200, h(CT, ETAG),
         j({"data": [], "meta": meta})),
        ("text/html", "GET", "/api/v1/findings", 200,
         h({"Content-Type": "text/html"}, ETAG, RL), j({"data": [], "meta": meta})),
        ("no charset", "GET", "/api/v1/findings", 200,
         h({"Content-Type": "application/json"}, ETAG, RL), j({"data": [], "meta": meta})),
        ("duplicate key", "GET", "/api/v1/health", 200, CT,
         b'{"status":"ok","status":"ok","database":"ok","version":"0.1.0"}'),
        ("not JSON", "GET", "/api/v1/health", 200, CT, b"ok"),
        ("401 without WWW-Authenticate", "GET", "/api/v1/tenants", 401, CT, j(err401)),
        ("401 with the wrong code", "GET", "/api/v1/tenants", 401, h(CT, W401), j(err404)),
        ("405 without Allow", "POST", "/api/v1/identities", 405, h(CT, RL), j(err405)),
        ("405 with a wrong Allow", "POST", "/api/v1/identities", 405,
         h(CT, RL, {"Allow": "GET"}), j(err405)),
        ("undocumented status", "GET", "/api/v1/findings", 418, h(CT, RL), j(err404)),
        ("undocumented path with 200", "GET", f"/api/v1/roles/{U1}", 200, h(CT, RL),
         j({"data": {}})),
        ("undocumented method with 200", "PUT", "/api/v1/findings", 200, h(CT, RL),
         j({"data": []})),
        ("outside the prefix", "GET", "/findings", 404, h(CT, RL), j(err404)),
        ("304 with a body", "GET", "/api/v1/tenants", 304, h(ETAG, RL), b"{}"),
        ("HEAD with a body", "HEAD", "/api/v1/findings", 200, h(CT, ETAG, RL), b"{}"),
        ("bad signing secret", "POST", "/api/v1/webhooks", 201,
         h(CT, RL, {"Location": f"/api/v1/webhooks/{U1}"}),
         j({"data": dict(created, signingSecret="pfwhsec_short")})),
        ("signing secret on GET", "GET", f"/api/v1/webhooks/{U1}", 200, h(CT, RL),
         j({"data": created})),
        ("201 without Location", "POST", "/api/v1/webhooks", 201, h(CT, RL),
         j({"data": created})),
        ("health status outside enum", "GET", "/api/v1/health", 200, CT,
         b'{"status":"fine","database":"ok","version":"0.1.0"}'),
        ("error details without field", "GET", "/api/v1/findings?limit=x", 400, h(CT, RL),
         j({"error": {"code": "INVALID_PARAMETER", "message": "m",
                      "details": [{"message": "m"}]}})),
    ]
    passed = failed = 0
    for name, method, path, status, headers, body in good:
        try:
            doc.validate_response(method, path, status, headers, body)
            passed += 1
        except AssertionError as e:
            failed += 1
            print(f"not ok - good sample '{name}' was refused:\n{e}")
    for name, method, path, status, headers, body in bad:
        try:
            doc.validate_response(method, path, status, headers, body)
            failed += 1
            print(f"not ok - bad sample '{name}' passed")
        except AssertionError as e:
            passed += 1
            if os.environ.get("PFOPENAPI_VERBOSE"):
                print(f"ok - '{name}' refused: {e}")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    here = os.path.dirname(os.path.abspath(__file__))
    default = os.path.join(os.path.dirname(here), "openapi", "openapi.json")
    sys.exit(_selftest(sys.argv[1] if len(sys.argv) > 1 else default))
