// Run the Khronos glTF validator (npm gltf-validator, pinned in package.json) on one GLB file and
// print its report as JSON on stdout. Used by tests/render/test_export.py.
// Usage: node validate_gltf.mjs FILE.glb
import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import path from "node:path";

const require = createRequire(path.join(process.cwd(), "package.json"));
const validator = require("gltf-validator");
const file = process.argv[2];
const bytes = new Uint8Array(await readFile(file));
const report = await validator.validateBytes(bytes, { uri: path.basename(file), maxIssues: 1000 });
process.stdout.write(JSON.stringify(report));
