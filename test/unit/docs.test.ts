/**
 * The doc check: what the READMEs tell people to type stays true. Every `sh` block parses
 * (`bash -n`); every `dlog …` names commands and options the CLI has, every `dlogd …` flags the
 * server has, every `make …` a target of the Makefile; the server-flags table and the systemd unit
 * name real flags. (Commands that need a running server are run by their own tests: the backup
 * procedure by test/integration/backup.test.ts.)
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import type { Command } from "commander";
import { program } from "../../src/cli/program.js";
import { serverHelp } from "../../src/server/config.js";
import { REPO_ROOT } from "../helpers/dlogd.js";

const read = (path: string): string => readFileSync(join(REPO_ROOT, path), "utf8");

/** The READMEs and docs/ pages, as paths from the repository root. */
function documents(): string[] {
  const inDir = (dir: string, match: (name: string) => boolean): string[] =>
    existsSync(join(REPO_ROOT, dir))
      ? readdirSync(join(REPO_ROOT, dir))
          .filter(match)
          .map((name) => join(dir, name))
      : [];
  const clients = inDir("clients", () => true).flatMap((dir) => inDir(dir, (name) => name === "README.md"));
  return ["README.md", ...inDir("docs", (name) => name.endsWith(".md")), ...clients, ...inDir("bench", (name) => name === "README.md")];
}

interface Block {
  where: string;
  text: string;
}

function shBlocks(path: string): Block[] {
  const blocks: Block[] = [];
  const lines = read(path).split("\n");
  for (let i = 0; i < lines.length; i++) {
    if (!/^```(sh|bash|shell)\s*$/.test(lines[i]!)) continue;
    const start = i + 1;
    while (i + 1 < lines.length && !lines[i + 1]!.startsWith("```")) i++;
    blocks.push({ where: `${path}:${start + 1}`, text: lines.slice(start, i + 1).join("\n") });
    i++;
  }
  return blocks;
}

/**
 * The simple commands of a shell text, as words: continuations joined, comments dropped, split at
 * unquoted `|`, `&&`, `||` and `;`. Quotes are kept out of the words; nothing is expanded.
 */
function simpleCommands(text: string): string[][] {
  const commands: string[][] = [];
  let words: string[] = [];
  let word: string | undefined;
  const endWord = (): void => {
    if (word !== undefined) words.push(word);
    word = undefined;
  };
  const endCommand = (): void => {
    endWord();
    if (words.length > 0) commands.push(words);
    words = [];
  };
  const joined = text.replace(/\\\n/g, " ");
  for (let i = 0; i < joined.length; i++) {
    const c = joined[i]!;
    if (c === "'" || c === '"') {
      const close = joined.indexOf(c, i + 1);
      word = (word ?? "") + joined.slice(i + 1, close === -1 ? undefined : close);
      i = close === -1 ? joined.length : close;
    } else if (c === "#" && word === undefined) {
      while (i < joined.length && joined[i] !== "\n") i++;
      endCommand();
    } else if (c === "\n" || c === ";" || c === "|" || c === "&") {
      endCommand();
      if ((c === "|" || c === "&") && joined[i + 1] === c) i++;
    } else if (c === " " || c === "\t") {
      endWord();
    } else {
      word = (word ?? "") + c;
    }
  }
  endCommand();
  return commands;
}

/** `dlog`'s options that a command accepts: its own and every ancestor's (the global ones). */
function optionsOf(command: Command): Set<string> {
  const names = new Set(["--help", "-h"]);
  for (let at: Command | null = command; at; at = at.parent) {
    for (const option of at.options) {
      if (option.long) names.add(option.long);
      if (option.short) names.add(option.short);
    }
  }
  return names;
}

/** What is wrong with `dlog WORDS` (undefined: nothing). */
function checkDlog(words: string[]): string | undefined {
  let command = program();
  let i = 0;
  for (; i < words.length && !words[i]!.startsWith("-"); i++) {
    if (command.commands.length === 0) break; // the command's own arguments
    const sub = command.commands.find((c) => c.name() === words[i] || c.aliases().includes(words[i]!));
    if (!sub) return `dlog has no command "${[...commandNames(command), words[i]].join(" ")}"`;
    command = sub;
  }
  const known = optionsOf(command);
  if (command.parent === null) known.add("--version").add("-V");
  for (const token of words.slice(i)) {
    if (!token.startsWith("-") || token === "-") continue;
    const flag = token.split("=")[0]!;
    if (!known.has(flag)) return `"${commandNames(command).join(" ")}" has no option ${flag}`;
  }
  return undefined;
}

function commandNames(command: Command): string[] {
  const names: string[] = [];
  for (let at: Command | null = command; at; at = at.parent) names.unshift(at.name());
  return names;
}

/** dlogd's flags, from its help (`--[no-]x` gives both `--x` and `--no-x`). */
function dlogdFlags(): Set<string> {
  const flags = new Set<string>();
  for (const match of serverHelp().matchAll(/^ {2}--(\[no-\])?([a-z][a-z-]*)/gm)) {
    flags.add(`--${match[2]}`);
    if (match[1]) flags.add(`--no-${match[2]}`);
  }
  return flags;
}

function makeTargets(): Set<string> {
  const targets = new Set<string>();
  for (const match of read("Makefile").matchAll(/^([A-Za-z0-9_.-]+(?: [A-Za-z0-9_.-]+)*):(?!=)/gm)) {
    for (const target of match[1]!.split(" ")) targets.add(target);
  }
  return targets;
}

/**
 * The programs the docs tell people to run. A word in command position that is none of them is
 * most likely prose pasted into a block: `dlog logs create|delete L` runs `delete L` in a pipeline.
 */
const PROGRAMS = new Set([
  "dlog",
  "dlogd",
  "node",
  "npm",
  "npx",
  "make",
  "grpcurl",
  "seq",
  "go",
  "mvn",
  "pip",
  "sudo",
  "systemctl",
  "journalctl",
  "useradd",
  "tar",
  "mkdir",
  "cp",
]);

/** What is wrong with one simple command of the docs (undefined: nothing, or not ours to check further). */
function checkCommand(words: string[], flags: Set<string>, targets: Set<string>): string | undefined {
  let rest = words;
  while (rest.length > 0 && /^[A-Za-z_][A-Za-z0-9_]*=/.test(rest[0]!)) rest = rest.slice(1); // VAR=value before the command
  if (rest[0] === "sudo" || rest[0] === "npx") rest = rest.slice(1);
  if (rest.length === 0) return undefined;
  rest = [rest[0]!.replace(/^\/usr\/(local\/)?bin\//, ""), ...rest.slice(1)];
  if (rest[0] === "env" && rest.length > 1) rest = rest.slice(1);
  // Lines typed at a program's stdin, shown in a block after it: JSON messages and ^D.
  if (/^[{^]/.test(rest[0]!)) return undefined;
  const program = rest[0] === "node" ? rest[1] : rest[0];
  const args = rest[0] === "node" ? rest.slice(2) : rest.slice(1);
  if (!PROGRAMS.has(rest[0]!) && !/^(bin|dist|node_modules)\//.test(rest[0]!) && rest[0] !== "/opt/dlog/bin/dlogd.js")
    return `"${rest[0]}" is not a program the docs run`;
  if (program === "dlog" || program === "bin/dlog.js") return checkDlog(args);
  if (program === "dlogd" || program === "bin/dlogd.js" || program === "/opt/dlog/bin/dlogd.js") {
    const unknown = args.filter((arg) => arg.startsWith("--") && !flags.has(arg.split("=")[0]!));
    return unknown.length > 0 ? `dlogd has no flag ${unknown.join(", ")}` : undefined;
  }
  if (program === "make") {
    const unknown = args.filter((arg) => !arg.startsWith("-") && !arg.includes("=") && !targets.has(arg));
    return unknown.length > 0 ? `the Makefile has no target ${unknown.join(", ")}` : undefined;
  }
  return undefined;
}

test("the doc check's shell reading: pipes, lists, quotes, comments and continuations", () => {
  assert.deepEqual(simpleCommands("seq 3 | dlog append --log 'a b' # note\nmake build && make \\\n  test; x=1 y"), [
    ["seq", "3"],
    ["dlog", "append", "--log", "a b"],
    ["make", "build"],
    ["make", "test"],
    ["x=1", "y"],
  ]);
  const flags = dlogdFlags();
  const targets = makeTargets();
  const alternatives = simpleCommands("dlog logs create|delete L").map((words) => checkCommand(words, flags, targets));
  assert.deepEqual(alternatives, [undefined, '"delete" is not a program the docs run']);
  assert.match(checkCommand(["dlog", "append", "--max", "3"], flags, targets) ?? "", /"dlog append" has no option --max/);
  assert.equal(checkCommand(["dlog", "tail", "--log", "x", "--reader", "r", "--format", "json"], flags, targets), undefined);
  assert.match(checkCommand(["node", "bin/dlogd.js", "--no-fsync", "--fsnyc"], flags, targets) ?? "", /no flag --fsnyc/);
  assert.match(checkCommand(["BENCH_ARGS=1", "make", "benchh"], flags, targets) ?? "", /no target benchh/);
});

test("every sh block of the READMEs parses, and every dlog, dlogd and make command in them exists", () => {
  const flags = dlogdFlags();
  const targets = makeTargets();
  const problems: string[] = [];
  let checked = 0;
  for (const path of documents()) {
    for (const block of shBlocks(path)) {
      const parsed = spawnSync("bash", ["-n"], { input: block.text, encoding: "utf8" });
      if (parsed.status !== 0) problems.push(`${block.where}: bash -n: ${parsed.stderr.trim()}`);
      for (const words of simpleCommands(block.text)) {
        checked++;
        const problem = checkCommand(words, flags, targets);
        if (problem) problems.push(`${block.where}: ${words.join(" ")}: ${problem}`);
      }
    }
  }
  assert.ok(checked > 50, `the check saw the READMEs' commands (${checked})`);
  assert.deepEqual(problems, []);
});

test("inline `dlog …` and `dlogd …` commands in the READMEs name real commands, options and flags", () => {
  const flags = dlogdFlags();
  const targets = makeTargets();
  const problems: string[] = [];
  for (const path of documents()) {
    for (const match of read(path).matchAll(/`((?:dlog|dlogd|make) [^`]+)`/g)) {
      for (const words of simpleCommands(match[1]!)) {
        const problem = checkCommand(words, flags, targets);
        if (problem) problems.push(`${path}: \`${match[1]}\`: ${problem}`);
      }
    }
  }
  assert.deepEqual(problems, []);
});

/** Every option of every dlog command. */
function allDlogOptions(): Set<string> {
  const names = new Set<string>();
  const walk = (command: Command): void => {
    for (const name of optionsOf(command)) names.add(name);
    for (const sub of command.commands) walk(sub);
  };
  walk(program());
  return names.add("--version");
}

test("every `--flag` the root README and docs/ name is a dlogd flag or a dlog option", () => {
  const known = new Set([...dlogdFlags(), ...allDlogOptions()]);
  const problems: string[] = [];
  for (const path of documents().filter((p) => !p.startsWith("clients/") && !p.startsWith("bench/"))) {
    // The Performance section speaks of the bench scripts' own flags (bench/README.md documents them).
    const text = read(path).replace(/^## Performance\n[\s\S]*?(?=^## )/m, "");
    for (const match of text.matchAll(/`(--(?:\[no-\])?[a-z][a-z-]*)[^`]*`/g)) {
      const flag = match[1]!.replace("[no-]", "");
      if (!known.has(flag)) problems.push(`${path}: ${match[0]}`);
    }
  }
  assert.deepEqual(problems, []);
});

test("the README's server-flags table and dlogd's settings name the same flags", () => {
  const section = /^## Server flags\n([\s\S]*?)(?=^## )/m.exec(read("README.md"))?.[1];
  assert.ok(section, 'README has a "## Server flags" section');
  const table = section.split("\n").filter((line) => line.startsWith("| `--"));
  const documented = new Set(table.flatMap((row) => [...row.split(" | ")[0]!.matchAll(/--(\[no-\])?([a-z][a-z-]*)/g)].map((m) => `--${m[2]}`)));
  const all = dlogdFlags();
  const settings = new Set([...all].filter((flag) => flag !== "--help" && !(flag.startsWith("--no-") && all.has(`--${flag.slice(5)}`))));
  assert.deepEqual(
    [...documented].filter((flag) => !settings.has(flag)),
    [],
    "flags in the table that dlogd does not have",
  );
  assert.deepEqual([...settings].filter((flag) => !documented.has(flag)).sort(), [], "dlogd flags missing from the table");
});

test("the systemd unit starts dlogd with real flags, raises LimitNOFILE and waits out --shutdown-timeout", () => {
  const unit = read("deploy/systemd/dlogd.service");
  const exec = /^ExecStart=(.*)$/m.exec(unit)?.[1];
  assert.ok(exec, "an ExecStart line");
  assert.equal(checkCommand(simpleCommands(exec)[0]!, dlogdFlags(), makeTargets()), undefined);
  // The launcher itself, not `node …`: its first line adds the V8 heap flag (bin/dlogd.js).
  assert.match(exec, /^(\/usr\/bin\/env )?\/opt\/dlog\/bin\/dlogd\.js /);
  assert.ok(Number(/^LimitNOFILE=(\d+)$/m.exec(unit)?.[1]) >= 65_536, "LimitNOFILE of 65536 or more");
  const stopSeconds = Number(/^TimeoutStopSec=(\d+)s$/m.exec(unit)?.[1]);
  const shutdownDefault = /--shutdown-timeout VALUE .*default (\d+)s\)/.exec(serverHelp())?.[1];
  assert.ok(stopSeconds > Number(shutdownDefault) + 2, `TimeoutStopSec (${stopSeconds}s) leaves --shutdown-timeout (${shutdownDefault}s) and its 2 s backstop`);
  const verify = spawnSync("systemd-analyze", ["verify", join(REPO_ROOT, "deploy/systemd/dlogd.service")], { encoding: "utf8" });
  if (verify.error === undefined) {
    // It warns on stderr (an unknown key, a bad value) and still exits 0.
    assert.equal(`${verify.stdout}${verify.stderr}`.trim(), "", "systemd-analyze verify has nothing to say");
  }
});
