"""A small route registry that also writes the OpenAPI 3.1 document, from the same pydantic models that validate.

Declaring a route once (`@api.route(...)`) both registers it with aiohttp and documents it, so the document at
`/admin/openapi.json` cannot drift from what the handlers accept.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from handlers.http import Handler

_PATH_PARAM = re.compile(r"\{(\w+)\}")


class Problem(BaseModel):
    """Every error answer: a code, a human message, and the offending field when there is one."""

    error: str
    message: str
    field: str | None = None


_ERROR_TEXT = {
    400: "Invalid input: malformed JSON or a field that fails validation",
    401: "Missing or unknown bearer token",
    403: "The token may not do this",
    404: "No such object (or it belongs to another tenant)",
    408: "The body did not arrive within LEADBOT_BODY_TIMEOUT_S",
    409: "Conflicts with an existing object",
    413: "Body too large",
    424: "The platform refused the call it depends on, or could not be reached",
    429: "Over a quota (API calls per token, webhook subscriptions or replays per tenant); Retry-After when "
         "waiting helps",
}


def _names_tenant(model: type[BaseModel] | None) -> bool:
    fields = getattr(model, "model_fields", None) or {}
    if not fields and model is not None and hasattr(model, "__pydantic_root_model__"):
        return True  # a union of bodies (apps): each names its tenant
    return "tenant_id" in fields


@dataclass
class Operation:
    method: str
    path: str
    handler: Handler
    summary: str
    tags: tuple[str, ...]
    body: type[BaseModel] | None
    query: type[BaseModel] | None
    ok_status: int
    ok_model: type[BaseModel] | None
    ok_list: bool
    errors: tuple[int, ...]


@dataclass
class ApiRoutes:
    """One module's documented routes, collected by its `@API.route(...)` decorators. Collecting mounts nothing: the
    wiring (`bot.runtime.wiring.API_MODULES`) includes each module's routes in the one registry below, so a route
    is served because it is listed there, not because its module happened to be imported."""

    operations: list[Operation] = field(default_factory=list)

    def route(
        self,
        method: str,
        path: str,
        *,
        summary: str,
        tags: tuple[str, ...] = (),
        body: type[BaseModel] | None = None,
        query: type[BaseModel] | None = None,
        ok: int = 200,
        response: type[BaseModel] | None = None,
        many: bool = False,
        errors: tuple[int, ...] = (401, 403),
    ):
        def register(handler: Handler) -> Handler:
            # Every route takes a bearer token, and every tenant token has its API-call quota.
            errs = set(errors) | {429} | ({400, 408, 413} if body is not None else set())
            errs |= {400} if query is not None else set()
            if _PATH_PARAM.search(path) or _names_tenant(body) or _names_tenant(query):
                errs |= {400, 404}  # an unknown id, or another tenant's (which looks the same)
            self.operations.append(
                Operation(method.upper(), path, handler, summary, tags, body, query, ok, response, many,
                          tuple(sorted(errs)))
            )
            return handler

        return register


@dataclass
class ApiRegistry:
    """Every included module's routes: mounted on the app, and written as one OpenAPI document."""

    title: str
    version: str
    operations: list[Operation] = field(default_factory=list)

    def include(self, *routes: ApiRoutes) -> None:
        for r in routes:
            self.operations.extend(op for op in r.operations if op not in self.operations)

    def add_routes(self, app: web.Application) -> None:
        for op in self.operations:
            app.router.add_route(op.method, op.path, op.handler)

    def document(self) -> dict[str, Any]:
        models = {Problem}
        for op in self.operations:
            models |= {m for m in (op.body, op.ok_model) if m is not None}
        inputs = [(m, "validation") for m in sorted(models, key=lambda m: m.__name__)]
        _, schema = models_json_schema(inputs, ref_template="#/components/schemas/{model}")
        paths: dict[str, dict[str, Any]] = {}
        for op in self.operations:
            paths.setdefault(op.path, {})[op.method.lower()] = self._operation(op)
        return {
            "openapi": "3.1.0",
            "info": {"title": self.title, "version": self.version},
            "paths": paths,
            "components": {
                "schemas": schema.get("$defs", {}),
                "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            },
            "security": [{"bearer": []}],
        }

    def _operation(self, op: Operation) -> dict[str, Any]:
        params: list[dict[str, Any]] = [
            {"name": name, "in": "path", "required": True, "schema": {"type": "integer", "minimum": 1}}
            for name in _PATH_PARAM.findall(op.path)
        ]
        if op.query is not None:
            qs = op.query.model_json_schema()
            required = set(qs.get("required", []))
            for name, prop in qs.get("properties", {}).items():
                params.append({"name": name, "in": "query", "required": name in required, "schema": prop})
        ok: dict[str, Any] = {"description": "OK"}
        if op.ok_model is not None:
            ref = {"$ref": f"#/components/schemas/{op.ok_model.__name__}"}
            ok["content"] = {"application/json": {"schema": {"type": "array", "items": ref} if op.ok_list else ref}}
        responses: dict[str, Any] = {str(op.ok_status): ok}
        problem = {"application/json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
        for status in op.errors:
            responses[str(status)] = {"description": _ERROR_TEXT[status], "content": problem}
        out: dict[str, Any] = {
            "summary": op.summary,
            "operationId": f"{op.method.lower()}_{re.sub(r'[^a-z0-9]+', '_', op.path.lower()).strip('_')}",
            "tags": list(op.tags),
            "parameters": params,
            "responses": responses,
        }
        if op.body is not None:
            out["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{op.body.__name__}"}}},
            }
        return out


# One document for every bearer-token route (admin API and lead API), served at /admin/openapi.json.
API = ApiRegistry(title="leadbot API", version="1")


@functools.cache
def _document_bytes() -> bytes:
    return json.dumps(API.document(), ensure_ascii=False).encode()


async def openapi_view(request: web.Request) -> web.Response:
    """The document is the same for the life of the process: built once."""
    return web.Response(body=_document_bytes(), content_type="application/json")


def setup(app: web.Application) -> None:
    """Mount every included route (`ApiRegistry.include`, done by the wiring) and the document itself."""
    API.add_routes(app)
    app.router.add_get("/admin/openapi.json", openapi_view)
