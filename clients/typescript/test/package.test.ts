/**
 * @dlog/client as a user gets it: the tarball `make ts-client` packs is installed into a temp
 * project (dependencies from npm's cache when it has them), every `ts` block of the client's
 * README compiles against it under strict settings, and a program using only the installed
 * package runs a reader against a real dlogd that `@dlog/client/testing` starts.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

const run = promisify(execFile);
const REPO = fileURLToPath(new URL("../../../../", import.meta.url));
const PACKED = join(REPO, ".tools", "ts-client");
const README = join(REPO, "clients", "typescript", "README.md");

let project: string;

before(async () => {
  const tarballs = (() => {
    try {
      return readdirSync(PACKED).filter((name) => name.endsWith(".tgz"));
    } catch {
      return [];
    }
  })();
  assert.equal(tarballs.length, 1, `one tarball in ${PACKED} (run make ts-client), found ${tarballs.join(", ") || "none"}`);
  project = mkdtempSync(join(tmpdir(), "dlog-client-user-"));
  writeFileSync(join(project, "package.json"), JSON.stringify({ name: "user", private: true, type: "module" }));
  await run("npm", ["install", join(PACKED, tarballs[0]!), "--prefer-offline", "--no-audit", "--no-fund", "--ignore-scripts", "--loglevel=error"], {
    cwd: project,
    timeout: 120_000,
  });
});

after(() => {
  if (project) rmSync(project, { recursive: true, force: true });
});

test("the package installs with its own code: no file reaches outside it", () => {
  const manifest = JSON.parse(readFileSync(join(project, "node_modules", "@dlog", "client", "package.json"), "utf8")) as {
    name: string;
    exports: Record<string, unknown>;
  };
  assert.equal(manifest.name, "@dlog/client");
  assert.deepEqual(Object.keys(manifest.exports).sort(), [".", "./package.json", "./testing"]);
});

/** Names the README's fragments use without defining them. */
const FRAGMENT_GLOBALS = `import type { DlogClient, DLSN as DLSNClass, createDlogClient as create } from "@dlog/client";
declare global {
  const client: DlogClient;
  const createDlogClient: typeof create;
  const DLSN: typeof DLSNClass;
  const lines: string[];
  const abortController: AbortController;
  function bill(order: unknown): Promise<void>;
  function handle(record: unknown): Promise<void>;
  function track(dlsn: unknown): void;
}
`;

test("every ts block of the README compiles against the installed package under strict settings", async () => {
  const blocks = [...readFileSync(README, "utf8").matchAll(/^```ts\n([\s\S]*?)^```$/gm)].map((match) => match[1]!);
  assert.ok(blocks.length >= 8, `the README has ${blocks.length} ts blocks`);
  const files = blocks.map((block, i) => {
    const file = `readme-${i + 1}.ts`;
    writeFileSync(join(project, file), `${block}\nexport {};\n`);
    return file;
  });
  writeFileSync(join(project, "fragment-globals.d.ts"), FRAGMENT_GLOBALS);
  writeFileSync(
    join(project, "tsconfig.json"),
    JSON.stringify({
      compilerOptions: {
        target: "ES2022",
        module: "NodeNext",
        moduleResolution: "NodeNext",
        lib: ["ES2022"],
        types: ["node"],
        typeRoots: [join(REPO, "node_modules", "@types")],
        noEmit: true,
        // The strictest settings but the unused-name checks: the fragments show values without using them.
        strict: true,
        exactOptionalPropertyTypes: true,
        noUncheckedIndexedAccess: true,
        noPropertyAccessFromIndexSignature: true,
        noImplicitOverride: true,
        noImplicitReturns: true,
        noFallthroughCasesInSwitch: true,
        verbatimModuleSyntax: true,
        // The package's own declarations are checked too (skipLibCheck would hide them).
        skipLibCheck: false,
      },
      files: ["fragment-globals.d.ts", ...files],
    }),
  );
  const tsc = join(REPO, "node_modules", ".bin", "tsc");
  const compiled = await run(tsc, ["-p", "tsconfig.json"], { cwd: project, timeout: 120_000 }).then(
    () => "",
    (error: { stdout?: string; message: string }) => error.stdout || error.message,
  );
  assert.equal(compiled, "", `the README's examples do not compile:\n${compiled}`);
});

test("a program using only the installed package reads with an at-least-once reader from a real dlogd", async () => {
  writeFileSync(
    join(project, "read.mjs"),
    `import { createDlogClient, DlogError, Status } from "@dlog/client";
import { startTestServer } from "@dlog/client/testing";

// Plain JavaScript on Node 20: no \`await using\` (TypeScript compiles it; Node 24 has it).
const server = await startTestServer();
const client = createDlogClient({ address: server.address });
const appender = client.appender("orders");
const appended = await Promise.all(["a", "b", "c"].map((payload) => appender.append(payload)));
await appender.close();
const reader = client.reader({ log: "orders", readerId: "billing" });
const seen = [];
for await (const record of reader) {
  seen.push(record.text());
  record.ack();
  if (seen.length === 3) break;
}
const end = await reader.closed;
let refused = "";
try {
  await client.getLog("missing");
} catch (error) {
  refused = error instanceof DlogError && error.code === Status.NOT_FOUND ? error.reason : String(error);
}
await client.close();
await server.close();
console.log(JSON.stringify({ seen, end: end.reason, durable: String(end.durablePosition), last: String(appended[2][0]), refused }));
`,
  );
  const dlogd = process.env.DLOG_DLOGD || join(REPO, "bin", "dlogd.js");
  const { stdout, stderr } = await run(process.execPath, ["read.mjs"], { cwd: project, timeout: 60_000, env: { ...process.env, DLOG_DLOGD: dlogd } });
  const result = JSON.parse(stdout) as { last: string };
  assert.deepEqual(result, { seen: ["a", "b", "c"], end: "closed", durable: result.last, last: result.last, refused: "LOG_NOT_FOUND" });
  assert.match(result.last, /^1\/\d+\/\d+$/);
  assert.equal(stderr, "", "nothing on stderr (no warnings)");
});
