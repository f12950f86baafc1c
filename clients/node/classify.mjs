#!/usr/bin/env node
// Classify documents with a fastnews text-in model (MODEL.text.onnx) in onnxruntime-node.
// The graph holds the header rule, the tokenizer and the vocabulary, so this file only
// reads bytes, decodes them as fastnews does, and batches them.
//
//   node classify.mjs MODEL.text.onnx FILE_OR_FOLDER... > predictions.jsonl
//
// One JSON row per document, in the order `fastnews predict` reads them (folders
// recursively, sorted, dotfiles skipped): {"id", "label", "score"} or {"id", "error"};
// for a multi-label model (its graph has a `chosen` output) {"id", "labels", "scores"}:
// the label set the graph chose, best first.
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';

const BATCH = 256;
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }); // keep a BOM, as Python does

// Bytes to text as fastnews.corpus.decode: UTF-8, else latin-1.
function decode(bytes) {
  try {
    return utf8.decode(bytes);
  } catch {
    return Buffer.from(bytes).toString('latin1');
  }
}

// [id, path] of every document under the inputs, in fastnews.corpus.iter_tree's order.
function* documents(inputs) {
  for (const input of inputs) {
    if (!statSync(input).isDirectory()) {
      yield [input, input];
      continue;
    }
    const prefix = input.endsWith('/') ? input : input + '/';
    const walk = function* (dir, rel) {
      const entries = readdirSync(dir, { withFileTypes: true }).filter((e) => !e.name.startsWith('.'));
      const byName = (a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
      for (const e of entries.filter((e) => !e.isDirectory()).sort(byName)) {
        yield [prefix + rel + e.name, join(dir, e.name)];
      }
      for (const e of entries.filter((e) => e.isDirectory()).sort(byName)) {
        yield* walk(join(dir, e.name), rel + e.name + '/');
      }
    };
    yield* walk(input, '');
  }
}

// The same checks as fastnews's Classifier: empty and binary documents get error rows.
function read(path) {
  const bytes = readFileSync(path);
  if (bytes.length === 0) return { error: 'empty document' };
  if (bytes.subarray(0, 8192).includes(0)) return { error: 'binary content (NUL bytes)' };
  return { text: decode(bytes) };
}

// Batches of texts of similar length, so that a batch is mostly words, not padding;
// a text's result does not depend on its batch.
async function classify(modelPath, texts) {
  const session = await ort.InferenceSession.create(modelPath);
  const order = texts.map((_, i) => i).sort((a, b) => texts[a].length - texts[b].length || a - b);
  const labels = new Array(texts.length);
  const scores = new Array(texts.length);
  for (let i = 0; i < order.length; i += BATCH) {
    const idx = order.slice(i, i + BATCH);
    const batch = idx.map((j) => texts[j]);
    const out = await session.run({ text: new ort.Tensor('string', batch, [batch.length]) });
    const probs = out.probabilities.data;
    const k = out.probabilities.dims[1];
    idx.forEach((j, row) => {
      const p = probs.subarray(row * k, (row + 1) * k);
      if (out.chosen) {
        const set = [...p.keys()].filter((c) => out.chosen.data[row * k + c]).sort((a, b) => p[b] - p[a] || a - b);
        labels[j] = set.map((c) => out.label_names.data[c]);
        scores[j] = set.map((c) => p[c]);
      } else {
        labels[j] = out.label.data[row];
        scores[j] = Math.max(...p);
      }
    });
  }
  return { labels, scores, multi: session.outputNames.includes('chosen') };
}

async function main(argv) {
  if (argv.length < 2) {
    console.error('usage: node classify.mjs MODEL.text.onnx FILE_OR_FOLDER...');
    return 2;
  }
  const [model, ...inputs] = argv;
  const rows = [];
  for (const [id, path] of documents(inputs)) rows.push({ id, ...read(path) });
  const ok = rows.filter((r) => r.text !== undefined);
  const { labels, scores, multi } = await classify(model, ok.map((r) => r.text));
  ok.forEach((r, i) => Object.assign(r, multi ? { labels: labels[i], scores: scores[i] }
    : { label: labels[i], score: scores[i] }));
  const lines = rows.map(({ id, text, error, ...answer }) =>
    JSON.stringify(error === undefined ? { id, ...answer } : { id, error }));
  process.stdout.write(lines.join('\n') + (lines.length ? '\n' : ''));
  return rows.some((r) => r.error !== undefined) ? 3 : 0;
}

main(process.argv.slice(2)).then(
  (code) => { process.exitCode = code; },
  (err) => { console.error(`error: ${String(err.message || err).split('\n')[0]}`); process.exitCode = 1; },
);
