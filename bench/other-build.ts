/**
 * Another build's modules, for the side-by-side benches that run two or more builds in one run: `dist`
 * is that checkout's dist/ directory. They keep this build's types: the builds compared share the API.
 */
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import type * as DlogdProcess from "./dlogd-process.js";
import type * as TsClient from "./ts-client.js";

const importFromBuild = async <T>(dist: string, module: string): Promise<T> => (await import(pathToFileURL(resolve(dist, module)).href)) as T;

export const importDlogdProcess = (dist: string): Promise<typeof DlogdProcess> => importFromBuild(dist, "bench/dlogd-process.js");

export const importTsClient = (dist: string): Promise<typeof TsClient> => importFromBuild(dist, "bench/ts-client.js");
