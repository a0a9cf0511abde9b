import {
  type ChannelOptions,
  Server as GrpcJsServer,
  type ServerCredentials,
  type ServiceDefinition,
  type UntypedHandleCall,
  ServerCredentials as Credentials,
} from "@grpc/grpc-js";
import type { CompatServiceDefinition, Server, ServerAddBuilder, ServerMiddleware, ServiceImplementation } from "nice-grpc";
import { composeServerMiddleware } from "nice-grpc-common";
import { createBidiStreamingMethodHandler } from "nice-grpc/lib/server/handleBidiStreamingCall.js";
import { createClientStreamingMethodHandler } from "nice-grpc/lib/server/handleClientStreamingCall.js";
import { createServerStreamingMethodHandler } from "nice-grpc/lib/server/handleServerStreamingCall.js";
import { createUnaryMethodHandler } from "nice-grpc/lib/server/handleUnaryCall.js";
import { normalizeServiceDefinition, toGrpcJsServiceDefinition } from "nice-grpc/lib/service-definitions/index.js";

/** nice-grpc's server, plus methods served by a grpc-js handler of their own. */
export type GrpcServer<Ext = object> = Omit<Server<Ext>, "use"> & {
  use<E>(middleware: ServerMiddleware<E, Ext>): GrpcServer<Ext & E>;
  /**
   * Serves `definition` (grpc-js form: path, codec) with `handler` straight on grpc-js: no nice-grpc
   * middleware runs, so the handler does what they would (status mapping, metrics, authorization).
   * The server's grpc-js interceptors still run.
   */
  addHandler(definition: ServiceDefinition, handlers: Record<string, UntypedHandleCall>): void;
};

type Entry =
  | {
      kind: "nice";
      definition: ReturnType<typeof normalizeServiceDefinition>;
      middleware: ServerMiddleware | undefined;
      implementation: Record<string, unknown>;
    }
  | { kind: "raw"; definition: ServiceDefinition; handlers: Record<string, UntypedHandleCall> };

/**
 * nice-grpc's `createServer` (2.1.18, same handlers, same order of middleware), with one addition:
 * `addHandler`. A session is a long-lived call that mostly sits idle, and nice-grpc's layers (an async
 * generator per middleware and direction, an AbortController, three Metadata maps) cost more heap per
 * idle session than grpc-js's own stream; the Session method is served by a grpc-js handler instead.
 */
export function createGrpcServer(options: ChannelOptions = {}): GrpcServer {
  const entries: Entry[] = [];
  let server: GrpcJsServer | undefined;

  function addBuilder(middleware: ServerMiddleware | undefined): ServerAddBuilder<object> {
    return {
      with(next: ServerMiddleware) {
        return addBuilder(middleware === undefined ? next : (composeServerMiddleware(middleware, next) as ServerMiddleware));
      },
      add<Service extends CompatServiceDefinition>(definition: Service, implementation: ServiceImplementation<Service, object>) {
        if (server !== undefined) throw new Error("server.add() must be used before listen()");
        entries.push({
          kind: "nice",
          definition: normalizeServiceDefinition(definition),
          middleware,
          implementation: implementation as Record<string, unknown>,
        });
      },
    } as ServerAddBuilder<object>;
  }

  function withMiddleware(middleware: ServerMiddleware | undefined): GrpcServer {
    return {
      use(next: ServerMiddleware) {
        if (server !== undefined) throw new Error("server.use() must be used before listen()");
        if (entries.length > 0) throw new Error("server.use() must be used before adding any services");
        return withMiddleware(middleware === undefined ? next : (composeServerMiddleware(middleware, next) as ServerMiddleware));
      },
      ...addBuilder(middleware),
      addHandler(definition, handlers) {
        if (server !== undefined) throw new Error("server.addHandler() must be used before listen()");
        entries.push({ kind: "raw", definition, handlers });
      },
      async listen(address: string, credentials?: ServerCredentials) {
        if (server !== undefined) throw new Error("server.listen() has already been called");
        const grpcServer = new GrpcJsServer(options);
        server = grpcServer;
        for (const entry of entries) {
          if (entry.kind === "raw") grpcServer.addService(entry.definition, entry.handlers);
          else grpcServer.addService(toGrpcJsServiceDefinition(entry.definition), niceHandlers(entry));
        }
        return new Promise<number>((resolve, reject) => {
          grpcServer.bindAsync(address, credentials ?? Credentials.createInsecure(), (error, port) => {
            if (error) {
              server = undefined;
              reject(error);
            } else resolve(port);
          });
        });
      },
      async shutdown() {
        const running = server;
        if (running === undefined) return;
        await new Promise<void>((resolve, reject) => running.tryShutdown((error) => (error ? reject(error) : resolve())));
        server = undefined;
      },
      forceShutdown() {
        server?.forceShutdown();
        server = undefined;
      },
    } as GrpcServer;
  }

  return withMiddleware(undefined);
}

function niceHandlers(entry: Extract<Entry, { kind: "nice" }>): Record<string, UntypedHandleCall> {
  const handlers: Record<string, UntypedHandleCall> = {};
  for (const [name, method] of Object.entries(entry.definition)) {
    const implementation = (entry.implementation[name] as (...args: unknown[]) => unknown).bind(entry.implementation);
    const create = method.requestStream
      ? method.responseStream
        ? createBidiStreamingMethodHandler
        : createClientStreamingMethodHandler
      : method.responseStream
        ? createServerStreamingMethodHandler
        : createUnaryMethodHandler;
    handlers[name] = create(method, implementation, entry.middleware);
  }
  return handlers;
}
