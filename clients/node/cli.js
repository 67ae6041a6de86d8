#!/usr/bin/env node
// node clients/node/cli.js <bundle> [--precision int8|fp32|fp16] [--threads N] [--conformance | --normalize]
//
// --conformance: check every vector of the bundle's conformance.json; prints a JSON report, exits 1 on any
// failure. Otherwise: reads JSON Lines on stdin ({"text": ...} objects or bare strings), writes one JSON
// line per row: the row's "id" when it has one, "label" ("labels" for multi-label) and "scores".
// --normalize: the same input, written back as {"normalized": ...} lines (the normaliser alone, no graph).

import readline from "node:readline";

import { BundleClient } from "./bundle.js";
import { checkConformance } from "./conformance.js";

const USAGE = "usage: node cli.js <bundle> [--precision int8|fp32|fp16] [--threads N] [--batch-size N] [--conformance | --normalize]";

function parseArgs(argv) {
  const opts = { precision: "int8", threads: 1, batchSize: 32, conformance: false, normalize: false, bundle: null };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === "--conformance") opts.conformance = true;
    else if (arg === "--normalize") opts.normalize = true;
    else if (arg === "--precision") opts.precision = argv[++i];
    else if (arg === "--threads") opts.threads = Number(argv[++i]);
    else if (arg === "--batch-size") opts.batchSize = Number(argv[++i]);
    else if (arg === "-h" || arg === "--help") throw new Error(USAGE);
    else if (arg.startsWith("--")) throw new Error(`unknown option ${arg}\n${USAGE}`);
    else if (opts.bundle === null) opts.bundle = arg;
    else throw new Error(`unexpected argument ${arg}\n${USAGE}`);
  }
  if (opts.bundle === null) throw new Error(USAGE);
  return opts;
}

async function conformance(client, precision) {
  const report = await checkConformance(client, precision);
  console.log(JSON.stringify(report, null, 2));
  for (const f of report.failures) console.error(`vector ${f.vector} (${precision}): ${f.stage} differs: ${f.detail}`);
  return report.failures.length === 0 ? 0 : 1;
}

async function readRows() {
  const rows = [];
  const lines = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
  let n = 0;
  for await (const line of lines) {
    n++;
    if (!line.trim()) continue;
    const row = JSON.parse(line);
    const text = typeof row === "string" ? row : row.text;
    if (typeof text !== "string") throw new Error(`stdin line ${n}: expected a string or {"text": ...}`);
    rows.push({ id: typeof row === "object" ? row.id : undefined, text });
  }
  return rows;
}

async function normalizeStdin(client) {
  for (const row of await readRows()) console.log(JSON.stringify({ normalized: client.normalize(row.text) }));
  return 0;
}

async function predictStdin(client, batchSize) {
  const rows = await readRows();
  const out = await client.predict(rows.map((r) => r.text), { batchSize });
  out.forEach((p, i) => console.log(JSON.stringify(rows[i].id === undefined ? p : { id: rows[i].id, ...p })));
  return 0;
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const client = await BundleClient.load(opts.bundle, { precision: opts.precision, threads: opts.threads });
  if (opts.conformance) return conformance(client, opts.precision);
  return opts.normalize ? normalizeStdin(client) : predictStdin(client, opts.batchSize);
}

main().then(
  (code) => process.exit(code),
  (err) => {
    console.error(err.message);
    process.exit(2);
  },
);
