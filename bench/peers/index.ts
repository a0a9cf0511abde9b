/** Reference measurements: raw limits (LevelDB, grpc-js) and peer systems (NATS, Redis). */
export { isSkipped, skipped, type Measurement, type PeerOptions } from "./measurement.js";
export { missingBinary, which } from "./support.js";
export { batchPuts, nextvScan, singlePuts } from "./raw-level.js";
export { rawGrpcStream, type RawGrpcOptions } from "./raw-grpc.js";
export { startRawGrpcServer, type RawServerConfig } from "./raw-grpc-server.js";
export { NATS_ROWS, natsJetStream, type NatsOptions } from "./nats.js";
export { REDIS_ROWS, redisStreams, type RedisOptions } from "./redis.js";
