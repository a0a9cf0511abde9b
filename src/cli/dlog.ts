/**
 * dlog: the command line of dlogd. One file per command under commands/, assembled in
 * program.ts; this file runs one and turns its failure into one line and an exit code.
 *
 * commander (pinned at 14.0.3, the last major that runs on Node 20) gives each
 * command its own --help, "did you mean" on typos, options scoped to their
 * command and --version; it is the most used argument parser of Node, with no
 * dependencies of its own.
 */
import { addressInUse, closeContext } from "./context.js";
import { EXIT, describeFailure } from "./exit-codes.js";
import { stdoutBroken } from "./output.js";
import { commandPath, parsingCommand, program } from "./program.js";

async function main(argv: string[]): Promise<number> {
  const root = program();
  try {
    await root.parseAsync(argv, { from: "user" });
    return EXIT.ok;
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code === "commander.helpDisplayed" || code === "commander.version") return EXIT.ok;
    if (code === "commander.help") return EXIT.usage; // a group without its command: its help went to stderr
    if (stdoutBroken() && code === "EPIPE") return EXIT.ok;
    const failure = describeFailure(error, { address: addressInUse(), commandPath: commandPath(parsingCommand()) });
    process.stderr.write(`dlog: ${failure.message}\n`);
    return failure.code;
  } finally {
    closeContext();
  }
}

const exitCode = await main(process.argv.slice(2));
// Exit once stdout is flushed (or gone); a pipeline that stopped reading is not an error.
if (!stdoutBroken()) await new Promise<void>((resolve) => process.stdout.write("", () => resolve()));
process.exit(exitCode);
