"""Checks SigV4 signatures with botocore's signer, an implementation we did not write.

The X-Ray endpoint double (tests/support/xray.rs) runs this as a child process:
one JSON request per stdin line, one JSON verdict per stdout line.

Request: {"method", "url", "headers": [[name, value], ...], "body": hex,
          "service", "region", "credentials": {access_key: {"secret", "token"}}}
Verdict: {"ok": bool, "access_key": str|null, "reason": str}
"""

import datetime
import json
import re
import sys

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

AUTH = re.compile(
    r"^AWS4-HMAC-SHA256 Credential=(?P<key>[^/]+)/(?P<date>\d{8})/(?P<region>[^/]+)/"
    r"(?P<service>[^/]+)/aws4_request, SignedHeaders=(?P<signed>[a-z0-9;-]+), "
    r"Signature=(?P<signature>[0-9a-f]{64})$"
)
MAX_SKEW = datetime.timedelta(minutes=5)


def verdict(ok, reason, access_key=None):
    return {"ok": ok, "access_key": access_key, "reason": reason}


def verify(req):
    headers = {}
    for name, value in req["headers"]:
        headers.setdefault(name.lower(), value)
    auth = AUTH.match(headers.get("authorization", ""))
    if not auth:
        return verdict(False, "missing or malformed Authorization header")
    key = auth["key"]
    creds = req["credentials"].get(key)
    if creds is None:
        return verdict(False, "unknown access key", key)
    if (auth["service"], auth["region"]) != (req["service"], req["region"]):
        return verdict(False, f"scope {auth['region']}/{auth['service']}", key)
    amz_date = headers.get("x-amz-date", "")
    try:
        when = datetime.datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ")
    except ValueError:
        return verdict(False, "missing or malformed X-Amz-Date", key)
    now = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
    if abs(now - when) > MAX_SKEW or auth["date"] != amz_date[:8]:
        return verdict(False, "X-Amz-Date out of range", key)
    if creds.get("token") and headers.get("x-amz-security-token") != creds["token"]:
        return verdict(False, "session token missing or wrong", key)
    signed = auth["signed"].split(";")
    if "host" not in signed or "x-amz-date" not in signed:
        return verdict(False, "host and x-amz-date must be signed", key)

    # Recompute over exactly the headers the client says it signed, as AWS does.
    request = AWSRequest(
        method=req["method"],
        url=req["url"],
        headers={name: headers[name] for name in signed if name in headers},
        data=bytes.fromhex(req["body"]),
    )
    request.context["timestamp"] = amz_date
    signer = SigV4Auth(
        Credentials(key, creds["secret"], creds.get("token")), req["service"], req["region"]
    )
    canonical = signer.canonical_request(request)
    expected = signer.signature(signer.string_to_sign(request, canonical), request)
    if expected != auth["signature"]:
        return verdict(False, "signature mismatch", key)
    if signer.signed_headers(signer.headers_to_sign(request)) != auth["signed"]:
        return verdict(False, "SignedHeaders lists headers that were not sent", key)
    return verdict(True, "ok", key)


def main():
    for line in sys.stdin:
        try:
            result = verify(json.loads(line))
        except Exception as e:  # a verdict, never a crash: the double answers 403
            result = verdict(False, f"verifier error: {e!r}")
        sys.stdout.write(json.dumps(result) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
