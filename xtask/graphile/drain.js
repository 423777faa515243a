#!/usr/bin/env node
// Drains preloaded no-op jobs with graphile-worker in several processes at once (worker.js),
// timed from the moment every process has its pool connected and is told to go until the
// last one exits. Every repetition loads the jobs anew and counts the jobs left behind, so
// the figure printed is the jobs counted.
//
//   DATABASE_URL=postgres://... node drain.js --jobs 100000 --processes 4 --reps 3
//
// Prints one JSON object on stdout; progress goes to stderr.
"use strict";

const { execFileSync, spawn } = require("child_process");
const path = require("path");
const { Client } = require("pg");

// The package exports no subpaths: its files are found from its own directory.
const packageDir = path.join(__dirname, "node_modules", "graphile-worker");
const cli = path.join(packageDir, "dist", "cli.js");

function parseArgs(argv) {
  const args = { jobs: 100000, processes: 4, reps: 3 };
  for (let i = 0; i < argv.length; i += 2) {
    const name = argv[i].replace(/^--/, "");
    const value = Number.parseInt(argv[i + 1], 10);
    if (!(name in args) || !Number.isInteger(value) || value < 1) {
      throw new Error(`bad argument ${argv[i]} ${argv[i + 1]}: expected --jobs, --processes or --reps with a positive integer`);
    }
    args[name] = value;
  }
  return args;
}

/** Starts `processes` worker.js processes, waits until each is ready, tells them all to go
 * and resolves to the milliseconds from then until the last one exited. */
async function drain(processes) {
  const children = [];
  for (let i = 0; i < processes; i++) {
    const child = spawn(process.execPath, [path.join(__dirname, "worker.js")], {
      cwd: __dirname,
      stdio: ["pipe", "pipe", "inherit"],
    });
    const ready = new Promise((resolve, reject) => {
      child.stdout.once("data", (data) =>
        String(data).startsWith("ready") ? resolve() : reject(new Error(`worker.js said ${data}`)),
      );
      child.once("exit", (code) => reject(new Error(`worker.js exited with ${code} before it was ready`)));
    });
    const exited = new Promise((resolve, reject) => {
      child.once("error", reject);
      child.once("exit", (code) => (code === 0 ? resolve() : reject(new Error(`worker.js exited with ${code}`))));
    });
    children.push({ child, ready, exited });
  }
  await Promise.all(children.map((c) => c.ready));
  const started = process.hrtime.bigint();
  for (const { child } of children) child.stdin.end("go\n");
  await Promise.all(children.map((c) => c.exited));
  return Number(process.hrtime.bigint() - started) / 1e6;
}

async function pending(client) {
  const { rows } = await client.query("select count(*)::bigint as n from graphile_worker._private_jobs");
  return Number(rows[0].n);
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  if (!process.env.DATABASE_URL) {
    throw new Error("DATABASE_URL is not set: the database graphile-worker installs its schema in");
  }
  execFileSync(process.execPath, [cli, "--schema-only"], { cwd: __dirname, stdio: ["ignore", "ignore", "inherit"] });
  const client = new Client({ connectionString: process.env.DATABASE_URL });
  await client.connect();
  try {
    if ((await pending(client)) !== 0) {
      throw new Error("graphile_worker._private_jobs is not empty before the drain");
    }
    const runs = [];
    for (let rep = 0; rep < args.reps; rep++) {
      const jobs = [];
      for (let i = 0; i < args.jobs; i++) jobs.push({ identifier: "noop", payload: { id: i } });
      await client.query(
        "select 1 from graphile_worker.add_jobs(array(select json_populate_recordset(null::graphile_worker.job_spec, $1::json)))",
        [JSON.stringify(jobs)],
      );
      await client.query("vacuum analyze graphile_worker._private_jobs");
      const loaded = await pending(client);
      if (loaded !== args.jobs) {
        throw new Error(`loaded ${loaded} jobs, expected ${args.jobs}`);
      }
      const ms = await drain(args.processes);
      const left = await pending(client);
      const done = loaded - left;
      if (left !== 0) {
        throw new Error(`graphile-worker left ${left} of ${loaded} jobs`);
      }
      const run = { jobs: done, ms, jobs_per_sec: (1000 * done) / ms };
      process.stderr.write(
        `graphile-worker ${args.processes} processes: ${done} jobs in ${ms.toFixed(0)} ms, ${run.jobs_per_sec.toFixed(0)} jobs/s\n`,
      );
      runs.push(run);
    }
    const { version } = require(path.join(packageDir, "package.json"));
    process.stdout.write(
      `${JSON.stringify({ version, processes: args.processes, runs })}\n`,
    );
  } finally {
    await client.end();
  }
}

main().catch((err) => {
  process.stderr.write(`drain.js: ${err.message}\n`);
  process.exit(1);
});
