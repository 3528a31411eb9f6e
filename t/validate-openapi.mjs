#!/usr/bin/env node
// Checks that an OpenAPI document is valid OpenAPI 3.1, that every local
// "$ref" in it resolves, and that its schemas are valid JSON Schema 2020-12
// that compiles (patterns included) with ajv, which the validator package
// brings along.
//
//   node t/validate-openapi.mjs openapi/openapi.json
//
// Needs @seriousme/openapi-schema-validator from npm, installed with
//   npm install --prefix "$OPENAPI_VALIDATOR_DIR" @seriousme/openapi-schema-validator
// (OPENAPI_VALIDATOR_DIR defaults to /tmp/oaval). Exits 0 when valid, 1 when
// not or when the check cannot run.
import { readFile } from "node:fs/promises";
import { resolve } from "node:path";
import { argv, env, exit } from "node:process";
import { pathToFileURL } from "node:url";

const file = argv[2];
if (!file) {
    console.error("usage: node validate-openapi.mjs DOCUMENT.json");
    exit(1);
}
const dir = resolve(env.OPENAPI_VALIDATOR_DIR || "/tmp/oaval");
const entry = resolve(dir, "node_modules/@seriousme/openapi-schema-validator/index.js");

let Validator, Ajv2020;
try {
    ({ Validator } = await import(pathToFileURL(entry).href));
    const ajvEntry = resolve(dir, "node_modules/ajv/dist/2020.js");
    const ajvModule = await import(pathToFileURL(ajvEntry).href);
    Ajv2020 = ajvModule.default.default || ajvModule.default;
} catch (e) {
    console.error(`cannot load the validator from ${entry}: ${e.message}`);
    console.error(`install it: npm install --prefix ${dir} @seriousme/openapi-schema-validator`);
    exit(1);
}

let doc;
try {
    doc = JSON.parse(await readFile(file, "utf8"));
} catch (e) {
    console.error(`${file}: not readable JSON: ${e.message}`);
    exit(1);
}

const problems = [];
const validator = new Validator();
const result = await validator.validate(doc);
if (!result.valid) {
    problems.push("does not match the OpenAPI schema:\n" + JSON.stringify(result.errors, null, 2));
}
if (!/^3\.1\./.test(String(doc.openapi)) || !String(validator.version).startsWith("3.1")) {
    problems.push(`is not OpenAPI 3.1 (openapi: ${doc.openapi}, detected: ${validator.version})`);
}

// Every local reference must point at something.
function pointer(root, ref) {
    let node = root;
    for (const raw of ref.slice(2).split("/")) {
        const key = decodeURIComponent(raw).replace(/~1/g, "/").replace(/~0/g, "~");
        if (node === null || typeof node !== "object" || !(key in node)) {
            return undefined;
        }
        node = node[key];
    }
    return node;
}
let refs = 0;
(function walk(node, where) {
    if (Array.isArray(node)) {
        node.forEach((v, i) => walk(v, `${where}/${i}`));
    } else if (node !== null && typeof node === "object") {
        for (const [k, v] of Object.entries(node)) {
            if (k === "$ref" && typeof v === "string") {
                refs++;
                if (!v.startsWith("#/") || pointer(doc, v) === undefined) {
                    problems.push(`unresolved $ref ${v} at ${where}`);
                }
            } else {
                walk(v, `${where}/${k}`);
            }
        }
    }
})(doc, "#");

// The OpenAPI schema leaves Schema Objects loosely checked: check each one
// against the JSON Schema 2020-12 meta-schema, then compile the component
// schemas with their references.
const ajv = new Ajv2020({ strict: false, validateFormats: false, allErrors: true });
let schemas = 0;
(function walkSchemas(node, where) {
    if (Array.isArray(node)) {
        node.forEach((v, i) => walkSchemas(v, `${where}/${i}`));
        return;
    }
    if (node === null || typeof node !== "object") {
        return;
    }
    for (const [k, v] of Object.entries(node)) {
        const here = `${where}/${k}`;
        const isSchema = (k === "schema" && !where.endsWith("/properties")) ||
            where === "#/components/schemas";
        if (isSchema && v !== null && typeof v === "object") {
            schemas++;
            if (!ajv.validateSchema(v)) {
                problems.push(`schema ${here} is not valid JSON Schema 2020-12: ` +
                              ajv.errorsText(ajv.errors));
            }
        } else {
            walkSchemas(v, here);
        }
    }
})(doc, "#");
if (!problems.length) {
    try {
        ajv.addSchema({ $id: "https://openapi-document.invalid/openapi.json", components: doc.components || {} });
        for (const name of Object.keys((doc.components || {}).schemas || {})) {
            ajv.compile({ $ref: `https://openapi-document.invalid/openapi.json#/components/schemas/${name}` });
        }
    } catch (e) {
        problems.push(`component schemas do not compile: ${e.message}`);
    }
}

if (problems.length) {
    console.log(`${file}: INVALID`);
    for (const p of problems) {
        console.log(`- ${p}`);
    }
    exit(1);
}
const ops = Object.values(doc.paths || {}).reduce(
    (n, item) => n + Object.keys(item).filter((k) =>
        ["get", "put", "post", "delete", "options", "head", "patch", "trace"].includes(k)).length,
    0);
console.log(`${file}: valid OpenAPI ${validator.version} (openapi ${doc.openapi}; ` +
            `${Object.keys(doc.paths || {}).length} paths, ${ops} operations, ` +
            `${Object.keys(doc.webhooks || {}).length} webhooks, ${refs} $refs resolved, ` +
            `${schemas} schemas checked against JSON Schema 2020-12)`);
exit(0);
