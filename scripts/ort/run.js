#!/usr/bin/env node
// ONNX Runtime (onnxruntime-node, CPU) as the reference runtime for Prunelab: runs an ONNX model on
// a float32 input file and writes its first output, or times it.
//
//   node run.js --model M.onnx --input X.bin --shape 2,3,64,64 --output Y.bin [--batch 1000] [--threads 1]
//   node run.js --model M.onnx --shape 1,3,224,224 --bench 20 [--warmup 3] [--threads 2]
//
// X.bin and Y.bin are float32 little-endian, row-major. --batch splits a large input along its
// first axis into runs of that size (the outputs are concatenated). --bench times that many runs of
// a random input after --warmup untimed ones. Prints one JSON line: the output shape, or the times.
// Install beside this file with: npm install --ignore-scripts
'use strict';
const fs = require('fs');
const ort = require('onnxruntime-node');

function parseArgs(argv) {
  const args = {threads: '1', warmup: '3'};
  for (let i = 0; i < argv.length; i += 2) {
    if (!argv[i].startsWith('--') || i + 1 >= argv.length) {
      throw new Error(`run.js: expected --name value pairs, got ${argv.slice(i).join(' ')}`);
    }
    args[argv[i].slice(2)] = argv[i + 1];
  }
  if (!args.model || !args.shape) throw new Error('run.js: --model and --shape are required');
  return args;
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const shape = args.shape.split(',').map(Number);
  const threads = Number(args.threads);
  const session = await ort.InferenceSession.create(args.model, {
    intraOpNumThreads: threads, interOpNumThreads: 1, executionMode: 'sequential',
    graphOptimizationLevel: 'all',
  });
  const inputName = session.inputNames[0];
  const outputName = session.outputNames[0];
  const per = shape.slice(1).reduce((a, b) => a * b, 1);

  if (args.bench) {
    const x = new Float32Array(shape.reduce((a, b) => a * b, 1));
    for (let i = 0; i < x.length; i++) x[i] = Math.sin(i * 12.9898) * 0.5;
    const feeds = {[inputName]: new ort.Tensor('float32', x, shape)};
    for (let i = 0; i < Number(args.warmup); i++) await session.run(feeds);
    const times = [];
    for (let i = 0; i < Number(args.bench); i++) {
      const t0 = process.hrtime.bigint();
      await session.run(feeds);
      times.push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
    const sorted = [...times].sort((a, b) => a - b);
    console.log(JSON.stringify({model: args.model, shape, threads, median_ms: sorted[sorted.length >> 1],
      min_ms: sorted[0], times_ms: times, ort: ort.env.versions.common}));
    return;
  }

  const buf = fs.readFileSync(args.input);
  const all = new Float32Array(buf.buffer, buf.byteOffset, buf.byteLength / 4);
  if (all.length !== shape.reduce((a, b) => a * b, 1)) {
    throw new Error(`run.js: ${args.input} holds ${all.length} floats, shape ${shape} needs ${shape.reduce((a, b) => a * b, 1)}`);
  }
  const batch = Number(args.batch || shape[0]);
  const chunks = [];
  let outShape = null;
  for (let start = 0; start < shape[0]; start += batch) {
    const n = Math.min(batch, shape[0] - start);
    const x = all.slice(start * per, (start + n) * per);
    const result = await session.run({[inputName]: new ort.Tensor('float32', x, [n, ...shape.slice(1)])});
    const y = result[outputName];
    outShape = outShape ? [outShape[0] + y.dims[0], ...outShape.slice(1)] : [...y.dims];
    chunks.push(Buffer.from(y.data.buffer, y.data.byteOffset, y.data.byteLength));
  }
  fs.writeFileSync(args.output + '.tmp', Buffer.concat(chunks));
  fs.renameSync(args.output + '.tmp', args.output);
  console.log(JSON.stringify({model: args.model, output_shape: outShape, ort: ort.env.versions.common}));
}

main().catch((e) => {
  console.error(e.message || String(e));
  process.exit(1);
});
