#!/usr/bin/env node
/*
 * ort_run.js: runs a model with ONNX Runtime's CPU execution provider (npm onnxruntime-node) on
 * a list of float32 .npy inputs, one sample per session.run(), and writes output 0 of every
 * sample, one after the other, as raw little-endian float32 (for tests/cli/test_qdq.sh).
 *
 * Usage: node ort_run.js --model M.onnx --list INPUTS.txt --out OUT.raw [--level disabled|all]
 *   INPUTS.txt: one .npy path per line (qcal run --all-tensors writes input.npy); each holds
 *   the model's single input ('<f4', C order, any shape).
 * Prints one line: "ort level=L samples=N output=NAME shape=[...]".
 */
'use strict';

const fs = require('fs');
const path = require('path');
const ort = require(path.join(__dirname, 'node_modules', 'onnxruntime-node'));

function parseArgs(argv) {
  const o = { model: null, list: null, out: null, level: 'disabled' };
  for (let i = 0; i < argv.length; i += 2) {
    const v = argv[i + 1];
    switch (argv[i]) {
      case '--model': o.model = v; break;
      case '--list': o.list = v; break;
      case '--out': o.out = v; break;
      case '--level': o.level = v; break;
      default: throw new Error(`bad option ${argv[i]}`);
    }
  }
  if (!o.model || !o.list || !o.out || !['disabled', 'basic', 'extended', 'all'].includes(o.level))
    throw new Error('usage: node ort_run.js --model M --list L --out O [--level disabled|all]');
  return o;
}

/*
 * Reads a .npy file (format versions 1-3): magic "\x93NUMPY", major, minor, header length
 * (2 bytes LE in v1, 4 in v2/v3), a Python dict literal header, then the data. Only '<f4' in C
 * order is accepted.
 */
function readNpy(file) {
  const buf = fs.readFileSync(file);
  if (buf.length < 10 || buf.readUInt8(0) !== 0x93 || buf.toString('latin1', 1, 6) !== 'NUMPY')
    throw new Error(`${file}: not a .npy file`);
  const major = buf.readUInt8(6);
  const hlen = major === 1 ? buf.readUInt16LE(8) : buf.readUInt32LE(8);
  const start = (major === 1 ? 10 : 12) + hlen;
  const header = buf.toString('latin1', major === 1 ? 10 : 12, start);
  const descr = /'descr'\s*:\s*'([^']*)'/.exec(header);
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(header);
  const shape = /'shape'\s*:\s*\(([^)]*)\)/.exec(header);
  if (!descr || descr[1] !== '<f4' || !fortran || fortran[1] !== 'False' || !shape)
    throw new Error(`${file}: expected a C-order '<f4' array, header ${header.trim()}`);
  const dims = shape[1].split(',').map((s) => s.trim()).filter((s) => s.length).map(Number);
  const n = dims.reduce((a, b) => a * b, 1);
  if (buf.length - start !== 4 * n)
    throw new Error(`${file}: ${buf.length - start} data bytes, shape needs ${4 * n}`);
  /* Copy: the data offset need not be 4-byte aligned. */
  const data = new Float32Array(n);
  for (let i = 0; i < n; i++)
    data[i] = buf.readFloatLE(start + 4 * i);
  return { dims, data };
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  const files = fs.readFileSync(o.list, 'utf8').split('\n').filter((s) => s.length);
  const session = await ort.InferenceSession.create(o.model, {
    executionProviders: ['cpu'],
    graphOptimizationLevel: o.level,
    intraOpNumThreads: 1,
    interOpNumThreads: 1,
    executionMode: 'sequential',
  });
  if (session.inputNames.length !== 1)
    throw new Error(`${o.model}: ${session.inputNames.length} inputs, expected 1`);
  const chunks = [];
  let shape = [];
  for (const f of files) {
    const x = readNpy(f);
    const feeds = { [session.inputNames[0]]: new ort.Tensor('float32', x.data, x.dims) };
    const res = await session.run(feeds);
    const y = res[session.outputNames[0]];
    if (y.type !== 'float32')
      throw new Error(`${o.model}: output ${session.outputNames[0]} is ${y.type}`);
    shape = y.dims;
    chunks.push(Buffer.from(y.data.buffer, y.data.byteOffset, y.data.byteLength));
  }
  fs.writeFileSync(o.out, Buffer.concat(chunks));
  console.log(`ort level=${o.level} samples=${files.length} output=${session.outputNames[0]} ` +
              `shape=[${shape.join(',')}]`);
}

main().catch((e) => {
  console.error(`ort_run.js: error: ${e.message}`);
  process.exit(1);
});
