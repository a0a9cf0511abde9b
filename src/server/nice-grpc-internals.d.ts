// nice-grpc 2.1.18's own per-call handlers and definition helpers (lib/, no "exports" map), which its
// createServer uses; their published .d.ts are empty (@internal), so their shapes are declared here.
declare module "nice-grpc/lib/server/handleUnaryCall.js" {
  export function createUnaryMethodHandler(definition: unknown, implementation: unknown, middleware: unknown): import("@grpc/grpc-js").UntypedHandleCall;
}
declare module "nice-grpc/lib/server/handleServerStreamingCall.js" {
  export function createServerStreamingMethodHandler(
    definition: unknown,
    implementation: unknown,
    middleware: unknown,
  ): import("@grpc/grpc-js").UntypedHandleCall;
}
declare module "nice-grpc/lib/server/handleClientStreamingCall.js" {
  export function createClientStreamingMethodHandler(
    definition: unknown,
    implementation: unknown,
    middleware: unknown,
  ): import("@grpc/grpc-js").UntypedHandleCall;
}
declare module "nice-grpc/lib/server/handleBidiStreamingCall.js" {
  export function createBidiStreamingMethodHandler(
    definition: unknown,
    implementation: unknown,
    middleware: unknown,
  ): import("@grpc/grpc-js").UntypedHandleCall;
}
declare module "nice-grpc/lib/service-definitions/index.js" {
  export function normalizeServiceDefinition(definition: unknown): Record<string, { path: string; requestStream: boolean; responseStream: boolean }>;
  export function toGrpcJsServiceDefinition(definition: unknown): import("@grpc/grpc-js").ServiceDefinition;
}
