#!/usr/bin/env python3
"""Writes ../openapi.json, the OpenAPI 3.1 description of the REST API.

The JSON file is what the server serves and what the tests check against the
router (every route documented, every documented route served, answers valid
against their schemas). Edit this script, run it, commit both:

    python3 crates/server/openapi/generate.py
"""
import json
import pathlib

def ref(name):
    return {"$ref": f"#/components/schemas/{name}"}

def nullable(schema):
    return {"oneOf": [schema, {"type": "null"}]}

def obj(props, required=None, description=None):
    o = {"type": "object", "properties": props, "required": sorted(required if required is not None else props.keys())}
    if description:
        o["description"] = description
    return o

INT = {"type": "integer", "minimum": 0}
STR = {"type": "string"}
BOOL = {"type": "boolean"}
TIME = {"type": "string", "format": "date-time"}
NUM = {"type": "number"}
DIGEST = {"type": "string", "pattern": "^sha256:[0-9a-f]{64}$|^sha512:[0-9a-f]{128}$"}
SEVERITY = {"type": "string", "enum": ["critical", "high", "medium", "low", "negligible", "unknown"]}
SCAN_STATUS = {"type": "string", "enum": ["pending", "scanning", "scanned", "failed", "unsupported"]}
ROLE = {"type": "string", "enum": ["viewer", "editor", "admin"]}
LABELS = {"type": "object", "additionalProperties": STR}

def list_of(item):
    return obj({"total": INT, "limit": INT, "offset": INT, "items": {"type": "array", "items": ref(item)}},
               description="One page of a list; `total` counts every row in scope.")

schemas = {
    "Error": obj({"error": obj({"code": STR, "message": STR})}),
    "SeverityCounts": obj({k: INT for k in ["critical", "high", "medium", "low", "negligible", "unknown"]}),
    "Statistics": obj({
        "images": INT, "repositories": INT, "vulnerabilities": ref("SeverityCounts"), "fixable": INT,
        "clusters": INT, "running_resources": INT,
        "scan_coverage": obj({"scanned": INT, "targets": INT}),
    }, description="The statistics header for a scope. Vulnerabilities are findings (image x package x vulnerability), excepted ones left out."),
    "ExceptionSummary": obj({"id": INT, "reason": STR, "author": STR, "created": TIME, "expires": nullable(TIME)}),
    "RepositoryRow": obj({
        "repository": STR, "images": INT, "vulnerabilities": ref("SeverityCounts"), "fixable": INT,
        "clusters": INT, "resources": INT, "latest_scanned_tag": nullable(STR),
        "latest_digest": nullable(DIGEST), "last_scanned": nullable(TIME),
        "scan_status": SCAN_STATUS, "exception": nullable(ref("ExceptionSummary")),
    }),
    "RepositoryList": list_of("RepositoryRow"),
    "ImageDetails": obj({
        "id": INT, "repository": STR, "digest": DIGEST,
        "tags": {"type": "array", "items": obj({"tag": STR, "last_seen": TIME})},
        "other_digests": {"type": "array", "description": "Newest first.",
                          "items": obj({"digest": DIGEST, "tags": {"type": "array", "items": STR}, "first_seen": TIME})},
        "platform": {"description": "os/architecture[/variant] of the image."},
        "os": {"description": "The OS found in the image (family, id, version), or null."},
        "size": INT, "created": nullable(STR), "config_digest": DIGEST,
        "metadata": {"type": "object", "description": "Layers (diffID, size, media type) and the config's history, in order."},
        "status": SCAN_STATUS, "scanned_at": nullable(TIME), "scan_error": nullable(STR), "db_version": nullable({"type": "integer"}),
        "analyzer_versions": {"type": "object", "additionalProperties": INT},
        "counts": ref("SeverityCounts"), "fixable": INT, "running": BOOL,
        "repository_exception": nullable(ref("ExceptionSummary")),
    }),
    "Finding": obj({
        "id": STR, "aliases": {"type": "array", "items": STR},
        "package": obj({"kind": STR, "name": STR, "installed_version": STR, "matched_name": STR,
                        "layer_index": nullable(INT), "layer_diff_id": nullable(STR), "path": STR}),
        "fixed_versions": {"type": "array", "items": STR}, "fixed_version": nullable(STR),
        "state": {"description": "`fixed`, `not-fixed`, or `{\"wont-fix\": reason}`."},
        "severity": SEVERITY,
        "cvss": {"description": "The score findings sort by: {version, base_score, vector} or null."},
        "epss": {"description": "[probability, percentile] or null."},
        "kev_date_added": nullable(STR),
        "title": nullable(STR), "description": nullable(STR), "references": {"type": "array", "items": STR},
        "evidence": {"type": "array", "items": {"type": "object"}}, "fingerprint": STR,
    }, required=["id", "aliases", "package", "fixed_versions", "fixed_version", "state", "severity", "cvss", "epss",
                 "kev_date_added", "references", "evidence", "fingerprint"]),
    "VulnerabilityRow": obj({"finding": ref("Finding"), "first_seen_db_version": {"type": "integer"}, "excepted": BOOL}),
    "VulnerabilityList": list_of("VulnerabilityRow"),
    "PackageRow": obj({"package": obj({"kind": STR, "name": STR, "version": STR, "layer_index": nullable(INT), "path": STR,
                                       "vulnerabilities": INT, "fix_all_version": nullable(STR)})}),
    "PackageList": list_of("PackageRow"),
    "ResourceRow": obj({
        "cluster": STR, "namespace": STR, "kind": STR, "name": STR, "container": STR,
        "container_type": {"type": "string", "enum": ["init", "regular", "ephemeral"]}, "image_ref": STR,
        "labels": LABELS, "created": nullable(TIME), "first_seen": TIME, "last_seen": TIME, "running": BOOL,
        "state": {"type": "string", "enum": ["running", "pending-resolution", "waiting", "terminated"]},
    }),
    "ResourceList": list_of("ResourceRow"),
    "RemediationRow": obj({"kind": STR, "name": STR, "to_version": STR, "findings": INT, "images": INT, "workloads": INT, "clusters": INT},
                          description="Upgrading package `name` to `to_version` (the version that fixes all its findings) fixes `findings` "
                                      "(fixable, not excepted) in `images` images in scope, running as `workloads` workloads in `clusters` clusters."),
    "RemediationList": list_of("RemediationRow"),
    "SuggestedBase": obj({"digest": DIGEST, "tags": {"type": "array", "items": STR}, "created": nullable(TIME), "findings": INT},
                         description="A stored image of the base's repository and platform, created later (config `created`) and with fewer "
                                     "findings of its own (the fewest; the newest among equals). Tags are only those the fleet has seen."),
    "BaseImageRow": obj({
        "repository": STR, "digest": DIGEST, "tags": {"type": "array", "items": STR}, "layers": INT, "created": nullable(TIME),
        "own_findings": INT, "findings": INT, "images": INT, "workloads": INT, "clusters": INT,
        "suggested": nullable(ref("SuggestedBase")),
    }, description="A stored image whose layers are a strict prefix of the layers of images in scope (for each image, the longest such one). "
                   "`findings`: findings (not excepted) in those images that its layers brought, summed; `own_findings`: the base image's own."),
    "BaseImageList": list_of("BaseImageRow"),
    "ClusterStatus": {"type": "object", "required": ["state"], "properties": {
        "state": {"type": "string", "enum": ["ok", "degraded", "unreachable"]},
        "reasons": {"type": "array", "items": STR}, "incomplete": {"type": "array", "items": STR}, "reason": STR}},
    "Cluster": obj({"name": STR, "source": {"type": "string", "enum": ["agent", "local"]}, "status": ref("ClusterStatus"),
                    "last_sequence": nullable(INT), "last_seen": TIME}),
    "ExceptionScope": {"oneOf": [
        obj({"scope": {"const": "repository"}, "repository": STR}),
        obj({"scope": {"const": "vulnerability"}, "vulnerability": STR, "repository": nullable(STR)},
            required=["scope", "vulnerability"]),
    ]},
    "Exception": obj({
        "id": INT, "scope": ref("ExceptionScope"), "reason": STR, "author": STR, "created": TIME,
        "expires": nullable(TIME), "state": {"type": "string", "enum": ["active", "cancelled", "expired"]},
        "cancelled_by": nullable(STR), "cancel_reason": nullable(STR), "cancelled_at": nullable(TIME),
    }),
    "ExceptionList": list_of("Exception"),
    "ExceptionEvent": obj({"exception": INT, "kind": {"type": "string", "enum": ["created", "cancelled", "expired"]},
                           "actor": STR, "at": TIME, "reason": nullable(STR)}),
    "ExceptionEventList": list_of("ExceptionEvent"),
    "CreateExceptions": {**obj({"scopes": {"type": "array", "minItems": 1, "maxItems": 500, "items": ref("ExceptionScope")},
                                "reason": {"type": "string", "minLength": 1, "maxLength": 2000},
                                "expires": nullable(TIME)}, required=["scopes", "reason"]),
                         "additionalProperties": False},
    "Created": obj({"ids": {"type": "array", "items": INT}}),
    "CancelExceptions": {**obj({"ids": {"type": "array", "minItems": 1, "maxItems": 500, "items": INT},
                                "reason": {"type": "string", "minLength": 1}}), "additionalProperties": False},
    "AgentMessage": {"type": "object", "required": ["version", "cluster", "sequence", "type"],
                     "description": "Agent protocol v1 (docs/agent-protocol.md): a snapshot (`inventory`) or a delta (`follows`, `changes`).",
                     "properties": {"version": {"const": 1}, "cluster": STR, "sequence": INT,
                                    "type": {"type": "string", "enum": ["snapshot", "delta"]},
                                    "inventory": {"type": "object"}, "follows": INT, "changes": {"type": "array"}}},
    "IngestResponse": {"oneOf": [obj({"result": {"const": "accepted"}, "sequence": INT}),
                                 obj({"result": {"const": "resnapshot"}, "reason": STR})]},
    "LoginRequest": {**obj({"name": STR, "password": STR}), "additionalProperties": False},
    "LoginAnswer": obj({"name": STR, "role": ROLE, "csrf_token": {"type": "string", "description": "Send in X-CSRF-Token with every POST, PUT, PATCH and DELETE of this session."}, "expires": TIME,
                          "must_change_password": {"type": "boolean", "description": "Logged in with a one-time password: until PUT /api/v1/me/password changes it, everything but /api/v1/me answers 403."}}),
    "WhoAmI": obj({"name": STR, "role": ROLE, "via": {"type": "string", "enum": ["session", "token", "agent"]},
                   "must_change_password": BOOL}),
    "ChangePassword": {**obj({"current_password": STR, "new_password": {"type": "string", "minLength": 12, "description": "At least 12 characters, at most 1024 bytes, not the current one."}}),
                       "additionalProperties": False},
    "PatchUser": {**obj({"role": ROLE, "disabled": {"type": "boolean", "description": "A disabled user's sessions are deleted and their tokens refused at once."}}, required=[]),
                  "additionalProperties": False, "minProperties": 1},
    "CreateToken": {**obj({"name": STR, "role": ROLE, "cluster": {"type": "string", "description": "Makes an agent token that may only ingest for this cluster."}}, required=["name"]),
                    "additionalProperties": False},
    "TokenCreated": obj({"id": INT, "name": STR, "token": {"type": "string", "description": "Shown once; the server keeps only its SHA-256."}}),
    "Token": obj({"id": INT, "name": STR, "role": ROLE, "cluster": nullable(STR), "created": TIME, "last_used": nullable(TIME), "revoked": nullable(TIME)}),
    "CreateUser": {**obj({"name": STR, "role": ROLE, "password": {"type": "string", "minLength": 12}}), "additionalProperties": False},
    "User": obj({"id": INT, "name": STR, "role": ROLE, "created": TIME, "disabled": BOOL,
                 "must_change_password": {"type": "boolean", "description": "The password was given to the user (one-time or set by an admin) and must be changed at the next login."}}),
    "UserCreated": obj({"id": INT, "name": STR, "role": ROLE}),
    "FleetReport": obj({"generated": TIME, "statistics": ref("Statistics"), "repositories_total": INT,
                        "repositories": {"type": "array", "items": ref("RepositoryRow")}},
                       description="The report for a scope: statistics and every repository (at most 20,000), most severe first."),
    "OpenVex": obj({"@context": {"const": "https://openvex.dev/ns/v0.2.0"}, "@id": STR, "author": STR, "timestamp": TIME,
                    "version": INT, "tooling": STR,
                    "statements": {"type": "array", "items": obj({
                        "vulnerability": obj({"name": STR}), "products": {"type": "array", "items": obj({"@id": STR})},
                        "status": {"const": "not_affected"}, "impact_statement": STR, "timestamp": TIME})}},
                   description="OpenVEX v0.2.0: one not_affected statement per active vulnerability exception (repository exceptions are not VEX statements)."),
}

def param(name, description, schema=STR, where="query", required=False):
    return {"name": name, "in": where, "required": required, "description": description, "schema": schema}

def array_param(name, description, item=STR):
    return {"name": name, "in": "query", "description": description + " Repeat the parameter or separate values with commas.",
            "schema": {"type": "array", "items": item}, "style": "form", "explode": True}

FILTER = [
    array_param("cluster", "Only these clusters."),
    array_param("namespace", "Only these namespaces."),
    param("labels", "Kubernetes label selector on workload labels: `key=value,key!=value,key,!key` (at most 1024 bytes, 20 requirements)."),
    param("status", "Image status.", {"type": "string", "enum": ["running", "not_running", "all"]}),
    array_param("scan_status", "Only images in these scan states.", SCAN_STATUS),
    array_param("severity", "Images with a finding of these severities; counts restricted to them.", SEVERITY),
    param("fixable", "Only fixable findings.", BOOL),
    param("q", "Substring of the repository, a tag, the digest or a vulnerability ID (at most 256 bytes)."),
    param("view", "`excepted`: the Excepted view (excepted repositories with reason, set on, set by).", {"type": "string", "enum": ["active", "excepted"]}),
]
PAGE = [param("limit", "Rows per page (1 to 500, default 50; larger values are capped).", INT),
        param("offset", "Rows to skip (at most 1,000,000).", INT)]
def sort(fields, default):
    return param("sort", f"`field` ascending or `-field` descending; default `{default}`.",
                 {"type": "string", "enum": fields + ["-" + f for f in fields]})
DIGEST_PARAM = param("digest", "The image's manifest digest.", DIGEST, where="path", required=True)
LAYERS = array_param("layers", "Only findings/packages introduced by these layer indexes (0 = bottom).", INT)

def json_response(schema, description="OK"):
    return {"description": description, "content": {"application/json": {"schema": ref(schema) if isinstance(schema, str) else schema}}}

ERRORS = {
    "400": json_response("Error", "The request is malformed; the message says how."),
    "401": json_response("Error", "No valid token or session."),
    "403": json_response("Error", "The caller's role does not allow this (or the CSRF token is missing, or the session logged in with a one-time password that must be changed first)."),
}

def op(summary, role, responses, parameters=(), body=None, tags=("report",)):
    o = {"summary": summary, "description": f"Needs: {role}.", "tags": list(tags), "parameters": list(parameters),
         "responses": {**responses, **ERRORS}}
    if body:
        o["requestBody"] = {"required": True, "content": {"application/json": {"schema": ref(body)}}}
    return o

paths = {
    "/healthz": {"get": {"summary": "Liveness (anonymous).", "tags": ["health"], "security": [],
                         "responses": {"200": {"description": "ok", "content": {"text/plain": {"schema": STR}}}}}},
    "/readyz": {"get": {"summary": "Readiness (anonymous): 503 until start-up work is done.", "tags": ["health"], "security": [],
                        "responses": {"200": {"description": "ready", "content": {"text/plain": {"schema": STR}}},
                                      "503": {"description": "starting", "content": {"text/plain": {"schema": STR}}}}}},
    "/metrics": {"get": op("Prometheus metrics (text exposition format).", "viewer",
                           {"200": {"description": "metrics", "content": {"text/plain": {"schema": STR}}}}, tags=["health"])},
    "/api/openapi.json": {"get": op("This document.", "viewer", {"200": json_response({"type": "object"})}, tags=["meta"])},
    "/api/v1/login": {"post": {**op("Log in: sets the HttpOnly session cookie and returns the CSRF token.", "nothing (anonymous)",
                                    {"200": json_response("LoginAnswer"),
                                     "429": {**json_response("Error", "Too many failed attempts for this name (5) or from this address (30) in 15 minutes."),
                                             "headers": {"Retry-After": {"description": "Seconds to wait.", "schema": INT}}}},
                                    body="LoginRequest", tags=["session"]), "security": []}},
    "/api/v1/logout": {"post": {**op("Log out: ends the session in the cookie, if any.", "nothing (anonymous)",
                                     {"204": {"description": "logged out"}}, tags=["session"]), "security": []}},
    "/api/v1/me": {"get": op("Who the caller is.", "any caller", {"200": json_response("WhoAmI")}, tags=["session"])},
    "/api/v1/me/password": {"put": op(
        "Change one's own password (proving the current one). The session making the change stays; the user's other sessions are deleted; API tokens stay.",
        "a browser session (API tokens are refused with 403)",
        {"204": {"description": "changed"},
         "429": {**json_response("Error", "Too many wrong current passwords; see Retry-After."),
                 "headers": {"Retry-After": {"description": "Seconds to wait.", "schema": INT}}}},
        body="ChangePassword", tags=["session"])},
    "/api/v1/statistics": {"get": op("Statistics for a scope (they follow the filter).", "viewer",
                                     {"200": json_response("Statistics")}, FILTER)},
    "/api/v1/repositories": {"get": op("Repositories in scope, grouped by name.", "viewer", {"200": json_response("RepositoryList")},
                                       FILTER + [sort(["repository", "images", "severity", "critical", "high", "fixable", "clusters", "resources", "last_scanned"], "-severity")] + PAGE)},
    "/api/v1/images/{digest}": {"get": op("Image details.", "viewer",
                                          {"200": json_response("ImageDetails"), "404": json_response("Error", "No such image.")}, [DIGEST_PARAM])},
    "/api/v1/images/{digest}/vulnerabilities": {"get": op("An image's vulnerabilities.", "viewer", {"200": json_response("VulnerabilityList")},
        [DIGEST_PARAM, LAYERS, sort(["cvss", "severity", "id", "package", "epss", "layer"], "-cvss"),
         param("include_excepted", "Also list excepted findings (marked `excepted`).", BOOL)] + PAGE)},
    "/api/v1/images/{digest}/packages": {"get": op("An image's packages with vulnerability counts and the version that fixes all.", "viewer",
                                                   {"200": json_response("PackageList")}, [DIGEST_PARAM, LAYERS] + PAGE)},
    "/api/v1/images/{digest}/resources": {"get": op("Where an image runs or ran.", "viewer", {"200": json_response("ResourceList")}, [DIGEST_PARAM] + PAGE)},
    "/api/v1/remediation": {"get": op("Package upgrades that fix the most findings in scope.", "viewer",
                                      {"200": json_response("RemediationList")}, FILTER + PAGE)},
    "/api/v1/remediation/base-images": {"get": op("Base images whose layers brought the most findings into images in scope, "
                                                  "with a newer, less vulnerable base the fleet holds.", "viewer",
                                                  {"200": json_response("BaseImageList")}, FILTER + PAGE)},
    "/api/v1/images/{digest}/sbom": {"get": op("The image's SBOM with its findings: CycloneDX 1.5 (with vulnerabilities) or SPDX 2.3.", "viewer",
        {"200": {"description": "the document", "content": {"application/json": {"schema": {"type": "object"}}}},
         "404": json_response("Error", "No scanned image with this digest.")},
        [DIGEST_PARAM, param("format", "Document format (default cyclonedx).", {"type": "string", "enum": ["cyclonedx", "spdx"]})], tags=["exports"])},
    "/api/v1/images/{digest}/sarif": {"get": op("The image's findings as SARIF 2.1.0.", "viewer",
        {"200": {"description": "the SARIF log", "content": {"application/json": {"schema": {"type": "object"}}}},
         "404": json_response("Error", "No scanned image with this digest.")}, [DIGEST_PARAM], tags=["exports"])},
    "/api/v1/report.json": {"get": op("The fleet report for a scope, as a JSON download.", "viewer",
                                      {"200": json_response("FleetReport")}, FILTER, tags=["exports"])},
    "/api/v1/report.csv": {"get": op("The repository list for a scope, as CSV (cells that look like formulas are defused).", "viewer",
                                     {"200": {"description": "CSV", "content": {"text/csv": {"schema": STR}}}}, FILTER, tags=["exports"])},
    "/api/v1/exceptions/openvex": {"get": op("Active vulnerability exceptions as an OpenVEX document.", "viewer",
                                             {"200": json_response("OpenVex")}, tags=["exports", "exceptions"])},
    "/api/v1/clusters": {"get": op("Clusters and their status.", "viewer", {"200": json_response({"type": "array", "items": ref("Cluster")})})},
    "/api/v1/exceptions": {
        "get": op("Exceptions by state, newest first.", "viewer", {"200": json_response("ExceptionList")},
                  [param("state", "Which exceptions.", {"type": "string", "enum": ["active", "cancelled", "expired", "all"]})] + PAGE, tags=["exceptions"]),
        "post": op("Except repositories or vulnerabilities (all or none), with one reason and an optional expiry; the author is the caller.",
                   "editor", {"201": json_response("Created")}, body="CreateExceptions", tags=["exceptions"]),
    },
    "/api/v1/exceptions/cancel": {"post": op("Cancel active exceptions (all or none) with a reason.", "editor",
                                             {"204": {"description": "cancelled"}}, body="CancelExceptions", tags=["exceptions"])},
    "/api/v1/exceptions/history": {"get": op("The append-only history (of one exception, or all), oldest first.", "viewer",
                                             {"200": json_response("ExceptionEventList")},
                                             [param("exception", "One exception's id.", INT)] + PAGE, tags=["exceptions"])},
    "/api/v1/exceptions/stale": {"get": op("Active exceptions that match nothing currently stored.", "viewer",
                                           {"200": json_response({"type": "array", "items": ref("Exception")})}, tags=["exceptions"])},
    "/api/v1/agents/ingest": {"post": op("An agent's inventory message (protocol v1).", "an agent token for the message's cluster",
                                         {"200": json_response("IngestResponse"), "413": json_response("Error", "The message is larger than the server accepts.")},
                                         body="AgentMessage", tags=["agents"])},
    "/api/v1/tokens": {
        "get": op("API and agent tokens (never their values).", "admin", {"200": json_response({"type": "array", "items": ref("Token")})}, tags=["admin"]),
        "post": op("Issue a token; its value is shown once.", "admin", {"201": json_response("TokenCreated")}, body="CreateToken", tags=["admin"]),
    },
    "/api/v1/tokens/{id}": {"delete": op("Revoke a token.", "admin", {"204": {"description": "revoked"}, "404": json_response("Error", "No such token.")},
                                         [param("id", "The token's id.", INT, where="path", required=True)], tags=["admin"])},
    "/api/v1/users": {
        "get": op("Users.", "admin", {"200": json_response({"type": "array", "items": ref("User")})}, tags=["admin"]),
        "post": op("Create a user. The user must change the password at the first login.", "admin", {"201": json_response("UserCreated"), "409": json_response("Error", "The name is taken.")}, body="CreateUser", tags=["admin"]),
    },
    "/api/v1/users/{id}": {"patch": op(
        "Change a user's role and/or disable them. Disabling deletes the user's sessions and stops their tokens at once.", "admin",
        {"200": json_response("User"), "404": json_response("Error", "No such user."),
         "409": json_response("Error", "The last enabled admin cannot be disabled or demoted.")},
        [param("id", "The user's id.", INT, where="path", required=True)], body="PatchUser", tags=["admin"])},
}

doc = {
    "openapi": "3.1.0",
    "info": {"title": "Shipshape", "version": "1",
             "description": "The image security report's REST API. Every list is paginated (`limit`, `offset`, answer `total`). "
                            "Unknown query parameters are refused with 400. Nothing is anonymous except /healthz, /readyz and login."},
    "servers": [{"url": "/"}],
    "security": [{"bearer": []}, {"session": []}],
    "paths": paths,
    "components": {
        "schemas": schemas,
        "securitySchemes": {
            "bearer": {"type": "http", "scheme": "bearer", "description": "An API token (`ssp_…`) issued by an admin."},
            "session": {"type": "apiKey", "in": "cookie", "name": "shipshape_session",
                        "description": "A browser session from /api/v1/login; state-changing requests also need X-CSRF-Token."},
        },
    },
}

out = pathlib.Path(__file__).resolve().parent.parent / "openapi.json"
out.write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")
