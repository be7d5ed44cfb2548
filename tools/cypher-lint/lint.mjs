// Lint Neo4j Cypher offline with Neo4j's own parser and semantic analysis (@neo4j-cypher/language-support).
//
// stdin:  {"queries": [{"name": str, "cypher": str, "parameters": [str, ...]}]}
// stdout: {"results": [{"name": str, "diagnostics": [{"severity", "message", "line", "column", "offset"}]}]}
// severity is "error" | "warning" | "information" | "hint"; line and column are 1-based, offset is 0-based.
//
// Analysed as CYPHER 5 against an empty database schema: no labels, relationship types, property keys,
// functions or procedures are declared, so the library skips its schema checks (unknown labels etc. are never
// reported). Only the query's declared parameters are given (dbSchema.parameters), so any other $param is an error.
import { lintCypherQuery, parseStatementsStrs } from '@neo4j-cypher/language-support';

const SEVERITY = { 1: 'error', 2: 'warning', 3: 'information', 4: 'hint' };

function lint({ cypher, parameters = [] }) {
  // The library only checks `parameters[name] !== undefined`; the value (a parameter's runtime value) is unused.
  const dbSchema = { defaultLanguage: 'CYPHER 5', parameters: Object.fromEntries(parameters.map((p) => [p, null])) };
  const { diagnostics } = lintCypherQuery(cypher, dbSchema, { consoleCommandsEnabled: false });
  const out = diagnostics.map((d) => ({
    severity: SEVERITY[d.severity] ?? String(d.severity),
    message: d.message,
    line: d.range.start.line + 1,
    column: d.range.start.character + 1,
    offset: d.offsets.start,
  }));
  // The driver runs one statement per query, as the server insists ("Expected exactly one statement per query").
  const statements = parseStatementsStrs(cypher).length;
  if (statements > 1) {
    out.push({ severity: 'error', message: `Expected exactly one statement per query but got: ${statements}`,
               line: 1, column: 1, offset: 0 });
  }
  return out;
}

const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const { queries } = JSON.parse(Buffer.concat(chunks).toString('utf8'));
const results = queries.map((q) => ({ name: q.name, diagnostics: lint(q) }));
process.stdout.write(JSON.stringify({ results }) + '\n');
