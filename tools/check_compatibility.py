"""The compatibility guard (issue 11, item 5): compares docs/openapi.json with the spec of
the last release, docs/openapi-release.json, and fails on a change that breaks a client
written against the release, unless info.version's major number was bumped.

    python tools/check_compatibility.py [BASELINE CURRENT]

No well-kept differ installs from the registries here (oasdiff has no npm or PyPI package;
openapi-changes' npm package downloads its binary at install time), so this is a small
stdlib script that keeps to the clear cases:

- an operation removed (paths compare with their parameter names ignored), or a public
  operation (`security: []`) that now needs a key;
- a required input added: a new required parameter, a parameter or body field that became
  required, a request body that became required;
- an input narrowed: a type or `null` no longer accepted, an enum value removed or an enum
  added, a bound tightened (minLength, maxLength, minimum, maximum, minItems, maxItems),
  a body field removed from a schema that refuses unknown fields;
- an output changed under a reader: a response (2xx) or its media type removed, a property
  removed or no longer required, a new type it may now carry, `null` included (a field
  that became nullable, however the schema says it: `type: [..., "null"]`, an `anyOf`
  branch, a `null` in its enum, OpenAPI 3.0's `nullable: true`), an enum value removed,
  or one added (generated clients with exhaustive enums, openapi-python-client's and
  TypeScript's union types, fail to read a value they do not know).

Additive changes pass: a new operation, a new optional parameter or body field, a new
response property. `make check-compatibility` runs it in CI; `make release-spec` refreshes
the baseline on a release.
"""

import json
import re
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BASELINE = ROOT / "docs" / "openapi-release.json"
CURRENT = ROOT / "docs" / "openapi.json"

METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
BOUNDS_LOWER = ("minLength", "minimum", "exclusiveMinimum", "minItems")  # raising one narrows
BOUNDS_UPPER = ("maxLength", "maximum", "exclusiveMaximum", "maxItems")  # lowering one narrows

Schema = dict[str, Any]

REQUEST = "request"  # the client writes, the server reads: narrowing breaks
RESPONSE = "response"  # the server writes, the client reads: widening or removing breaks


def major(version: str) -> int:
    match = re.match(r"\s*v?(\d+)", version)
    return int(match.group(1)) if match else 0


class Comparison:
    def __init__(self, old: dict[str, Any], new: dict[str, Any]) -> None:
        self.old = old
        self.new = new
        self.changes: list[str] = []
        self.seen: set[tuple[str, str, str]] = set()  # component pairs already compared

    def report(self, where: str, what: str) -> None:
        line = f"{where}: {what}"
        if line not in self.changes:
            self.changes.append(line)

    # Schemas -------------------------------------------------------------------------

    @staticmethod
    def resolve(document: dict[str, Any], schema: Schema) -> tuple[Schema, str | None]:
        """Follows local $refs; returns the schema and the last component name (or None)."""
        name = None
        for _ in range(32):
            ref = schema.get("$ref") if isinstance(schema, dict) else None
            if not isinstance(ref, str) or not ref.startswith("#/"):
                break
            name = ref.rsplit("/", 1)[-1]
            target: Any = document
            for part in ref[2:].split("/"):
                target = target.get(part.replace("~1", "/").replace("~0", "~"), {})
            schema = target
        return (schema if isinstance(schema, dict) else {}), name

    def branches(self, document: dict[str, Any], schema: Schema) -> list[Schema]:
        """The alternatives of a schema (anyOf/oneOf flattened, $refs followed)."""
        schema, _ = self.resolve(document, schema)
        alternatives = schema.get("anyOf") or schema.get("oneOf")
        if not alternatives:
            return [schema]
        found: list[Schema] = []
        for alternative in alternatives:
            found.extend(self.branches(document, alternative))
        return found

    def types(self, document: dict[str, Any], schema: Schema) -> set[str] | None:
        """The JSON types a schema admits, or None when it does not say (any type)."""
        found: set[str] = set()
        for branch in self.branches(document, schema):
            declared = branch.get("type")
            if declared is None and "const" in branch:
                declared = json_type(branch["const"])
            if declared is None and isinstance(branch.get("enum"), list):
                declared = [json_type(value) for value in branch["enum"]]
            if declared is None:
                return None
            found.update([declared] if isinstance(declared, str) else declared)
            if branch.get("nullable") is True:  # OpenAPI 3.0's spelling of `null`
                found.add("null")
        return found

    def enum(self, document: dict[str, Any], schema: Schema) -> set[str] | None:
        """The values a schema is limited to (enum or const on every non-null branch); `null`
        is left to `types`, which reports a schema that became nullable."""
        values: set[str] = set()
        for branch in self.branches(document, schema):
            if branch.get("type") == "null":
                continue
            if "enum" in branch:
                values.update(json.dumps(value) for value in branch["enum"] if value is not None)
            elif "const" in branch:
                values.add(json.dumps(branch["const"]))
            else:
                return None
        return values or None

    def single(self, document: dict[str, Any], schema: Schema, kind: str) -> Schema | None:
        """The one branch of type `kind` ("object" or "array"), if there is exactly one."""
        matches = [
            branch
            for branch in self.branches(document, schema)
            if branch.get("type") == kind
            or (kind == "object" and "properties" in branch and "type" not in branch)
        ]
        return matches[0] if len(matches) == 1 else None

    def compare_schema(self, where: str, old: Schema, new: Schema, direction: str) -> None:
        old_resolved, old_name = self.resolve(self.old, old)
        new_resolved, new_name = self.resolve(self.new, new)
        if old_name and new_name:
            key = (old_name, new_name, direction)
            if key in self.seen:
                return
            self.seen.add(key)
            where = f"{direction} schema {new_name}" if old_name == new_name else where

        old_types = self.types(self.old, old)
        new_types = self.types(self.new, new)
        if direction == REQUEST and old_types is not None:
            lost = sorted(t for t in old_types if not admits(new_types, t))
            if lost:
                self.report(where, f"no longer accepts {', '.join(lost)}")
        if direction == RESPONSE and new_types is not None:
            gained = sorted(t for t in new_types if not admits(old_types, t))
            if gained:
                self.report(where, f"may now be {', '.join(gained)}")

        old_enum = self.enum(self.old, old)
        new_enum = self.enum(self.new, new)
        if old_enum is not None and new_enum is not None:
            removed = sorted(old_enum - new_enum)
            if removed:
                self.report(where, f"enum value {', '.join(removed)} removed")
            added = sorted(new_enum - old_enum)
            if direction == RESPONSE and added:
                self.report(where, f"enum value {', '.join(added)} added")
        elif direction == REQUEST and old_enum is None and new_enum is not None:
            self.report(where, "now limited to an enum")

        if direction == REQUEST:
            for bound in BOUNDS_LOWER + BOUNDS_UPPER:
                before, after = old_resolved.get(bound), new_resolved.get(bound)
                if not isinstance(after, (int, float)) or isinstance(after, bool):
                    continue
                tighter = before is None or (
                    after > before if bound in BOUNDS_LOWER else after < before
                )
                if tighter:
                    self.report(where, f"{bound} narrowed from {before} to {after}")

        old_object = self.single(self.old, old, "object")
        new_object = self.single(self.new, new, "object")
        if old_object is not None and new_object is not None:
            self.compare_object(where, old_object, new_object, direction)

        old_array = self.single(self.old, old, "array")
        new_array = self.single(self.new, new, "array")
        if old_array is not None and new_array is not None:
            self.compare_schema(
                f"{where}[]", old_array.get("items", {}), new_array.get("items", {}), direction
            )

    def compare_object(self, where: str, old: Schema, new: Schema, direction: str) -> None:
        old_properties: dict[str, Schema] = old.get("properties", {})
        new_properties: dict[str, Schema] = new.get("properties", {})
        old_required = set(old.get("required", []))
        new_required = set(new.get("required", []))
        for name, old_property in old_properties.items():
            at = f"{where}.{name}"
            if name not in new_properties:
                if direction == RESPONSE:
                    self.report(at, "property removed")
                elif new.get("additionalProperties") is False:
                    self.report(at, "field removed (unknown fields are refused)")
                continue
            if direction == RESPONSE and name in old_required and name not in new_required:
                self.report(at, "no longer required (may be absent)")
            self.compare_schema(at, old_property, new_properties[name], direction)
        if direction == REQUEST:
            for name in sorted(new_required - old_required):
                self.report(f"{where}.{name}", "newly required")

    # Operations ----------------------------------------------------------------------

    def operations(
        self, document: dict[str, Any]
    ) -> dict[tuple[str, str], tuple[str, Schema, list[Schema]]]:
        """(METHOD, path with parameter names erased) -> (path, operation, parameters)."""
        found = {}
        for path, item in document.get("paths", {}).items():
            shared = item.get("parameters", [])
            for method in METHODS:
                if method in item:
                    key = (method.upper(), re.sub(r"\{[^}]*\}", "{}", path))
                    found[key] = (path, item[method], shared)
        return found

    def parameters(
        self, document: dict[str, Any], shared: list[Schema], operation: Schema
    ) -> dict[tuple[str, str], Schema]:
        found = {}
        for parameter in list(shared) + list(operation.get("parameters", [])):
            parameter, _ = self.resolve(document, parameter)
            found[(parameter.get("in", ""), parameter.get("name", ""))] = parameter
        return found

    def anonymous(self, document: dict[str, Any], operation: Schema) -> bool:
        requirements = operation.get("security", document.get("security", []))
        return requirements == [] or {} in requirements

    def compare(self) -> list[str]:
        old_operations = self.operations(self.old)
        new_operations = self.operations(self.new)
        for key, (old_path, old_operation, old_shared) in old_operations.items():
            label = f"{key[0]} {old_path}"
            if key not in new_operations:
                self.report(label, "operation removed")
                continue
            _, new_operation, new_shared = new_operations[key]
            if self.anonymous(self.old, old_operation) and not self.anonymous(
                self.new, new_operation
            ):
                self.report(label, "now needs authentication")
            self.compare_parameters(label, old_shared, old_operation, new_shared, new_operation)
            self.compare_request_body(label, old_operation, new_operation)
            self.compare_responses(label, old_operation, new_operation)
        return self.changes

    def compare_parameters(
        self,
        label: str,
        old_shared: list[Schema],
        old: Schema,
        new_shared: list[Schema],
        new: Schema,
    ) -> None:
        old_parameters = self.parameters(self.old, old_shared, old)
        new_parameters = self.parameters(self.new, new_shared, new)
        for (location, name), parameter in new_parameters.items():
            if location == "path":
                continue  # a path parameter is always required; a new one is a new path
            at = f"{label} {location} parameter {name}"
            before = old_parameters.get((location, name))
            if parameter.get("required") and not (before and before.get("required")):
                self.report(at, "newly required" if before else "new required parameter")
        for (location, name), before in old_parameters.items():
            after = new_parameters.get((location, name))
            if after is not None:
                at = f"{label} {location} parameter {name}"
                self.compare_schema(at, before.get("schema", {}), after.get("schema", {}), REQUEST)

    def compare_request_body(self, label: str, old: Schema, new: Schema) -> None:
        old_body, _ = self.resolve(self.old, old.get("requestBody", {}))
        new_body, _ = self.resolve(self.new, new.get("requestBody", {}))
        if new_body.get("required") and not old_body.get("required"):
            self.report(f"{label} request body", "newly required")
        new_content = new_body.get("content", {})
        for media_type, old_media in old_body.get("content", {}).items():
            at = f"{label} request body {media_type}"
            if media_type not in new_content:
                self.report(at, "media type no longer accepted")
                continue
            self.compare_schema(
                at, old_media.get("schema", {}), new_content[media_type].get("schema", {}), REQUEST
            )

    def compare_responses(self, label: str, old: Schema, new: Schema) -> None:
        new_responses = new.get("responses", {})
        for status, old_response in old.get("responses", {}).items():
            at = f"{label} response {status}"
            if status not in new_responses:
                if str(status).startswith("2"):
                    self.report(at, "response removed")
                continue
            old_response, _ = self.resolve(self.old, old_response)
            new_response, _ = self.resolve(self.new, new_responses[status])
            new_content = new_response.get("content", {})
            for media_type, old_media in old_response.get("content", {}).items():
                if media_type not in new_content:
                    self.report(f"{at} {media_type}", "media type removed")
                    continue
                self.compare_schema(
                    f"{at} {media_type}",
                    old_media.get("schema", {}),
                    new_content[media_type].get("schema", {}),
                    RESPONSE,
                )


def json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def admits(types: set[str] | None, wanted: str) -> bool:
    """Whether a schema admitting `types` (None: any) admits values of type `wanted`."""
    return types is None or wanted in types or (wanted == "integer" and "number" in types)


def breaking_changes(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    return Comparison(old, new).compare()


def check(old: dict[str, Any], new: dict[str, Any]) -> tuple[bool, list[str]]:
    """(passes, messages): breaking changes fail unless info.version's major was bumped."""
    changes = breaking_changes(old, new)
    old_version = str(old.get("info", {}).get("version", "0"))
    new_version = str(new.get("info", {}).get("version", "0"))
    if not changes:
        return True, []
    if major(new_version) > major(old_version):
        return True, [
            f"allowed by the major version bump {old_version} -> {new_version}: {change}"
            for change in changes
        ]
    return False, changes


def main(argv: list[str]) -> int:
    baseline, current = (Path(argv[0]), Path(argv[1])) if len(argv) == 2 else (BASELINE, CURRENT)
    old = json.loads(baseline.read_text(encoding="utf-8"))
    new = json.loads(current.read_text(encoding="utf-8"))
    passes, messages = check(old, new)
    for message in messages:
        print(message, file=sys.stderr if not passes else sys.stdout)
    if not passes:
        print(
            f"{len(messages)} breaking change(s) against the last release "
            f"({baseline.name}, version {old.get('info', {}).get('version')}): undo them, or bump "
            f"info.version's major number (then `make release-spec` on the release).",
            file=sys.stderr,
        )
        return 1
    version = old.get("info", {}).get("version")
    print(f"compatible with the last release ({baseline.name}, version {version})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
