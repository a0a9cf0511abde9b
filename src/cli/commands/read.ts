import { Command } from "commander";
import type { StartAt } from "../../../clients/typescript/src/index.js";
import { contextOf } from "../context.js";
import { recordFormatter } from "../format.js";
import { type PayloadEncoding, fromOption, logOption, maxOption, payloadOption } from "../options.js";
import { drained, output, stdoutBroken } from "../output.js";
import { startProgress } from "../progress.js";

interface ReadOptions {
  log: string;
  from?: StartAt;
  max?: number;
  follow?: boolean;
  payload?: PayloadEncoding;
}

export function readCommand(): Command {
  return new Command("read")
    .summary("print records; no reader, no acks")
    .description("Print the records of a log from a position (default: the first record). Stateless: no reader is created or moved.")
    .addOption(logOption())
    .addOption(fromOption("where to start"))
    .addOption(maxOption("stop after this many records"))
    .option("-f, --follow", "keep waiting for new records at the end of the log")
    .addOption(payloadOption())
    .action(async (options: ReadOptions, command: Command) => {
      const context = contextOf(command);
      const format = recordFormatter(context.json, options.payload);
      const progress = startProgress({ verb: "read", total: options.max, quiet: context.quiet });
      const abort = new AbortController();
      const onSignal = (): void => abort.abort();
      process.once("SIGINT", onSignal);
      process.once("SIGTERM", onSignal);
      output.once("broken", onSignal);
      let out = "";
      let flushScheduled = false;
      // Lines gather while a server batch is being iterated and go out once per turn: a quiet --follow still prints at once.
      const flush = (): void => {
        flushScheduled = false;
        if (out !== "" && !stdoutBroken()) process.stdout.write(out);
        out = "";
      };
      const records = context.client.read(options.log, { from: options.from, max: options.max, follow: options.follow ?? false, signal: abort.signal });
      try {
        for await (const record of records) {
          out += format(record);
          progress.add(1);
          if (out.length >= 64 * 1024) {
            if (!process.stdout.write(out)) await drained();
            out = "";
          } else if (!flushScheduled) {
            flushScheduled = true;
            setImmediate(flush);
          }
        }
      } catch (error) {
        if (!abort.signal.aborted) throw error;
      } finally {
        process.off("SIGINT", onSignal);
        process.off("SIGTERM", onSignal);
        output.off("broken", onSignal);
        progress.done();
      }
      flush();
    });
}
