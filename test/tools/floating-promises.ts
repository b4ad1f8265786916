/**
 * Fails on a promise left floating: an expression statement whose value is a promise, neither awaited, returned,
 * chained with .catch/.then, nor marked `void` on purpose. With an asynchronous store a forgotten `await` is a
 * write that may happen after the answer went out (or inside nobody's transaction), so `npm run typecheck` runs this.
 *
 * Usage: tsx test/tools/floating-promises.ts   (exit 1 and one line per finding)
 */
import ts from "typescript";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const configPath = join(root, "tsconfig.json");
const cfg = ts.getParsedCommandLineOfConfigFile(configPath, {}, { ...ts.sys, onUnRecoverableConfigFileDiagnostic: () => undefined });
if (!cfg) throw new Error("cannot read tsconfig.json");
const program = ts.createProgram({ rootNames: cfg.fileNames, options: cfg.options });
const checker = program.getTypeChecker();

function isPromiseLike(t: ts.Type): boolean {
  if (t.isUnion()) return t.types.some(isPromiseLike);
  const then = t.getProperty("then");
  if (!then) return false;
  const thenType = checker.getTypeOfSymbol(then);
  return thenType.getCallSignatures().length > 0;
}

/** `p.catch(f)` and `p.then(f, g)` handle the rejection themselves. */
function handled(e: ts.Expression): boolean {
  if (!ts.isCallExpression(e) || !ts.isPropertyAccessExpression(e.expression)) return false;
  const m = e.expression.name.text;
  return m === "catch" || (m === "then" && e.arguments.length >= 2) || (m === "finally" && handled(e.expression.expression));
}

const findings: string[] = [];
for (const sf of program.getSourceFiles()) {
  if (sf.isDeclarationFile || sf.fileName.includes("node_modules")) continue;
  const visit = (n: ts.Node): void => {
    if (ts.isExpressionStatement(n)) {
      const e = n.expression;
      const skip = ts.isVoidExpression(e) || ts.isAwaitExpression(e) || handled(e) || (ts.isBinaryExpression(e) && e.operatorToken.kind >= ts.SyntaxKind.FirstAssignment && e.operatorToken.kind <= ts.SyntaxKind.LastAssignment);
      if (!skip && isPromiseLike(checker.getTypeAtLocation(e))) {
        const { line, character } = sf.getLineAndCharacterOfPosition(e.getStart(sf));
        findings.push(`${relative(root, sf.fileName)}:${line + 1}:${character + 1}: promise not awaited: ${e.getText(sf).slice(0, 100)}`);
      }
    }
    ts.forEachChild(n, visit);
  };
  visit(sf);
}
for (const f of findings) console.log(f);
if (findings.length) {
  console.log(`${findings.length} floating promise(s): await them, or write \`void\` where not waiting is the intent`);
  process.exit(1);
}
