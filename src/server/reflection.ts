import { readFileSync } from "node:fs";
import type { Server } from "nice-grpc";
import { ServerReflection, ServerReflectionService } from "nice-grpc-server-reflection";

/** Where `make proto` writes the descriptor set (`buf build`), relative to this compiled file (dist/src/server/). */
const DESCRIPTOR_SET = new URL("../../descriptor.binpb", import.meta.url);

/**
 * Server reflection for grpcurl and friends: v1, plus v1alpha for older tools —
 * its messages are wire-identical, so the same implementation serves both paths.
 */
export function addReflection(server: Server, serviceNames: string[]): void {
  const implementation = ServerReflection(readFileSync(DESCRIPTOR_SET), serviceNames);
  server.add(ServerReflectionService, implementation);
  const v1 = ServerReflectionService.serverReflectionInfo;
  const v1alpha = {
    serverReflectionInfo: { ...v1, path: "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo" },
  } as unknown as typeof ServerReflectionService;
  server.add(v1alpha, implementation);
}
