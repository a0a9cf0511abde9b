import { DlogError } from "../errors.js";
import { HealthCheckResponse_ServingStatus as Serving, type HealthServiceImplementation } from "../gen/grpc/health/v1/health.js";

export interface HealthState {
  /** Services reported as SERVING while the server is up; "" stands for the whole server. */
  services: ReadonlySet<string>;
  isServing(): boolean;
  /** Resolves when the server starts shutting down. */
  stopping: Promise<void>;
}

/** grpc.health.v1.Health: SERVING while up, NOT_SERVING once shutdown has begun. */
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
      yield { status: statusOf(request.service) };
      if (!state.isServing()) return;
      await Promise.race([
        state.stopping,
        new Promise<void>((resolve) => context.signal.addEventListener("abort", () => resolve(), { once: true })),
      ]);
      if (!context.signal.aborted) yield { status: Serving.NOT_SERVING };
    },
  };
}
