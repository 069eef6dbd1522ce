#!/usr/bin/env node
// pmq-summary.mjs -- pmq's own columns from RESULT json lines, next to the
// peers' summarize.mjs table: CPU per component (pmqd, PostgreSQL, Redis),
// what PostgreSQL holds after the drain, latency from created_at, the load
// average of each run, and the issue's targets against the best peer of the
// same file(s).
//   node tests/bench/pmq-summary.mjs results/run-XXXX.jsonl [more.jsonl ...]
import { readFileSync } from 'node:fs';

const files = process.argv.slice(2);
if (!files.length) { console.error('usage: pmq-summary.mjs FILE.jsonl...'); process.exit(1); }
const rows = [];
for (const f of files)
  for (const line of readFileSync(f, 'utf8').split('\n')) {
    if (!line.trim()) continue;
    try { rows.push(JSON.parse(line)); } catch {}
  }
const median = (a) => {
  const s = a.filter((v) => v != null && !Number.isNaN(v)).sort((x, y) => x - y);
  if (!s.length) return NaN;
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const fmt = (v, d = 0) => (v == null || Number.isNaN(v) ? 'n/a'
  : Number(v).toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d }));
const agg = (vals, d = 0) => {
  vals = vals.filter((v) => v != null && !Number.isNaN(v));
  if (!vals.length) return 'n/a';
  if (vals.length === 1) return fmt(vals[0], d);
  return `${fmt(median(vals), d)} [${fmt(Math.min(...vals), d)}–${fmt(Math.max(...vals), d)}]`;
};
const key = (r) => Object.entries(r.settings || {})
  .filter(([k]) => !['rates', 'duration', 'idleSamples', 'idleInterval', 'chunk'].includes(k))
  .map(([k, v]) => `${k}=${v}`).join(' ');
const group = (rs, kf) => {
  const m = new Map();
  for (const r of rs) { const k = kf(r); if (!m.has(k)) m.set(k, []); m.get(k).push(r); }
  return m;
};
const ok = rows.filter((r) => !r.error);
const pmq = ok.filter((r) => r.peer === 'pmq');

const tp = pmq.filter((r) => r.mode === 'throughput');
if (tp.length) {
  console.log('### pmq throughput: CPU per job by component, what PostgreSQL holds (median [min–max])\n');
  console.log('| settings | runs | enqueue jobs/s | drain jobs/s | pmqd µs/job | PostgreSQL µs/job | Redis µs/job | total µs/job | CPU s per 1,000 jobs | completed / job_logs rows | pmqd warnings+errors / entries left in pmq:active | other CPU-s (noise) | load avg (1 min) |');
  console.log('|---|---|---|---|---|---|---|---|---|---|---|---|---|');
  for (const [k, rs] of group(tp, key)) {
    const v = rs.map((r) => r.verified || {});
    const allOk = v.every((x) => x.completed >= (r0(rs).settings.jobs) && x.completed_without_log === 0);
    console.log(`| ${k} | ${rs.length} | ${agg(rs.map((r) => r.enqueue_jobs_per_s))} | ${agg(rs.map((r) => r.process_jobs_per_s))} | ${agg(rs.map((r) => r.worker_cpu_us_per_job))} | ${agg(rs.map((r) => r.pg_cpu_us_per_job))} | ${agg(rs.map((r) => r.redis_cpu_us_per_job))} | ${agg(rs.map((r) => r.total_cpu_us_per_job))} | ${agg(rs.map((r) => r.cpu_s_per_1000_jobs), 3)} | ${v.map((x) => `${fmt(x.completed)}/${fmt(x.job_logs_completed)}`).join(', ')}${allOk ? '' : ' ⚠'} | ${rs.map((r) => `${r.pmqd_log_problems?.count ?? 'n/a'} / ${fmt(r.redis_active_left)}`).join(', ')} | ${agg(rs.map((r) => r.process_other_cpu_s), 1)} | ${agg(rs.map((r) => r.host?.loadavg?.[0]), 1)} |`);
  }
  console.log('');
}
function r0(rs) { return rs[0]; }

const lat = pmq.filter((r) => r.mode === 'latency');
if (lat.length) {
  console.log('### pmq latency, ms: "sent" = enqueue call issued → handler start (the peers\' definition); "created" = jobs.created_at → jobs.started_at\n');
  console.log('| settings | load | runs | achieved jobs/s | sent p50 | sent p95 | sent p99 | sent max | created p50 | created p99 | enqueue call p50 | PostgreSQL CPU s | Redis CPU s | pmqd CPU s | load avg (1 min) |');
  console.log('|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|');
  const phases = [];
  for (const r of lat) for (const p of r.phases) phases.push({ ...p, settings: r.settings });
  for (const [k, ps] of group(phases, (p) => `${key(p)}\t${p.phase}`)) {
    const [settings, phase] = k.split('\t');
    const load = phase === 'idle' ? 'idle (1 job/100 ms)' : `${phase}/s open loop`;
    const warn = phase !== 'idle' && ps.some((p) => p.achieved_rate < 0.95 * p.target_rate) ? ' ⚠' : '';
    console.log(`| ${settings} | ${load} | ${ps.length} | ${agg(ps.map((p) => p.achieved_rate))}${warn} | ${agg(ps.map((p) => p.lat_ms.p50), 2)} | ${agg(ps.map((p) => p.lat_ms.p95), 2)} | ${agg(ps.map((p) => p.lat_ms.p99), 2)} | ${agg(ps.map((p) => p.lat_ms.max), 1)} | ${agg(ps.map((p) => p.lat_created_ms?.p50), 2)} | ${agg(ps.map((p) => p.lat_created_ms?.p99), 2)} | ${agg(ps.map((p) => p.enqueue_call_ms?.p50), 2)} | ${agg(ps.map((p) => p.pg_cpu_s), 1)} | ${agg(ps.map((p) => p.redis_cpu_s), 1)} | ${agg(ps.map((p) => p.worker_cpu_s), 1)} | ${agg(ps.map((p) => p.loadavg_1m), 1)} |`);
  }
  console.log('');
}

// The issue's targets, against the best peer measured in the same file(s).
const std = (r) => r.mode === 'throughput' && r.settings.concurrency === 50 && r.settings.workers === 1
  && !r.settings.payloadBytes && !r.settings.backlog;
const peersTp = ok.filter((r) => r.peer !== 'pmq' && std(r));
const best = (f) => {
  const byPeer = group(peersTp, (r) => r.peer);
  let b = null;
  for (const [p, rs] of byPeer) { const m = median(rs.map(f)); if (b === null || m > b.v) b = { peer: p, v: m }; }
  return b;
};
const pmqStd = tp.filter(std);
if (pmqStd.length || lat.length) {
  console.log('### Targets (doc/performance.md)\n');
  console.log('| target | goal | measured (median) | met? |');
  console.log('|---|---|---|---|');
  const yes = (c) => (c ? 'yes' : '**no**');
  if (pmqStd.length) {
    const drain = median(pmqStd.map((r) => r.process_jobs_per_s));
    const bd = best((r) => r.process_jobs_per_s);
    const goal = bd ? 2 * bd.v : 15000;
    console.log(`| drain 1 × 50 | ≥ 2 × best peer${bd ? ` (${bd.peer} ${fmt(bd.v)} in this run)` : ' (~15,000 jobs/s)'} = ${fmt(goal)} jobs/s | ${fmt(drain)} | ${yes(drain >= goal)} |`);
    const cpu = median(pmqStd.map((r) => r.total_cpu_us_per_job));
    console.log(`| total CPU per job (pmqd + PostgreSQL + Redis) | ≤ 100 µs | ${fmt(cpu)} µs | ${yes(cpu <= 100)} |`);
    const enq = median(pmqStd.map((r) => r.enqueue_jobs_per_s));
    const be = best((r) => r.enqueue_jobs_per_s);
    const egoal = ok.some((r) => r.peer === 'graphile-worker' && std(r))
      ? median(ok.filter((r) => r.peer === 'graphile-worker' && std(r)).map((r) => r.enqueue_jobs_per_s)) : 28000;
    console.log(`| bulk enqueue | ≥ graphile-worker add_jobs (${fmt(egoal)} jobs/s${be ? '' : ', their published run'}) | ${fmt(enq)} | ${yes(enq >= egoal)} |`);
    const logsOk = pmqStd.every((r) => r.verified && r.verified.completed_without_log === 0 && r.verified.completed >= r.settings.jobs);
    console.log(`| every job completed in PostgreSQL with a job_logs row | all runs | ${logsOk ? 'all runs' : 'not all'} | ${yes(logsOk)} |`);
  }
  const ph = (name) => lat.flatMap((r) => r.phases.filter((p) => p.phase === name));
  const p2k = ph('2000'), pidle = ph('idle');
  if (p2k.length) {
    const a = median(p2k.map((p) => p.lat_ms.p99)), c = median(p2k.map((p) => p.lat_created_ms?.p99));
    const ach = median(p2k.map((p) => p.achieved_rate));
    console.log(`| latency p99 at 2,000 jobs/s | ≤ 10 ms | ${fmt(a, 2)} ms sent→start, ${fmt(c, 2)} ms created→start (achieved ${fmt(ach)} jobs/s) | ${yes(a <= 10 && ach >= 1900)} |`);
  }
  if (pidle.length) {
    const a = median(pidle.map((p) => p.lat_ms.p50)), c = median(pidle.map((p) => p.lat_created_ms?.p50));
    console.log(`| idle latency p50 | ≤ 2 ms | ${fmt(a, 2)} ms sent→start, ${fmt(c, 2)} ms created→start | ${yes(a <= 2)} |`);
  }
  const bl = tp.filter((r) => r.settings.backlog || r.tag === 'scaling' && r.settings.jobs === 10000);
  if (bl.length >= 2) {
    const s = bl.map((r) => `${fmt(r.settings.backlog || r.settings.jobs)}: ${fmt(r.process_jobs_per_s)}`).join('; ');
    console.log(`| drain flat from 10k to 1M backlog | within noise | ${s} jobs/s | see text |`);
  }
  console.log('');
}
const fails = rows.filter((r) => r.error && r.peer === 'pmq');
if (fails.length) {
  console.log('### pmq: failed runs\n');
  for (const r of fails) console.log(`- ${r.mode} ${key(r)}: ${String(r.error).split('\n')[0]}`);
}
