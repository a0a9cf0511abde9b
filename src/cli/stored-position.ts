import { ClientError, type DlogClient, type LogInfo, type ReaderPosition, Status } from "../../clients/typescript/src/index.js";

/**
 * The log, and the reader's stored position on it (undefined for a reader with
 * none yet). The log is asked first, so a NOT_FOUND after it is the reader's.
 */
export async function logAndPosition(client: DlogClient, log: string, readerId: string): Promise<{ info: LogInfo; position: ReaderPosition | undefined }> {
  const info = await client.getLog(log);
  try {
    return { info, position: await client.getPosition(log, readerId) };
  } catch (error) {
    if (error instanceof ClientError && error.code === Status.NOT_FOUND) return { info, position: undefined };
    throw error;
  }
}
