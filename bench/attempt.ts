/**
 * One bench step whose failure becomes an Error value (and an error row later), never the end of
 * the run: shared by run.ts and the runners of one section.
 */
export type Attempt = <T>(label: string, step: () => Promise<T>) => Promise<T | Error>;

export function attempter(progress: (message: string) => void): Attempt {
  return async (label, step) => {
    progress(label);
    try {
      return await step();
    } catch (error) {
      const failure = error instanceof Error ? error : new Error(String(error));
      progress(`  failed: ${failure.message.split("\n")[0]}`);
      return failure;
    }
  };
}
