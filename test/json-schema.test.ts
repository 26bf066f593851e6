import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { MAX_DEPTH, MAX_STEPS, schemaViolation } from "../src/feedback/json-schema.js";
import type { SchemaViolation } from "../src/feedback/json-schema.js";

/** Schema checks for the built-in evaluators: the subset of JSON Schema that structured outputs and tools use. */

type Case = readonly [title: string, schema: unknown, value: unknown, expected: SchemaViolation | undefined];

const at = (path: string, rule: string, message: string): SchemaViolation => ({ path, rule, message });
const root = (rule: string, message: string) => at("", rule, message);

function table(cases: readonly Case[]) {
  it.each(cases)("%s", (_title, schema, value, expected) => {
    expect(schemaViolation(value, schema)).toEqual(expected);
  });
}

describe("type", () => {
  table([
    ["a string is a string", { type: "string" }, "x", undefined],
    ["a number is not a string", { type: "string" }, 1, root("type", "expected string, got number")],
    ["a whole number is an integer", { type: "integer" }, 3, undefined],
    ["3.0 is an integer", { type: "integer" }, 3.0, undefined],
    ["a fraction is not an integer", { type: "integer" }, 3.5, root("type", "expected integer, got number")],
    ["a numeric string is not an integer", { type: "integer" }, "3", root("type", "expected integer, got string")],
    ["an integer is a number", { type: "number" }, 3, undefined],
    ["NaN is not a number", { type: "number" }, NaN, root("type", "expected number, got non-finite number")],
    [
      "Infinity is not an integer",
      { type: "integer" },
      Infinity,
      root("type", "expected integer, got non-finite number"),
    ],
    ["null is null", { type: "null" }, null, undefined],
    ["false is not null", { type: "null" }, false, root("type", "expected null, got boolean")],
    ["true is a boolean", { type: "boolean" }, true, undefined],
    ["an object is not an array", { type: "array" }, {}, root("type", "expected array, got object")],
    ["an array is not an object", { type: "object" }, [], root("type", "expected object, got array")],
    ["undefined is not an object", { type: "object" }, undefined, root("type", "expected object, got undefined")],
    ["a list accepts any of its types", { type: ["string", "null"] }, null, undefined],
    [
      "a list names all of its types",
      { type: ["string", "null"] },
      1,
      root("type", "expected string or null, got number"),
    ],
    ["an unknown type name is unconstrained", { type: "uuid" }, 1, undefined],
    [
      "unknown names in a list are left out",
      { type: ["uuid", "string"] },
      1,
      root("type", "expected string, got number"),
    ],
    ["a type that is not a name is unconstrained", { type: 7 }, 1, undefined],
  ]);
});

describe("nullable (OpenAPI 3.0)", () => {
  table([
    ["null conforms to a nullable string", { type: "string", nullable: true }, null, undefined],
    ["null conforms to a nullable enum without null", { type: "string", enum: ["a"], nullable: true }, null, undefined],
    [
      "a nullable string is still a string",
      { type: "string", nullable: true },
      1,
      root("type", "expected string, got number"),
    ],
    [
      "null is not a string without nullable",
      { type: "string", nullable: false },
      null,
      root("type", "expected string, got null"),
    ],
  ]);
});

describe("enum and const", () => {
  table([
    ["a member of the enum", { enum: ["red", "green"] }, "red", undefined],
    ["not a member of the enum", { enum: ["red", "green"] }, "blue", root("enum", 'expected one of "red", "green"')],
    ["enum compares numbers, not their spelling", { enum: [1, 2] }, 1.0, undefined],
    ["enum does not convert types", { enum: [1, null] }, "1", root("enum", "expected one of 1, null")],
    ["enum compares objects deeply, in any key order", { enum: [{ a: 1, b: [2] }] }, { b: [2], a: 1 }, undefined],
    [
      "an object enum is counted, not shown",
      { enum: [{ a: 1 }, 2, 3] },
      { a: 2 },
      root("enum", "expected one of the 3 enum values"),
    ],
    [
      "arrays in an enum keep their order",
      { enum: [[1, 2]] },
      [2, 1],
      root("enum", "expected one of the 1 enum value"),
    ],
    [
      "a long enum is counted",
      { enum: ["a", "b", "c", "d", "e", "f"] },
      "g",
      root("enum", "expected one of the 6 enum values"),
    ],
    [
      "an extra key is not equal",
      { enum: [{ a: 1 }] },
      { a: 1, b: 2 },
      root("enum", "expected one of the 1 enum value"),
    ],
    ["an empty enum is unconstrained", { enum: [] }, "x", undefined],
    ["the const value", { const: "draft" }, "draft", undefined],
    ["not the const string", { const: "draft" }, "final", root("const", 'expected "draft"')],
    ["not the const null", { const: null }, 0, root("const", "expected null")],
    ["the const object", { const: { a: [1, { b: true }] } }, { a: [1, { b: true }] }, undefined],
    ["not the const object", { const: { a: [1] } }, { a: [2] }, root("const", "expected the schema's const value")],
    [
      "a long const string is shortened in the message",
      { const: "x".repeat(100) },
      "y",
      root("const", `expected "${"x".repeat(64)}…"`),
    ],
  ]);
});

describe("numbers", () => {
  table([
    ["at the minimum", { minimum: 5 }, 5, undefined],
    ["below the minimum", { minimum: 5 }, 4, root("minimum", "expected at least 5")],
    ["above the maximum", { maximum: 10 }, 11, root("maximum", "expected at most 10")],
    ["at the exclusive minimum", { exclusiveMinimum: 0 }, 0, root("exclusiveMinimum", "expected more than 0")],
    ["above the exclusive minimum", { exclusiveMinimum: 0 }, 0.1, undefined],
    ["at the exclusive maximum", { exclusiveMaximum: 1 }, 1, root("exclusiveMaximum", "expected less than 1")],
    [
      "at a minimum made exclusive by a boolean",
      { minimum: 0, exclusiveMinimum: true },
      0,
      root("exclusiveMinimum", "expected more than 0"),
    ],
    [
      "at a maximum made exclusive by a boolean",
      { maximum: 5, exclusiveMaximum: true },
      5,
      root("exclusiveMaximum", "expected less than 5"),
    ],
    ["a boolean false leaves the minimum inclusive", { minimum: 0, exclusiveMinimum: false }, 0, undefined],
    ["0.3 is a multiple of 0.1, despite rounding", { multipleOf: 0.1 }, 0.3, undefined],
    ["4.35 is a multiple of 0.01, despite rounding", { multipleOf: 0.01 }, 4.35, undefined],
    ["7 is not a multiple of 2", { multipleOf: 2 }, 7, root("multipleOf", "expected a multiple of 2")],
    [
      "an odd large number is not a multiple of 2",
      { multipleOf: 2 },
      1e10 + 1,
      root("multipleOf", "expected a multiple of 2"),
    ],
    ["a zero multipleOf is unconstrained", { multipleOf: 0 }, 7, undefined],
    ["a bound that is not a number is unconstrained", { minimum: "5" }, 1, undefined],
    ["number bounds do not apply to strings", { minimum: 5 }, "1", undefined],
  ]);
});

describe("strings", () => {
  table([
    ["at the minimum length", { minLength: 2 }, "ab", undefined],
    ["below the minimum length", { minLength: 2 }, "a", root("minLength", "expected at least 2 characters, got 1")],
    ["empty", { minLength: 1 }, "", root("minLength", "expected at least 1 character, got 0")],
    ["lengths count code points, not UTF-16 units", { maxLength: 2 }, "😀😀", undefined],
    ["above the maximum length", { maxLength: 2 }, "😀😀😀", root("maxLength", "expected at most 2 characters, got 3")],
    ["a match for the pattern", { pattern: "^[a-z]+$" }, "abc", undefined],
    [
      "not a match for the pattern",
      { pattern: "^[a-z]+$" },
      "abc1",
      root("pattern", 'expected a match for "^[a-z]+$"'),
    ],
    ["an unanchored pattern matches anywhere", { pattern: "\\d" }, "a1b", undefined],
    ["patterns use the u flag", { pattern: "^\\p{Lu}" }, "Ábc", undefined],
    ["a pattern that does not compile is unconstrained", { pattern: "(" }, "x", undefined],
    ["a pattern that does not compile with the u flag is unconstrained", { pattern: "\\-" }, "x", undefined],
    ["string bounds do not apply to numbers", { minLength: 5 }, 1, undefined],
  ]);
});

describe("arrays", () => {
  table([
    ["enough items", { minItems: 1 }, [1], undefined],
    ["too few items", { minItems: 1 }, [], root("minItems", "expected at least 1 item, got 0")],
    ["too many items", { maxItems: 2 }, [1, 2, 3], root("maxItems", "expected at most 2 items, got 3")],
    ["every item fits", { items: { type: "number" } }, [1, 2], undefined],
    [
      "the first item that does not fit",
      { items: { type: "number" } },
      [1, "x", true],
      at("/1", "type", "expected number, got string"),
    ],
    ["a tuple", { prefixItems: [{ type: "string" }, { type: "number" }], items: false }, ["a", 1], undefined],
    [
      "a tuple item that does not fit",
      { prefixItems: [{ type: "string" }, { type: "number" }], items: false },
      ["a", "b"],
      at("/1", "type", "expected number, got string"),
    ],
    [
      "a closed tuple with an extra item",
      { prefixItems: [{ type: "string" }, { type: "number" }], items: false },
      ["a", 1, true],
      root("items", "expected at most 2 items, got 3"),
    ],
    [
      "items after the tuple",
      { prefixItems: [{ type: "string" }], items: { type: "number" } },
      ["a", 1, "b"],
      at("/2", "type", "expected number, got string"),
    ],
    ["a short array against a tuple", { prefixItems: [{ type: "string" }, { type: "number" }] }, ["a"], undefined],
    [
      "the older tuple form of items",
      { items: [{ type: "string" }] },
      [1, 2],
      at("/0", "type", "expected string, got number"),
    ],
    ["array keywords do not apply to objects", { minItems: 1, items: false }, {}, undefined],
  ]);
});

describe("objects", () => {
  table([
    ["every required property", { required: ["age"] }, { age: 1 }, undefined],
    [
      "a missing required property",
      { required: ["name", "age"] },
      { name: "x" },
      root("required", 'missing required property "age"'),
    ],
    ["a required property set to null is present", { required: ["age"] }, { age: null }, undefined],
    [
      "inherited names are not properties",
      { required: ["toString"] },
      {},
      root("required", 'missing required property "toString"'),
    ],
    [
      "a property that does not fit",
      { properties: { age: { type: "integer" } } },
      { age: "x" },
      at("/age", "type", "expected integer, got string"),
    ],
    ["an absent property is not checked", { properties: { age: { type: "integer" } } }, {}, undefined],
    ["undeclared properties are allowed by default", { properties: { a: {} } }, { b: 1 }, undefined],
    [
      "an undeclared property with additionalProperties false",
      { properties: { name: {} }, additionalProperties: false },
      { name: "x", extra: 1 },
      at("/extra", "additionalProperties", "unexpected property (additionalProperties is false)"),
    ],
    [
      "an undeclared property against the additionalProperties schema",
      { properties: { name: {} }, additionalProperties: { type: "number" } },
      { name: "x", score: "high" },
      at("/score", "type", "expected number, got string"),
    ],
    [
      "additionalProperties beside patternProperties is unconstrained",
      { patternProperties: { "^x": {} }, additionalProperties: false },
      { y: 1 },
      undefined,
    ],
    [
      "declared names are own properties of properties, not inherited ones",
      { properties: {}, additionalProperties: false },
      { constructor: 1 },
      at("/constructor", "additionalProperties", "unexpected property (additionalProperties is false)"),
    ],
    [
      "a property named __proto__",
      { properties: { ["__proto__"]: { type: "string" } } },
      JSON.parse('{"__proto__": 1}'),
      at("/__proto__", "type", "expected string, got number"),
    ],
    ["object keywords do not apply to arrays", { required: ["a"], additionalProperties: false }, [1], undefined],
  ]);
});

describe("allOf, anyOf and oneOf", () => {
  table([
    ["every allOf branch", { allOf: [{ minimum: 1 }, { maximum: 3 }] }, 2, undefined],
    [
      "the allOf branch that fails reports itself",
      { allOf: [{ minimum: 1 }, { maximum: 3 }] },
      5,
      root("maximum", "expected at most 3"),
    ],
    ["one anyOf branch is enough", { anyOf: [{ type: "string" }, { type: "number" }] }, 1, undefined],
    [
      "no anyOf branch",
      { anyOf: [{ type: "string" }, { type: "number" }] },
      true,
      root("anyOf", "expected a match for one of the 2 anyOf branches, matched none"),
    ],
    [
      "the one anyOf branch of the value's type reports its own violation",
      { anyOf: [{ type: "object", required: ["a"] }, { type: "null" }] },
      {},
      root("required", 'missing required property "a"'),
    ],
    [
      "two anyOf branches of the value's type report anyOf",
      {
        anyOf: [
          { type: "string", minLength: 3 },
          { type: "string", pattern: "^x" },
        ],
      },
      "ab",
      root("anyOf", "expected a match for one of the 2 anyOf branches, matched none"),
    ],
    ["exactly one oneOf branch", { oneOf: [{ type: "integer" }, { type: "string" }] }, 1, undefined],
    [
      "two oneOf branches",
      { oneOf: [{ type: "integer" }, { type: "number" }] },
      1,
      root("oneOf", "expected exactly one of the 2 oneOf branches, matched more"),
    ],
    ["one of two oneOf branches", { oneOf: [{ type: "integer" }, { type: "number" }] }, 1.5, undefined],
    [
      "no oneOf branch",
      { oneOf: [{ type: "integer" }, { type: "number" }] },
      "x",
      root("oneOf", "expected a match for one of the 2 oneOf branches, matched none"),
    ],
    ["an empty anyOf is unconstrained", { anyOf: [] }, 1, undefined],
  ]);
});

describe("boolean schemas and unknown keywords", () => {
  table([
    ["true accepts anything", true, { a: 1 }, undefined],
    ["false accepts nothing", false, 1, root("false", "expected no value here (the schema is false)")],
    [
      "a false property schema",
      { properties: { x: false } },
      { x: 1 },
      at("/x", "false", "expected no value here (the schema is false)"),
    ],
    ["a false property schema allows the property to be absent", { properties: { x: false } }, {}, undefined],
    ["unknown keywords are unconstrained", { format: "email", not: {}, uniqueItems: true, if: false }, "x", undefined],
    ["a schema that is not an object is unconstrained", "string", 1, undefined],
    ["an empty schema accepts anything", {}, [1, "x"], undefined],
  ]);
});

describe("paths", () => {
  it("points into nested objects and arrays with a JSON pointer", () => {
    const schema = {
      type: "object",
      properties: {
        items: {
          type: "array",
          items: { type: "object", properties: { name: { type: "string" }, tags: { items: { type: "string" } } } },
        },
      },
    };
    const value = { items: [{ name: "a" }, { name: "b" }, { name: 3 }] };
    expect(schemaViolation(value, schema)).toEqual(at("/items/2/name", "type", "expected string, got number"));
    const deeper = { items: [{ name: "a", tags: ["x", "y", null] }] };
    expect(schemaViolation(deeper, schema)).toEqual(at("/items/0/tags/2", "type", "expected string, got null"));
  });

  it('escapes "~" as "~0" and "/" as "~1" in property names (RFC 6901)', () => {
    const schema = { properties: { "a/b~c": { properties: { "~1": { type: "number" } } } } };
    expect(schemaViolation({ "a/b~c": { "~1": "x" } }, schema)).toEqual(
      at("/a~1b~0c/~01", "type", "expected number, got string"),
    );
    expect(schemaViolation({ "": 1 }, { properties: { "": { type: "string" } } })).toEqual(
      at("/", "type", "expected string, got number"),
    );
  });
});

describe("$ref", () => {
  const tree = {
    $defs: {
      node: {
        type: "object",
        properties: {
          label: { type: "string" },
          children: { type: "array", items: { $ref: "#/$defs/node" } },
        },
        required: ["label", "children"],
        additionalProperties: false,
      },
    },
    $ref: "#/$defs/node",
  };

  it("checks a recursive schema (a tree) all the way down", () => {
    const leaf = (label: string) => ({ label, children: [] });
    const value = { label: "root", children: [leaf("a"), { label: "b", children: [leaf("c"), leaf("d")] }] };
    expect(schemaViolation(value, tree)).toBeUndefined();
    const broken = {
      label: "root",
      children: [leaf("a"), { label: "b", children: [leaf("c"), { label: 4, children: [] }] }],
    };
    expect(schemaViolation(broken, tree)).toEqual(
      at("/children/1/children/1/label", "type", "expected string, got number"),
    );
    const missing = { label: "root", children: [{ label: "a" }] };
    expect(schemaViolation(missing, tree)).toEqual(
      at("/children/0", "required", 'missing required property "children"'),
    );
  });

  it('follows "#/definitions/...", "#" and escaped or percent-encoded pointers', () => {
    expect(schemaViolation("x", { definitions: { n: { type: "number" } }, $ref: "#/definitions/n" })).toEqual(
      root("type", "expected number, got string"),
    );
    const list = { type: "array", items: { $ref: "#" }, maxItems: 1 };
    expect(schemaViolation([[[1, 2]]], list)).toEqual(at("/0/0", "maxItems", "expected at most 1 item, got 2"));
    expect(schemaViolation("x", { $defs: { "a/b": { type: "number" } }, $ref: "#/$defs/a~1b" })).toEqual(
      root("type", "expected number, got string"),
    );
    expect(schemaViolation("x", { $defs: { "a b": { type: "number" } }, $ref: "#/$defs/a%20b" })).toEqual(
      root("type", "expected number, got string"),
    );
    expect(schemaViolation("x", { $defs: { list: [{ type: "number" }] }, $ref: "#/$defs/list/0" })).toEqual(
      root("type", "expected number, got string"),
    );
  });

  it("checks the siblings of a $ref as well as its target", () => {
    const schema = { $defs: { s: { type: "string" } }, properties: { a: { $ref: "#/$defs/s", minLength: 2 } } };
    expect(schemaViolation({ a: "x" }, schema)).toEqual(at("/a", "minLength", "expected at least 2 characters, got 1"));
    expect(schemaViolation({ a: 1 }, schema)).toEqual(at("/a", "type", "expected string, got number"));
  });

  it("treats a $ref it cannot follow as unconstrained", () => {
    for (const ref of [
      "https://example.com/schema.json",
      "other.json#/$defs/n",
      "#anchor",
      "#/$defs/missing",
      "#/$defs/n/type/0",
      "#/%E0%A4%A",
      "#/__proto__",
      "#/$defs/constructor",
    ]) {
      expect(schemaViolation(1, { $defs: { n: { type: "string" } }, $ref: ref }), ref).toBeUndefined();
    }
  });

  it("ends a $ref cycle, with or without a branch in it, as too deep", () => {
    const direct = { $defs: { a: { $ref: "#/$defs/b" }, b: { $ref: "#/$defs/a" } }, $ref: "#/$defs/a" };
    expect(schemaViolation(1, direct)?.rule).toBe("depth");
    const throughAllOf = { $defs: { a: { allOf: [{ $ref: "#/$defs/a" }] } }, $ref: "#/$defs/a" };
    expect(schemaViolation(1, throughAllOf)).toEqual(
      root("depth", `nested deeper than ${MAX_DEPTH} levels of properties, items, branches and $refs`),
    );
    expect(schemaViolation(1, { $ref: "#" })?.rule).toBe("depth");
  });

  it("reports the violation of the branch an optional $ref was meant for (a Pydantic Optional[Model])", () => {
    const schema = {
      $defs: { Person: { type: "object", properties: { age: { type: "integer" } }, required: ["age"] } },
      type: "object",
      properties: { owner: { anyOf: [{ $ref: "#/$defs/Person" }, { type: "null" }] } },
    };
    expect(schemaViolation({ owner: null }, schema)).toBeUndefined();
    expect(schemaViolation({ owner: { age: 3 } }, schema)).toBeUndefined();
    expect(schemaViolation({ owner: { age: "3" } }, schema)).toEqual(
      at("/owner/age", "type", "expected integer, got string"),
    );
    expect(schemaViolation({ owner: "x" }, schema)).toEqual(
      at("/owner", "anyOf", "expected a match for one of the 2 anyOf branches, matched none"),
    );
  });
});

describe("bounds", () => {
  const deep = (levels: number, wrap: (inner: unknown) => unknown) => {
    let value: unknown = {};
    for (let level = 0; level < levels; level++) value = wrap(value);
    return value;
  };

  it("stops a value nested 10,000 deep at the depth bound", () => {
    const schema = {
      $defs: { node: { type: "object", properties: { child: { $ref: "#/$defs/node" } } } },
      $ref: "#/$defs/node",
    };
    const result = schemaViolation(
      deep(10_000, (child) => ({ child })),
      schema,
    );
    // Two levels a step: the property, then the $ref to the node.
    expect(result).toEqual({
      path: "/child".repeat(32),
      rule: "depth",
      message: `nested deeper than ${MAX_DEPTH} levels of properties, items, branches and $refs`,
    });
    const arrays = schemaViolation(
      deep(10_000, (item) => [item]),
      { type: "array", items: { $ref: "#" } },
    );
    expect(arrays?.rule).toBe("depth");
    expect(arrays?.path).toBe("/0".repeat(33));
  });

  it("stops at the depth bound on a cyclic value", () => {
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(schemaViolation(cyclic, { properties: { self: { $ref: "#" } } })?.rule).toBe("depth");
    expect(schemaViolation(cyclic, { enum: [cyclic] })).toBeUndefined();
    const other: Record<string, unknown> = {};
    other.self = other;
    expect(schemaViolation(cyclic, { enum: [other] })?.rule).toBe("depth");
    // Without a schema that descends into it, a cycle is not visited at all.
    expect(schemaViolation(cyclic, { type: "object" })).toBeUndefined();
  });

  it("stops an anyOf of 50 branches over a 10,000-item array at the budget", () => {
    const value = Array.from({ length: 10_000 }, () => 1);
    const branches = Array.from({ length: 50 }, (_, index) => ({ type: index === 49 ? "number" : "string" }));
    // Each item costs 101 steps: its check, the 50 branches listed and the 50 branches checked.
    expect(schemaViolation(value, { items: { anyOf: branches } })).toEqual(
      at("/990", "budget", `gave up after ${MAX_STEPS} steps`),
    );
    expect(schemaViolation(value.slice(0, 900), { items: { anyOf: branches } })).toBeUndefined();
  });

  it("charges enum comparisons, key listing and long schema lists to the budget", () => {
    const members = Array.from({ length: 1_000 }, (_, index) => index);
    const items = Array.from({ length: 1_000 }, () => -1);
    expect(schemaViolation(items, { items: { anyOf: [{ enum: members }, true] } })?.rule).toBe("budget");
    const wide = Object.fromEntries(Array.from({ length: 200_000 }, (_, index) => [`k${index}`, index]));
    expect(schemaViolation(wide, { additionalProperties: { type: "number" } })?.rule).toBe("budget");
    expect(schemaViolation(1, { type: Array.from({ length: 200_000 }, () => "number") })?.rule).toBe("budget");
    const lying = new Proxy([], {
      get: (target, key): unknown => (key === "length" ? 1e12 : Reflect.get(target, key)),
    });
    expect(schemaViolation(1, { anyOf: lying })?.rule).toBe("budget");
    expect(schemaViolation(lying, { items: { type: "number" } })).toEqual(
      at("/0", "type", "expected number, got undefined"),
    );
  });

  it("does not apply a pattern that can backtrack exponentially", () => {
    const started = performance.now();
    for (const pattern of ["^(a+)+$", "^(a|a)*$", "^(?:a*)*b$", "^(\\w+\\s?)*$", "^(a)\\1*$", "^(?<x>a)\\k<x>$"]) {
      expect(schemaViolation(`${"a".repeat(40)}!`, { pattern }), pattern).toBeUndefined();
    }
    // A high power of the length is skipped for a long string, applied to a short one.
    expect(schemaViolation("a".repeat(1_000), { pattern: "a*a*a*b" })).toBeUndefined();
    expect(schemaViolation("a".repeat(20), { pattern: "a*a*a*b" })).toEqual(
      root("pattern", 'expected a match for "a*a*a*b"'),
    );
    // Every run above backtracks for minutes if the pattern is applied.
    expect(performance.now() - started).toBeLessThan(5_000);
  });

  it("applies a pattern to strings of up to 1,000 code points", () => {
    expect(schemaViolation("😀".repeat(1_000), { pattern: "^x" })).toEqual(
      root("pattern", 'expected a match for "^x"'),
    );
    expect(schemaViolation("😀".repeat(1_001), { pattern: "^x" })).toBeUndefined();
    expect(schemaViolation("a".repeat(999) + "!", { pattern: "^[a-z]+$" })).toEqual(
      root("pattern", 'expected a match for "^[a-z]+$"'),
    );
  });

  it("applies common bounded patterns (dates, IPv4, slugs of one repetition, alternations)", () => {
    const cases: [pattern: string, good: string, bad: string][] = [
      ["^\\d{4}-\\d{2}-\\d{2}$", "2025-01-31", "2025-1-31"],
      ["^(\\d{1,3}\\.){3}\\d{1,3}$", "10.0.0.1", "10.0.0"],
      ["^[a-z0-9-]+$", "my-slug-2", "My slug"],
      ["^(?:jpg|png|gif)$", "png", "bmp"],
      ["^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$", "someone@example.com", "someone@example"],
      ["^#[0-9a-fA-F]{6}$", "#00ff7F", "#00ff7"],
    ];
    for (const [pattern, good, bad] of cases) {
      expect(schemaViolation(good, { pattern }), pattern).toBeUndefined();
      expect(schemaViolation(bad, { pattern })?.rule, pattern).toBe("pattern");
    }
  });
});

describe("unreadable values and schemas", () => {
  it("reports a getter that throws at its path", () => {
    const value = {
      get a(): unknown {
        throw new Error("boom");
      },
    };
    expect(schemaViolation({ list: [value] }, { properties: { list: { items: { properties: { a: {} } } } } })).toEqual(
      at("/list/0/a", "unreadable", "could not be read"),
    );
    // A getter the schema never reads is never called.
    expect(schemaViolation(value, { type: "object", required: ["a"] })).toBeUndefined();
  });

  it("reports a revoked Proxy, a throwing trap and a throwing schema", () => {
    const revoked = Proxy.revocable({}, {});
    revoked.revoke();
    expect(schemaViolation(revoked.proxy, { type: "object" })).toEqual(root("unreadable", "could not be read"));
    const keys = new Proxy(
      {},
      {
        ownKeys: () => {
          throw new Error("no");
        },
      },
    );
    expect(schemaViolation({ k: keys }, { additionalProperties: { additionalProperties: false } })).toEqual(
      at("/k", "unreadable", "could not be read"),
    );
    const schema = {
      get type(): unknown {
        throw new Error("no");
      },
    };
    expect(schemaViolation(1, schema)).toEqual(root("unreadable", "could not be read"));
  });
});

describe("a realistic OpenAI strict schema", () => {
  const schema = {
    type: "object",
    properties: {
      title: { type: "string" },
      priority: { type: "string", enum: ["low", "medium", "high"] },
      due: { type: ["string", "null"], pattern: "^\\d{4}-\\d{2}-\\d{2}$" },
      estimate_hours: { type: "number", minimum: 0 },
      assignees: {
        type: "array",
        items: {
          type: "object",
          properties: {
            name: { type: "string" },
            role: { type: "string", enum: ["owner", "reviewer"] },
            email: { anyOf: [{ type: "string" }, { type: "null" }] },
          },
          required: ["name", "role", "email"],
          additionalProperties: false,
        },
      },
    },
    required: ["title", "priority", "due", "estimate_hours", "assignees"],
    additionalProperties: false,
  };
  const conforming = {
    title: "Ship the release",
    priority: "high",
    due: "2025-07-01",
    estimate_hours: 6.5,
    assignees: [
      { name: "Ada", role: "owner", email: "ada@example.com" },
      { name: "Lin", role: "reviewer", email: null },
    ],
  };
  const withAssignee = (index: number, change: Record<string, unknown>) => ({
    ...conforming,
    assignees: conforming.assignees.map((assignee, at) => (at === index ? { ...assignee, ...change } : assignee)),
  });

  table([
    ["a conforming output", schema, conforming, undefined],
    ["a null where null is allowed", schema, { ...conforming, due: null }, undefined],
    [
      "a field present but undefined (not JSON)",
      schema,
      { ...conforming, estimate_hours: undefined, title: "x" },
      at("/estimate_hours", "type", "expected number, got undefined"),
    ],
    [
      "a field left out",
      schema,
      Object.fromEntries(Object.entries(conforming).filter(([key]) => key !== "due")),
      root("required", 'missing required property "due"'),
    ],
    [
      "a value outside the enum",
      schema,
      { ...conforming, priority: "urgent" },
      at("/priority", "enum", 'expected one of "low", "medium", "high"'),
    ],
    [
      "a badly formatted date",
      schema,
      { ...conforming, due: "July 1st" },
      at("/due", "pattern", 'expected a match for "^\\\\d{4}-\\\\d{2}-\\\\d{2}$"'),
    ],
    [
      "a negative estimate",
      schema,
      { ...conforming, estimate_hours: -1 },
      at("/estimate_hours", "minimum", "expected at least 0"),
    ],
    [
      "an extra top-level field",
      schema,
      { ...conforming, notes: "" },
      at("/notes", "additionalProperties", "unexpected property (additionalProperties is false)"),
    ],
    [
      "an extra field in a nested item",
      schema,
      withAssignee(1, { phone: "555" }),
      at("/assignees/1/phone", "additionalProperties", "unexpected property (additionalProperties is false)"),
    ],
    [
      "a wrong enum in a nested item",
      schema,
      withAssignee(0, { role: "boss" }),
      at("/assignees/0/role", "enum", 'expected one of "owner", "reviewer"'),
    ],
    [
      "a wrong type in an anyOf of a nested item",
      schema,
      withAssignee(1, { email: 42 }),
      at("/assignees/1/email", "anyOf", "expected a match for one of the 2 anyOf branches, matched none"),
    ],
    ["a string instead of the object", schema, JSON.stringify(conforming), root("type", "expected object, got string")],
  ]);
});

describe("messages", () => {
  const SENTINEL = "SENTINEL-7f3a";

  it("never quote a string from the value", () => {
    const text = `${SENTINEL} ${SENTINEL}`;
    const cases: [schema: unknown, value: unknown][] = [
      [{ type: "number" }, text],
      [{ enum: ["a", "b"] }, text],
      [{ const: "a" }, text],
      [{ minLength: 100 }, text],
      [{ maxLength: 3 }, text],
      [{ pattern: "^x" }, text],
      [{ additionalProperties: false }, { [text]: text }],
      [{ properties: {}, additionalProperties: { type: "number" } }, { [text]: text }],
      [{ required: ["a"] }, { [text]: text }],
      [{ anyOf: [{ type: "number" }, { const: 1 }] }, text],
      [{ oneOf: [{ type: "string" }, { minLength: 1 }] }, text],
      [{ items: { type: "number" } }, [text]],
      [{ prefixItems: [], items: false }, [text]],
      [{ additionalProperties: { $ref: "#" } }, deepWith(text)],
      [
        { items: { anyOf: Array.from({ length: 50 }, () => ({ const: 1 })) } },
        Array.from({ length: 5_000 }, () => text),
      ],
      [
        { properties: { [text]: {} }, additionalProperties: {} },
        {
          get [text](): unknown {
            throw new Error(text);
          },
        },
      ],
    ];
    for (const [schema, value] of cases) {
      const result = schemaViolation(value, schema);
      expect(result, JSON.stringify(schema)).toBeDefined();
      expect(result!.message).not.toContain(SENTINEL);
    }
  });

  it("never quote a string from the value, whatever the schema (property)", () => {
    const tagged = fc.string({ maxLength: 8 }).map((text) => `${SENTINEL}${text}`);
    const value = fc.letrec((tie) => ({
      value: fc.oneof(
        { maxDepth: 4 },
        tagged,
        fc.double(),
        fc.integer(),
        fc.boolean(),
        fc.constant(null),
        fc.array(tie("value"), { maxLength: 4 }),
        fc.dictionary(tagged, tie("value"), { maxKeys: 4 }),
      ),
    })).value;
    fc.assert(
      fc.property(value, rootSchemaArbitrary, (value, schema) => {
        const result = schemaViolation(value, schema);
        if (result !== undefined) expect(result.message).not.toContain(SENTINEL);
      }),
      { seed: 21, numRuns: 400 },
    );
  });
});

describe("robustness", () => {
  it("never throws, and returns undefined or a well-formed violation (property)", () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.jsonValue(), anythingArbitrary, hostileArbitrary),
        rootSchemaArbitrary,
        (value, schema) => {
          const result = schemaViolation(materialize(value), materialize(schema));
          expectWellFormed(result);
          // Only what no JSON parser makes can be unreadable.
          if (!(value instanceof Hostile)) expect(result?.rule).not.toBe("unreadable");
        },
      ),
      { seed: 22, numRuns: 600 },
    );
  });

  it("never throws for schemas of any shape, hostile ones included (property)", () => {
    fc.assert(
      fc.property(fc.jsonValue(), fc.oneof(fc.jsonValue(), anythingArbitrary, hostileArbitrary), (value, schema) => {
        expectWellFormed(schemaViolation(materialize(value), materialize(schema)));
      }),
      { seed: 23, numRuns: 400 },
    );
  });
});

const RULES = new Set([
  "type",
  "enum",
  "const",
  "minimum",
  "maximum",
  "exclusiveMinimum",
  "exclusiveMaximum",
  "multipleOf",
  "minLength",
  "maxLength",
  "pattern",
  "minItems",
  "maxItems",
  "items",
  "required",
  "additionalProperties",
  "anyOf",
  "oneOf",
  "false",
  "depth",
  "budget",
  "unreadable",
]);

function expectWellFormed(result: SchemaViolation | undefined) {
  if (result === undefined) return;
  expect(typeof result.path).toBe("string");
  expect(result.path === "" || result.path.startsWith("/")).toBe(true);
  expect(RULES.has(result.rule), result.rule).toBe(true);
  expect(typeof result.message).toBe("string");
}

function deepWith(text: string): unknown {
  let value: unknown = text;
  for (let level = 0; level < 200; level++) value = { [text]: value };
  return value;
}

const typeName = fc.constantFrom("null", "boolean", "object", "array", "number", "integer", "string", "uuid");
const propertyName = fc.constantFrom("a", "b", "c", "name", "constructor", "__proto__", "a/b", "~");
const bound = fc.oneof(fc.integer({ min: -5, max: 5 }), fc.double(), fc.constant("1"), fc.boolean());
const pattern = fc.oneof(
  fc.constantFrom(
    "^[a-z]+$",
    "\\d",
    "(",
    "[",
    "\\-",
    "^(a+)+$",
    "(a|b)*",
    "a*a*a*b",
    "\\p{L}",
    "(?<n>a)\\k<n>",
    "^(\\d{1,3}\\.){3}$",
    "(?<=a)b",
    "a{2,}",
    "x{99999}",
  ),
  fc.string({ maxLength: 12 }),
);
const ref = fc.constantFrom(
  "#",
  "#/$defs/a",
  "#/$defs/b",
  "#/definitions/c",
  "#/$defs/missing",
  "#/properties/a",
  "#/$defs/a/anyOf/0",
  "https://example.com/s.json",
  "#anchor",
  "#/%",
  "#/__proto__",
);

/** Random schemas of the supported keywords, with values of the right type and of the wrong one. */
const schemaArbitrary: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  schema: fc.oneof(
    { maxDepth: 4, depthIdentifier: "schema" },
    fc.boolean(),
    fc.record(
      {
        type: fc.oneof(typeName, fc.array(typeName, { maxLength: 3 })),
        nullable: fc.boolean(),
        enum: fc.array(fc.jsonValue({ maxDepth: 2 }), { maxLength: 4 }),
        const: fc.jsonValue({ maxDepth: 2 }),
        minimum: bound,
        maximum: bound,
        exclusiveMinimum: bound,
        exclusiveMaximum: bound,
        multipleOf: bound,
        minLength: bound,
        maxLength: bound,
        pattern,
        minItems: bound,
        maxItems: bound,
        $ref: ref,
      },
      { requiredKeys: [] },
    ),
    fc.record(
      {
        type: typeName,
        properties: fc.dictionary(propertyName, tie("schema"), { maxKeys: 3 }),
        required: fc.array(fc.oneof(propertyName, fc.integer()), { maxLength: 3 }),
        additionalProperties: fc.oneof(fc.boolean(), tie("schema")),
        patternProperties: fc.constant({}),
      },
      { requiredKeys: [] },
    ),
    fc.record(
      {
        items: fc.oneof(fc.boolean(), tie("schema"), fc.array(tie("schema"), { maxLength: 2 })),
        prefixItems: fc.oneof(fc.array(tie("schema"), { maxLength: 2 }), fc.constant("x")),
      },
      { requiredKeys: [] },
    ),
    fc.record(
      {
        allOf: fc.array(tie("schema"), { maxLength: 3 }),
        anyOf: fc.oneof(fc.array(tie("schema"), { maxLength: 3 }), fc.constant({})),
        oneOf: fc.array(tie("schema"), { maxLength: 3 }),
        $ref: ref,
      },
      { requiredKeys: [] },
    ),
  ),
})).schema;

/** A random schema as a root: with `$defs` and `definitions` for its refs to name, which may name each other. */
const rootSchemaArbitrary: fc.Arbitrary<unknown> = fc
  .tuple(schemaArbitrary, schemaArbitrary, schemaArbitrary)
  .map(([schema, a, c]) =>
    typeof schema === "object" && schema !== null
      ? {
          ...schema,
          $defs: { a, b: { anyOf: [{ $ref: "#/definitions/c" }, { $ref: "#/$defs/a" }] } },
          definitions: { c },
        }
      : schema,
  );

const anythingArbitrary = fc.anything({
  maxDepth: 3,
  withBigInt: true,
  withBoxedValues: true,
  withDate: true,
  withMap: true,
  withSet: true,
  withNullPrototype: true,
  withObjectString: true,
  withSparseArray: true,
  withTypedArray: true,
});

/**
 * Values no JSON parser makes: throwing getters, revoked and throwing Proxies, cycles. Generated as their kinds and
 * built by `materialize()` inside the property, as fast-check itself reads the values it generates.
 */
class Hostile {
  constructor(readonly kinds: readonly string[]) {}
}

const hostileArbitrary = fc
  .array(fc.constantFrom("getter", "revoked", "traps", "cycle", "lying-array", "plain"), { minLength: 1, maxLength: 4 })
  .map((kinds) => new Hostile(kinds));

function materialize(input: unknown): unknown {
  if (!(input instanceof Hostile)) return input;
  const nodes = input.kinds.map(hostile);
  return nodes.length === 1 ? nodes[0] : { a: nodes[0], b: nodes.slice(1), name: nodes[1] };
}

function hostile(kind: string): unknown {
  const fail = () => {
    throw new Error("hostile");
  };
  switch (kind) {
    case "getter":
      return Object.defineProperty({ b: 1 }, "a", { get: fail, enumerable: true });
    case "revoked": {
      const { proxy, revoke } = Proxy.revocable([], {});
      revoke();
      return proxy;
    }
    case "traps":
      return new Proxy({ a: 1 }, { get: fail, ownKeys: fail, getOwnPropertyDescriptor: fail, has: fail });
    case "cycle": {
      const cycle: Record<string, unknown> = { type: "object" };
      cycle.a = cycle;
      cycle.items = cycle;
      cycle.anyOf = [cycle, cycle];
      cycle.properties = cycle;
      cycle.enum = [cycle];
      return cycle;
    }
    case "lying-array":
      return new Proxy([1], { get: (target, key): unknown => (key === "length" ? -1 : Reflect.get(target, key)) });
    default:
      return { a: [1, "x"], name: null };
  }
}
