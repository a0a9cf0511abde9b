/** Free loopback ports for servers a test or the bench starts itself. */
import { createServer } from "node:net";

/** A loopback port that was free a moment ago (the OS picks it; we release it for the server). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      const port = typeof addr === "object" && addr !== null ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** `n` distinct free loopback ports (the OS may hand a just-released port out again, so repeats are drawn again). */
export async function freePorts(n: number): Promise<number[]> {
  const ports = new Set<number>();
  for (let draws = 0; ports.size < n; draws++) {
    if (draws > n * 10) throw new Error(`could not find ${n} distinct free ports`);
    ports.add(await freePort());
  }
  return [...ports];
}
