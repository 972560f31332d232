#!/usr/bin/env node
/*
 * ort_bench.js: throughput of ONNX Runtime's CPU execution provider (npm onnxruntime-node) on the
 * same model and inputs as bench_model, batch 1, one sample per session.run(), one thread
 * (intraOpNumThreads 1, interOpNumThreads 1, sequential execution).
 *
 * Inputs: --inputs FILE, the raw float32 samples bench_model --dump-inputs wrote (sample after
 * sample, the model's input shape each); without it, the same deterministic pseudo-random values
 * as bench_model (LCG, [-1, 1)). --outputs FILE (bench_model --dump-outputs) makes the script
 * compare ORT's output 0 with qcal's and print the largest absolute difference.
 *
 * For each graph optimization level (--levels, default "all,disabled"): warm-up passes, then
 * --rounds timed rounds of P passes over the samples, P being --passes or more so that a round
 * lasts at least --min-time seconds (judged from the last warm-up pass); samples/s per round,
 * median and best.
 * The timing includes the Node binding's per-call cost (promise, output tensor); --profile also
 * runs one pass with ORT's profiler and prints ORT's own per-node kernel times and the median
 * in-ORT model_run time, to separate the binding overhead from the kernels.
 *
 * Last lines, machine-readable, one per level:
 *   RESULT ort level=L samples=N median_sps=X best_sps=Y median_us=U
 *
 * Usage: node ort_bench.js [--inputs F] [--outputs F] [--count N] [--rounds R] [--passes P]
 *                          [--min-time S] [--warmup W] [--levels all,disabled] [--profile]
 *                          MODEL.onnx
 */
'use strict';

const fs = require('fs');
const os = require('os');
const path = require('path');
const ort = require('onnxruntime-node');

function parseArgs(argv) {
  const o = {
    model: null, inputs: null, outputs: null, count: 300, rounds: 9, passes: 1, warmup: 2,
    minTime: 0.25,
    levels: ['all', 'disabled'], profile: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const v = argv[i + 1];
    switch (a) {
      case '--inputs': o.inputs = v; i++; break;
      case '--outputs': o.outputs = v; i++; break;
      case '--count': o.count = parseInt(v, 10); i++; break;
      case '--rounds': o.rounds = parseInt(v, 10); i++; break;
      case '--passes': o.passes = parseInt(v, 10); i++; break;
      case '--warmup': o.warmup = parseInt(v, 10); i++; break;
      case '--min-time': o.minTime = parseFloat(v); i++; break;
      case '--levels': o.levels = v.split(','); i++; break;
      case '--profile': o.profile = true; break;
      default:
        if (a.startsWith('-')) throw new Error(`bad option ${a}`);
        o.model = a;
    }
  }
  if (!o.model || !(o.count >= 1) || !(o.rounds >= 1) || !(o.passes >= 1) ||
      !(o.warmup >= 1) || !(o.minTime >= 0)) {
    throw new Error('usage: node ort_bench.js [--inputs F] [--outputs F] [--count N] ' +
                    '[--rounds R] [--passes P] [--min-time S] [--warmup W] [--levels L,..] ' +
                    '[--profile] MODEL');
  }
  return o;
}

function median(v) {
  const s = [...v].sort((a, b) => a - b);
  const n = s.length;
  return n % 2 ? s[(n - 1) / 2] : 0.5 * (s[n / 2 - 1] + s[n / 2]);
}

/* The same generator as bench_model's make_inputs (uint32 LCG, top 24 bits -> [-1, 1)). */
function pseudoRandom(n, k) {
  const x = new Float32Array(n);
  let seed = (12345 + Math.imul(7919, k)) >>> 0;
  for (let i = 0; i < n; i++) {
    seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
    x[i] = Math.fround(Math.fround((seed >>> 8) * (1 / 8388608)) - 1);
  }
  return x;
}

function readRaw(file) {
  const buf = fs.readFileSync(file);
  return new Float32Array(buf.buffer, buf.byteOffset, buf.byteLength / 4);
}

function sessionOptions(level, profilePrefix) {
  const so = {
    executionProviders: ['cpu'],
    intraOpNumThreads: 1,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: level,
  };
  if (profilePrefix) {
    so.enableProfiling = true;
    so.profileFilePrefix = profilePrefix;
  }
  return so;
}

async function runPass(session, feeds, outName, keep) {
  for (let s = 0; s < feeds.length; s++) {
    const r = await session.run(feeds[s]);
    if (keep) keep[s] = r[outName].data;
  }
}

/* Per-node kernel times (us/sample) and the median model_run duration from an ORT profile. */
function summarizeProfile(file, samples) {
  const events = JSON.parse(fs.readFileSync(file, 'utf8'));
  const nodes = new Map();
  const runs = [];
  for (const e of events) {
    if (e.cat === 'Session' && e.name === 'model_run') runs.push(e.dur);
    if (e.cat !== 'Node' || !e.name.endsWith('_kernel_time')) continue;
    const name = e.name.slice(0, -'_kernel_time'.length);
    const cur = nodes.get(name) || { op: e.args ? e.args.op_name : '?', us: 0 };
    cur.us += e.dur;
    nodes.set(name, cur);
  }
  return { nodes, runUs: runs.length ? median(runs) : NaN, samples };
}

async function benchLevel(o, level, feeds, inName, outName, qcalOut, outLen) {
  const session = await ort.InferenceSession.create(o.model, sessionOptions(level));
  const outs = new Array(feeds.length);
  let t0 = process.hrtime.bigint();
  await runPass(session, feeds, outName, outs);
  let passT = Number(process.hrtime.bigint() - t0) * 1e-9;
  for (let w = 1; w < o.warmup; w++) {
    t0 = process.hrtime.bigint();
    await runPass(session, feeds, outName, null);
    passT = Number(process.hrtime.bigint() - t0) * 1e-9;
  }
  const passes = o.passes * passT >= o.minTime ? o.passes :
    (passT > 0 ? Math.floor(o.minTime / passT) + 1 : 1000);
  console.log(`[${level}] rounds ${o.rounds} x ${passes} pass(es)`);
  if (qcalOut) {
    let maxd = 0;
    for (let s = 0; s < feeds.length; s++) {
      for (let i = 0; i < outLen; i++) {
        const d = Math.abs(outs[s][i] - qcalOut[s * outLen + i]);
        if (!(d <= maxd)) maxd = d; /* NaN propagates */
      }
    }
    console.log(`[${level}] max |ORT - qcal| over ${feeds.length} x ${outLen} outputs: ` +
                `${maxd.toExponential(2)}`);
  }
  const sps = [];
  for (let r = 0; r < o.rounds; r++) {
    t0 = process.hrtime.bigint();
    for (let p = 0; p < passes; p++) await runPass(session, feeds, outName, null);
    const dt = Number(process.hrtime.bigint() - t0) * 1e-9;
    sps.push(feeds.length * passes / dt);
    console.log(`[${level}] round ${String(r + 1).padStart(2)}: ` +
                `${sps[r].toFixed(1).padStart(10)} samples/s`);
  }
  await session.release();
  const med = median(sps);
  const best = Math.max(...sps);
  console.log(`ORT [${level}]: median ${med.toFixed(1)} samples/s ` +
              `(${(1e6 / med).toFixed(2)} us/sample), best ${best.toFixed(1)} samples/s ` +
              `(${(1e6 / best).toFixed(2)} us/sample)`);

  if (o.profile) {
    const prefix = path.join(os.tmpdir(), `ort_bench_${process.pid}_${level}`);
    const ps = await ort.InferenceSession.create(o.model, sessionOptions(level, prefix));
    await runPass(ps, feeds, outName, null);
    await runPass(ps, feeds, outName, null);
    /* endProfiling() is not exposed by the Node binding; release() writes the file. */
    await ps.release();
    const file = fs.readdirSync(os.tmpdir())
      .filter((f) => f.startsWith(path.basename(prefix)) && f.endsWith('.json'))
      .map((f) => path.join(os.tmpdir(), f))[0];
    if (file) {
      const prof = summarizeProfile(file, 2 * feeds.length);
      fs.unlinkSync(file);
      console.log(`[${level}] ORT profiler (2 passes): in-ORT model_run median ` +
                  `${prof.runUs.toFixed(2)} us; per node (us/sample):`);
      let sum = 0;
      for (const v of prof.nodes.values()) sum += v.us;
      for (const [name, v] of prof.nodes) {
        const us = v.us / prof.samples;
        console.log(`  ${name.padEnd(40).slice(0, 40)} ${String(v.op).padEnd(18)} ` +
                    `${us.toFixed(2).padStart(9)} ${(100 * v.us / sum).toFixed(1).padStart(6)}%`);
      }
      console.log(`  ${'(sum of kernels)'.padEnd(40)} ${''.padEnd(18)} ` +
                  `${(sum / prof.samples).toFixed(2).padStart(9)}`);
    } else {
      console.log(`[${level}] ORT profiler wrote no file`);
    }
  }
  return { level, med, best };
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  const probe = await ort.InferenceSession.create(o.model, sessionOptions('disabled'));
  const inName = probe.inputNames[0];
  const outName = probe.outputNames[0];
  const meta = probe.inputMetadata ? probe.inputMetadata[0] : null;
  const outMeta = probe.outputMetadata ? probe.outputMetadata[0] : null;
  await probe.release();
  if (!meta || !meta.shape) throw new Error('cannot read the input shape from the session');
  if (probe.inputNames.length !== 1) throw new Error('only single-input models are supported');
  /* Symbolic dims: batch 1 and 1 elsewhere, as bench_model prepares them. */
  const shape = meta.shape.map((d) => (typeof d === 'number' && d > 0 ? d : 1));
  const n = shape.reduce((a, b) => a * b, 1);
  const outLen = outMeta && outMeta.shape ?
    outMeta.shape.map((d) => (typeof d === 'number' && d > 0 ? d : 1)).reduce((a, b) => a * b, 1) :
    0;

  let data;
  if (o.inputs) {
    data = readRaw(o.inputs);
    if (data.length % n !== 0) throw new Error(`${o.inputs}: not a multiple of ${n} floats`);
    o.count = Math.min(o.count, data.length / n);
  } else {
    data = pseudoRandom(o.count * n, 0);
  }
  const qcalOut = o.outputs && outLen ? readRaw(o.outputs) : null;
  if (qcalOut && qcalOut.length < o.count * outLen) {
    throw new Error(`${o.outputs}: fewer than ${o.count} x ${outLen} floats`);
  }
  const feeds = [];
  for (let s = 0; s < o.count; s++) {
    feeds.push({ [inName]: new ort.Tensor('float32', data.subarray(s * n, (s + 1) * n), shape) });
  }
  console.log(`onnxruntime-node ${require('onnxruntime-node/package.json').version}, ` +
              `model ${o.model}, input '${inName}' [${shape.join(',')}], samples ${o.count} ` +
              `(${o.inputs || 'pseudo-random'}), warm-up passes ${o.warmup}, 1 thread`);
  const results = [];
  for (const level of o.levels) {
    results.push(await benchLevel(o, level, feeds, inName, outName, qcalOut, outLen));
  }
  for (const r of results) {
    console.log(`RESULT ort level=${r.level} samples=${o.count} median_sps=${r.med.toFixed(1)} ` +
                `best_sps=${r.best.toFixed(1)} median_us=${(1e6 / r.med).toFixed(2)}`);
  }
}

main().catch((e) => {
  console.error(`ort_bench: ${e.message}`);
  process.exit(1);
});
