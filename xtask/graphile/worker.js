// One graphile-worker process of `drain.js`: it connects its pool and loads its task first,
// says `ready`, and runs `runOnce` (until no runnable job is left) when told `go`, so the
// drain's time holds neither Node.js's start nor the connections' set-up.
//
// Settings are those of graphile-worker's own perfTest (perfTest/graphile.config.js): 24
// concurrent jobs, a pool of 25, a local queue that fetches 500 jobs at a time, and
// completions sent in batches.
"use strict";

const path = require("path");
const { Pool } = require("pg");

const { runOnce } = require(path.join(__dirname, "node_modules", "graphile-worker"));

const concurrentJobs = 24;

async function main() {
  const pgPool = new Pool({ connectionString: process.env.DATABASE_URL, max: concurrentJobs + 1 });
  pgPool.on("error", (err) => {
    process.stderr.write(`worker.js: a pooled connection failed: ${err.message}\n`);
    process.exit(1);
  });
  pgPool.on("connect", (client) =>
    client.on("error", (err) => {
      process.stderr.write(`worker.js: a connection failed: ${err.message}\n`);
      process.exit(1);
    }),
  );
  // Open every connection of the pool before the clock starts, as the bench's own runner
  // drains from a warm pool.
  const clients = await Promise.all(Array.from({ length: concurrentJobs + 1 }, () => pgPool.connect()));
  clients.forEach((client) => client.release());
  process.stdout.write("ready\n");
  await new Promise((resolve) => process.stdin.once("data", resolve));
  await runOnce(
    {
      pgPool,
      taskList: { noop: async () => {} },
      noHandleSignals: true,
      preset: {
        worker: {
          concurrentJobs,
          maxPoolSize: concurrentJobs + 1,
          localQueue: { size: 500, refetchDelay: { durationMs: 10 } },
          completeJobBatchDelay: 0,
          failJobBatchDelay: 0,
        },
      },
    },
  );
  await pgPool.end();
}

main().catch((err) => {
  process.stderr.write(`worker.js: ${err.stack || err}\n`);
  process.exit(1);
});
