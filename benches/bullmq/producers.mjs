// The BullMQ side of bench-all's "producers" scenario: PRODUCERS concurrent producers add JOBS jobs (each awaits
// its `add` before the next, as a request handler awaits its insert), while one Worker with CONCURRENCY completes
// them with an instant processor (as the engine's fake transport answers at once). Time from the first add to the
// last `completed` event. Completed jobs are kept (BullMQ's default), as whatsapi keeps its messages.
//
//   REDIS_PORT=6390 JOBS=50000 PRODUCERS=64 CONCURRENCY=64 node producers.mjs   # prints one JSON line
import { Queue, Worker } from "bullmq";

const env = (k, d) => Number(process.env[k] ?? d);
const connection = { host: "127.0.0.1", port: env("REDIS_PORT", 6379) };
const JOBS = env("JOBS", 50000), PRODUCERS = env("PRODUCERS", 64), CONCURRENCY = env("CONCURRENCY", 64);
const name = `bench-${process.pid}`;

const queue = new Queue(name, { connection });
await queue.obliterate({ force: true }).catch(() => {});
let done = 0;
let finish;
const finished = new Promise((r) => (finish = r));
const worker = new Worker(name, async () => "sent", { connection, concurrency: CONCURRENCY });
worker.on("completed", () => { if (++done === JOBS) finish(); });
worker.on("failed", (_, e) => { console.error(e); process.exit(1); });
await worker.waitUntilReady();

const start = performance.now();
await Promise.all(Array.from({ length: PRODUCERS }, async (_, p) => {
  for (let i = p; i < JOBS; i += PRODUCERS) {
    await queue.add("send", { to: "14155552671", body: "Your order #1234 has shipped and will arrive on Tuesday." });
  }
}));
const added = performance.now();
await finished;
const seconds = (performance.now() - start) / 1000;
console.log(JSON.stringify({ jobs: JOBS, producers: PRODUCERS, concurrency: CONCURRENCY, seconds, per_s: JOBS / seconds, add_seconds: (added - start) / 1000 }));
await worker.close();
await queue.obliterate({ force: true }).catch(() => {});
await queue.close();
process.exit(0);
