"""The compatibility guard, tools/check_compatibility.py (issue 11, item 5), fed small spec
pairs: each kind of breaking change is reported, additive changes pass, a major version
bump lets a breaking change through, and the committed spec passes against its release."""

import copy
import importlib.util
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location(
    "check_compatibility", ROOT / "tools" / "check_compatibility.py"
)
assert _spec is not None and _spec.loader is not None
checker = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(checker)

Spec = dict[str, Any]

PROBLEM = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}


def release() -> Spec:
    """A small spec in this project's shape: a public list and detail, a keyed create."""
    return {
        "openapi": "3.1.0",
        "info": {"title": "t", "version": "1.4.2"},
        "paths": {
            "/v1/items": {
                "get": {
                    "operationId": "listItems",
                    "security": [],
                    "parameters": [
                        {
                            "name": "limit",
                            "in": "query",
                            "required": False,
                            "schema": {"type": "integer", "minimum": 1, "maximum": 100},
                        },
                        {
                            "name": "kind",
                            "in": "query",
                            "required": False,
                            "schema": {
                                "anyOf": [{"$ref": "#/components/schemas/Kind"}, {"type": "null"}]
                            },
                        },
                    ],
                    "responses": {
                        "200": {
                            "description": "ok",
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/Page"}
                                }
                            },
                        },
                        "400": {"description": "bad", "content": PROBLEM},
                    },
                },
                "post": {
                    "operationId": "createItem",
                    "security": [{"HTTPBearer": []}],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {"$ref": "#/components/schemas/ItemCreate"}
                            }
                        },
                    },
                    "responses": {
                        "201": {
                            "description": "created",
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/Item"}
                                }
                            },
                        },
                    },
                },
            },
            "/v1/items/{slug}": {
                "get": {
                    "operationId": "getItem",
                    "security": [],
                    "parameters": [
                        {
                            "name": "slug",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "string"},
                        }
                    ],
                    "responses": {
                        "200": {
                            "description": "ok",
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/Item"}
                                }
                            },
                        },
                        "404": {"description": "missing", "content": PROBLEM},
                    },
                },
            },
        },
        "components": {
            "securitySchemes": {"HTTPBearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Kind": {"type": "string", "enum": ["stock", "crypto", "fx"]},
                "Item": {
                    "type": "object",
                    "properties": {
                        "slug": {"type": "string"},
                        "kind": {"$ref": "#/components/schemas/Kind"},
                        "price": {"type": "number"},
                        "note": {"anyOf": [{"type": "string"}, {"type": "null"}]},
                        "tags": {"type": "array", "items": {"type": "string"}},
                    },
                    "required": ["slug", "kind", "price", "note", "tags"],
                },
                "Page": {
                    "type": "object",
                    "properties": {
                        "items": {"type": "array", "items": {"$ref": "#/components/schemas/Item"}},
                        "next_cursor": {"anyOf": [{"type": "string"}, {"type": "null"}]},
                    },
                    "required": ["items", "next_cursor"],
                },
                "ItemCreate": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "slug": {"type": "string", "maxLength": 120},
                        "kind": {"$ref": "#/components/schemas/Kind"},
                        "note": {"anyOf": [{"type": "string"}, {"type": "null"}]},
                        "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 10},
                    },
                    "required": ["slug", "kind"],
                },
                "Problem": {
                    "type": "object",
                    "properties": {"type": {"type": "string"}, "status": {"type": "integer"}},
                    "required": ["type", "status"],
                },
            },
        },
    }


def changed(change: Callable[[Spec], None], version: str | None = None) -> Spec:
    spec = copy.deepcopy(release())
    change(spec)
    if version is not None:
        spec["info"]["version"] = version
    return spec


def schemas(spec: Spec) -> dict[str, Any]:
    return spec["components"]["schemas"]


def list_items(spec: Spec) -> dict[str, Any]:
    return spec["paths"]["/v1/items"]["get"]


def create_item(spec: Spec) -> dict[str, Any]:
    return spec["paths"]["/v1/items"]["post"]


def add(mapping: dict[str, Any], key: str, value: Any) -> None:
    mapping[key] = value


# Each breaking kind: a change to the release, and a fragment its report must contain.
BREAKING: dict[str, tuple[Callable[[Spec], None], str]] = {
    "operation removed": (
        lambda s: s["paths"].pop("/v1/items/{slug}"),
        "GET /v1/items/{slug}: operation removed",
    ),
    "method removed": (
        lambda s: s["paths"]["/v1/items"].pop("post"),
        "POST /v1/items: operation removed",
    ),
    "public operation needs a key": (
        lambda s: add(list_items(s), "security", [{"HTTPBearer": []}]),
        "GET /v1/items: now needs authentication",
    ),
    "success response removed": (
        lambda s: create_item(s)["responses"].pop("201"),
        "POST /v1/items response 201: response removed",
    ),
    "response media type removed": (
        lambda s: add(
            s["paths"]["/v1/items/{slug}"]["get"]["responses"]["200"],
            "content",
            {"application/xml": {"schema": {"type": "string"}}},
        ),
        "response 200 application/json: media type removed",
    ),
    "response property removed": (
        lambda s: schemas(s)["Item"]["properties"].pop("price"),
        "response schema Item.price: property removed",
    ),
    "response property no longer required": (
        lambda s: schemas(s)["Item"]["required"].remove("price"),
        "response schema Item.price: no longer required",
    ),
    "response property may now be null": (
        lambda s: add(schemas(s)["Item"]["properties"], "price", {"type": ["number", "null"]}),
        "response schema Item.price: may now be null",
    ),
    "response property type changed": (
        lambda s: add(schemas(s)["Item"]["properties"], "price", {"type": "string"}),
        "response schema Item.price: may now be string",
    ),
    "response array items widened": (
        lambda s: add(
            schemas(s)["Item"]["properties"]["tags"], "items", {"type": ["string", "integer"]}
        ),
        "Item.tags[]: may now be integer",
    ),
    "response property made nullable with anyOf": (
        lambda s: add(
            schemas(s)["Item"]["properties"], "slug", {"anyOf": [{"type": "string"}, {"type": "null"}]}
        ),
        "response schema Item.slug: may now be null",
    ),
    "response reference made nullable": (
        lambda s: add(
            schemas(s)["Item"]["properties"],
            "kind",
            {"anyOf": [{"$ref": "#/components/schemas/Kind"}, {"type": "null"}]},
        ),
        "response schema Item.kind: may now be null",
    ),
    "response enum gains null": (
        lambda s: add(schemas(s)["Item"]["properties"], "kind", {"enum": ["stock", "crypto", "fx", None]}),
        "response schema Item.kind: may now be null",
    ),
    "response property nullable in OpenAPI 3.0 spelling": (
        lambda s: add(schemas(s)["Item"]["properties"]["price"], "nullable", True),
        "response schema Item.price: may now be null",
    ),
    "response enum value added": (
        lambda s: schemas(s)["Kind"]["enum"].append("bond"),
        'response schema Kind: enum value "bond" added',
    ),
    "response enum value added to an untyped enum": (
        lambda s: add(
            schemas(s)["Item"]["properties"], "kind", {"enum": ["stock", "crypto", "fx", "bond"]}
        ),
        'response schema Item.kind: enum value "bond" added',
    ),
    "response enum value removed": (
        lambda s: add(schemas(s)["Kind"], "enum", ["stock", "crypto"]),
        'enum value "fx" removed',
    ),
    "new required query parameter": (
        lambda s: list_items(s)["parameters"].append(
            {"name": "market", "in": "query", "required": True, "schema": {"type": "string"}}
        ),
        "GET /v1/items query parameter market: new required parameter",
    ),
    "query parameter newly required": (
        lambda s: add(list_items(s)["parameters"][0], "required", True),
        "GET /v1/items query parameter limit: newly required",
    ),
    "query parameter type narrowed": (
        lambda s: add(
            list_items(s)["parameters"][0], "schema", {"type": "string", "enum": ["10", "20"]}
        ),
        "GET /v1/items query parameter limit: no longer accepts integer",
    ),
    "query parameter bound tightened": (
        lambda s: add(list_items(s)["parameters"][0]["schema"], "maximum", 50),
        "query parameter limit: maximum narrowed from 100 to 50",
    ),
    "query parameter no longer nullable": (
        lambda s: add(
            list_items(s)["parameters"][1], "schema", {"$ref": "#/components/schemas/Kind"}
        ),
        "query parameter kind: no longer accepts null",
    ),
    "path parameter now an enum": (
        lambda s: add(
            s["paths"]["/v1/items/{slug}"]["get"]["parameters"][0],
            "schema",
            {"type": "string", "enum": ["a"]},
        ),
        "path parameter slug: now limited to an enum",
    ),
    "body field newly required": (
        lambda s: schemas(s)["ItemCreate"]["required"].append("note"),
        "request schema ItemCreate.note: newly required",
    ),
    "new required body field": (
        lambda s: (
            add(schemas(s)["ItemCreate"]["properties"], "market", {"type": "string"}),
            schemas(s)["ItemCreate"]["required"].append("market"),
        ),
        "request schema ItemCreate.market: newly required",
    ),
    "body field no longer nullable": (
        lambda s: add(schemas(s)["ItemCreate"]["properties"], "note", {"type": "string"}),
        "request schema ItemCreate.note: no longer accepts null",
    ),
    "body field bound tightened": (
        lambda s: add(schemas(s)["ItemCreate"]["properties"]["slug"], "maxLength", 60),
        "request schema ItemCreate.slug: maxLength narrowed from 120 to 60",
    ),
    "body array bound tightened": (
        lambda s: add(schemas(s)["ItemCreate"]["properties"]["tags"], "maxItems", 5),
        "ItemCreate.tags: maxItems narrowed from 10 to 5",
    ),
    "body field removed from a closed schema": (
        lambda s: schemas(s)["ItemCreate"]["properties"].pop("note"),
        "request schema ItemCreate.note: field removed (unknown fields are refused)",
    ),
    "request enum value removed": (
        lambda s: add(schemas(s)["Kind"], "enum", ["stock", "crypto"]),
        'request schema Kind: enum value "fx" removed',
    ),
    "request media type dropped": (
        lambda s: add(
            create_item(s)["requestBody"],
            "content",
            {
                "application/merge-patch+json": create_item(s)["requestBody"]["content"][
                    "application/json"
                ]
            },
        ),
        "POST /v1/items request body application/json: media type no longer accepted",
    ),
}


def test_the_release_is_compatible_with_itself() -> None:
    assert checker.breaking_changes(release(), release()) == []
    assert checker.check(release(), release()) == (True, [])


@pytest.mark.parametrize("kind", sorted(BREAKING))
def test_each_breaking_change_is_reported_and_fails(kind: str) -> None:
    change, expected = BREAKING[kind]
    passes, messages = checker.check(release(), changed(change))
    assert not passes, f"{kind}: not detected"
    assert any(expected in message for message in messages), messages


@pytest.mark.parametrize("version", ["1.4.3", "1.5.0", "1.4.2"])
def test_a_minor_or_patch_bump_does_not_allow_a_breaking_change(version: str) -> None:
    change, _ = BREAKING["response property removed"]
    passes, _ = checker.check(release(), changed(change, version=version))
    assert not passes


def test_an_optional_request_body_made_required_is_breaking() -> None:
    # The release's body is required; this pair starts from an optional one.
    old = release()
    create_item(old)["requestBody"]["required"] = False
    new = copy.deepcopy(old)
    create_item(new)["requestBody"]["required"] = True
    assert "POST /v1/items request body: newly required" in checker.breaking_changes(old, new)


ADDITIVE: dict[str, Callable[[Spec], None]] = {
    "new operation": lambda s: add(
        s["paths"],
        "/v1/markets",
        {"get": {"security": [], "responses": {"200": {"description": "ok"}}}},
    ),
    "new method": lambda s: add(
        s["paths"]["/v1/items/{slug}"],
        "delete",
        {"security": [{"HTTPBearer": []}], "responses": {"204": {"description": "gone"}}},
    ),
    "new optional query parameter": lambda s: list_items(s)["parameters"].append(
        {"name": "market", "in": "query", "required": False, "schema": {"type": "string"}}
    ),
    "new response property": lambda s: add(
        schemas(s)["Item"]["properties"], "currency", {"type": "string"}
    ),
    "new required response property": lambda s: (
        add(schemas(s)["Item"]["properties"], "currency", {"type": "string"}),
        schemas(s)["Item"]["required"].append("currency"),
    ),
    "request enum value added": lambda s: add(
        list_items(s)["parameters"][1],
        "schema",
        {"anyOf": [{"type": "string", "enum": ["stock", "crypto", "fx", "bond"]}, {"type": "null"}]},
    ),
    "body field made nullable": lambda s: add(
        schemas(s)["ItemCreate"]["properties"]["slug"], "type", ["string", "null"]
    ),
    "new optional body field": lambda s: add(
        schemas(s)["ItemCreate"]["properties"], "market", {"type": "string"}
    ),
    "input widened": lambda s: add(
        schemas(s)["ItemCreate"]["properties"]["slug"], "maxLength", 200
    ),
    "input bound dropped": lambda s: list_items(s)["parameters"][0]["schema"].pop("maximum"),
    "new error response": lambda s: add(
        list_items(s)["responses"], "429", {"description": "slow", "content": PROBLEM}
    ),
    "error response removed": lambda s: list_items(s)["responses"].pop("400"),
    "operation made public": lambda s: add(create_item(s), "security", []),
    "path parameter renamed": lambda s: add(
        s["paths"],
        "/v1/items/{item}",
        {
            "get": {
                **s["paths"].pop("/v1/items/{slug}")["get"],
                "parameters": [
                    {"name": "item", "in": "path", "required": True, "schema": {"type": "string"}}
                ],
            }
        },
    ),
    "descriptions edited": lambda s: add(
        list_items(s), "description", "Lists items, newest first."
    ),
}


@pytest.mark.parametrize("kind", sorted(ADDITIVE))
def test_additive_changes_pass(kind: str) -> None:
    assert checker.check(release(), changed(ADDITIVE[kind])) == (True, [])


@pytest.mark.parametrize("kind", sorted(BREAKING))
def test_a_major_version_bump_allows_a_breaking_change(kind: str) -> None:
    change, expected = BREAKING[kind]
    passes, messages = checker.check(release(), changed(change, version="2.0.0"))
    assert passes
    assert any(
        expected in message and "major version bump 1.4.2 -> 2.0.0" in message
        for message in messages
    )


def test_the_command_fails_on_a_breaking_change_and_passes_otherwise(tmp_path: Path) -> None:
    baseline, current = tmp_path / "release.json", tmp_path / "current.json"
    baseline.write_text(json.dumps(release()), encoding="utf-8")
    current.write_text(json.dumps(changed(BREAKING["operation removed"][0])), encoding="utf-8")
    assert checker.main([str(baseline), str(current)]) == 1
    current.write_text(json.dumps(changed(ADDITIVE["new operation"])), encoding="utf-8")
    assert checker.main([str(baseline), str(current)]) == 0


def test_the_committed_spec_is_compatible_with_the_last_release() -> None:
    old = json.loads((ROOT / "docs" / "openapi-release.json").read_text(encoding="utf-8"))
    new = json.loads((ROOT / "docs" / "openapi.json").read_text(encoding="utf-8"))
    assert checker.check(old, new)[0], checker.breaking_changes(old, new)


def test_a_real_breaking_change_to_the_committed_spec_is_caught() -> None:
    old = json.loads((ROOT / "docs" / "openapi-release.json").read_text(encoding="utf-8"))
    new = copy.deepcopy(old)
    card = new["components"]["schemas"]["ArticleCard"]
    removed = min(card["properties"])
    card["properties"].pop(removed)
    assert f"response schema ArticleCard.{removed}: property removed" in checker.breaking_changes(
        old, new
    )
