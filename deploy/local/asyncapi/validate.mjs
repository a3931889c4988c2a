// Validates an AsyncAPI 3 document with the official parser (@asyncapi/parser).
//
//   node validate.mjs <file>
//
// Prints every diagnostic as "<severity> <path> <message>" and exits 1 when there is any
// error or warning (infos and hints are printed but do not fail), 2 when the file is
// missing or cannot be read, 0 when the document is clean. $refs to other files are
// resolved relative to the document. The parser is found in $ASYNCAPI_PARSER_DIR (the
// directory where deploy/local/bootstrap.sh ran `npm ci`, as set by validate.sh), or else
// next to this script. Use validate.sh rather than calling this directly.
import { existsSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const SEVERITIES = ["error", "warning", "info", "hint"]; // DiagnosticSeverity 0..3

function usage(message) {
  console.error(`asyncapi: ${message}`);
  console.error("usage: node validate.mjs <file>");
  process.exit(2);
}

async function loadParser() {
  const base = process.env.ASYNCAPI_PARSER_DIR || path.dirname(fileURLToPath(import.meta.url));
  let entry;
  try {
    entry = createRequire(path.join(base, "package.json")).resolve("@asyncapi/parser");
  } catch {
    console.error(`asyncapi: @asyncapi/parser is not installed in ${base}`);
    console.error("  fix: run `make install` (deploy/local/bootstrap.sh installs it)");
    process.exit(2);
  }
  return import(pathToFileURL(entry).href);
}

// A diagnostic's path as a JSON pointer, e.g. /operations/sendSignup/channel ("/" is the
// root); for a diagnostic in a $ref'd file, into that file (named in the location).
function pointer(segments) {
  const escaped = (segments || []).map((s) => String(s).replaceAll("~", "~0").replaceAll("/", "~1"));
  return "/" + escaped.join("/");
}

function location(diagnostic, file) {
  const line = diagnostic.range?.start?.line;
  if (line === undefined) return "";
  const source = diagnostic.source && path.resolve(diagnostic.source) !== file
    ? `${path.relative(process.cwd(), diagnostic.source)}:` : "";
  return ` (${source}line ${line + 1})`;
}

const args = process.argv.slice(2);
if (args.length !== 1) usage("expected exactly one argument, the AsyncAPI document");
const shown = args[0];
const file = path.resolve(shown);
if (!existsSync(file) || !statSync(file).isFile()) usage(`${shown}: no such file`);

const { Parser, fromFile } = await loadParser();
const parser = new Parser();

let result;
try {
  // fromFile gives the parser the file's path as `source`, so relative $refs resolve
  // against the document's directory.
  result = await fromFile(parser, file).parse();
} catch (err) {
  console.error(`asyncapi: could not read or parse ${shown}: ${err?.message ?? err}`);
  process.exit(2);
}

const { document, diagnostics } = result;
let failing = 0;
for (const d of diagnostics) {
  const severity = SEVERITIES[d.severity] ?? `severity${d.severity}`;
  if (d.severity <= 1) failing += 1;
  console.log(`${severity} ${pointer(d.path)} ${d.message}${location(d, file)}`);
}

if (document === undefined || failing > 0) {
  console.error(`asyncapi: ${shown} is NOT valid (${failing} error/warning diagnostics)`);
  process.exit(1);
}

const version = document.version();
if (!version.startsWith("3.")) {
  console.log(`error /asyncapi expected an AsyncAPI 3 document, found ${version}`);
  console.error(`asyncapi: ${shown} is NOT valid (AsyncAPI ${version}, not 3.x)`);
  process.exit(1);
}

console.log(
  `asyncapi: ${shown} is valid AsyncAPI ${version} (` +
    `${document.channels().length} channels, ` +
    `${document.operations().length} operations, ` +
    `${document.messages().length} messages)`,
);
