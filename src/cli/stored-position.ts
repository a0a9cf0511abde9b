import { DlogError, type DlogClient, type LogInfo, type ReaderPosition } from "../../clients/typescript/src/index.js";

/** The log, and the reader's stored position on it (undefined for a reader with none yet). */
export async function logAndPosition(client: DlogClient, log: string, readerId: string): Promise<{ info: LogInfo; position: ReaderPosition | undefined }> {
  const position = client.getPosition(log, readerId).catch((error: unknown) => {
    if (error instanceof DlogError && error.reason === "READER_NOT_FOUND") return undefined;
    throw error;
  });
  const [info, stored] = await Promise.all([client.getLog(log), position]);
  return { info, position: stored };
}
