import { DlogError } from "../errors.js";
import { HealthCheckResponse_ServingStatus as Serving, type HealthServiceImplementation } from "../gen/grpc/health/v1/health.js";

export interface HealthState {
  /** Services reported as SERVING while the server is up; "" stands for the whole server. */
  services: ReadonlySet<string>;
  isServing(): boolean;
  /** Resolves when the server starts shutting down. */
  stopping: Promise<void>;
  /** Calls `listener` whenever `isServing()` may have changed (the store broke or recovered); returns an unsubscribe. */
  onChange?(listener: () => void): () => void;
}

/** grpc.health.v1.Health: SERVING while up, NOT_SERVING once shutdown has begun or while the store is broken. */
export function createHealthService(state: HealthState): HealthServiceImplementation {
  const statusOf = (service: string): Serving => {
    if (service !== "" && !state.services.has(service)) {
      throw new DlogError("NOT_FOUND", `unknown service "${service}"; known: ${[...state.services].join(", ")}`, {
        reason: "SERVICE_NOT_FOUND",
        metadata: { service },
      });
    }
    return state.isServing() ? Serving.SERVING : Serving.NOT_SERVING;
  };
  return {
    async check(request) {
      return { status: statusOf(request.service) };
    },
    async *watch(request, context) {
      let status = statusOf(request.service);
      yield { status };
      let stopped = false;
      void state.stopping.then(() => (stopped = true));
      while (!stopped && !context.signal.aborted) {
        let unsubscribe = (): void => undefined;
        await Promise.race([
          state.stopping,
          new Promise<void>((resolve) => {
            unsubscribe = state.onChange?.(resolve) ?? unsubscribe;
            context.signal.addEventListener("abort", () => resolve(), { once: true });
          }),
        ]);
        unsubscribe();
        if (context.signal.aborted) return;
        const now = state.isServing() ? Serving.SERVING : Serving.NOT_SERVING;
        if (now !== status) yield { status: (status = now) };
      }
    },
  };
}
