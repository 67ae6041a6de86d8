// Reference Node.js client for an export bundle: raw text -> normalised text (preprocess.json's
// normalizer_spec) -> token ids (tokenizer.json, truncated as preprocess.json's `tokenization` says) ->
// logits (onnxruntime-node) -> scores and decision (labels.json's `decision`).

import fs from "node:fs";
import path from "node:path";

import { Tokenizer } from "@huggingface/tokenizers";
import ort from "onnxruntime-node";

import { compileNormalizer } from "./normalize.js";

// The graph of each precision when the bundle's conformance.json does not name it.
export const GRAPHS = { fp32: "model.onnx", int8: "model.int8.onnx", fp16: "model.fp16.onnx" };

export function readJson(dir, name) {
  const file = path.join(dir, name);
  if (!fs.existsSync(file)) throw new Error(`${file}: missing from the bundle`);
  return JSON.parse(fs.readFileSync(file, "utf8"));
}

function readJsonIfPresent(dir, name) {
  return fs.existsSync(path.join(dir, name)) ? readJson(dir, name) : null;
}

/** Token ids with the special tokens, truncated like Hugging Face tokenizers (longest_first, right). */
export function makeEncoder(tokenizer, maxLength) {
  return (text) => {
    const full = tokenizer.encode(text).ids;
    if (full.length <= maxLength) return full;
    const body = tokenizer.encode(text, { add_special_tokens: false }).ids;
    const specials = full.length - body.length;
    let prefix = 0; // where the sequence starts inside the post-processed encoding
    while (prefix <= specials && body.some((id, i) => full[prefix + i] !== id)) prefix++;
    if (prefix > specials) throw new Error("tokenizer.json: cannot find the sequence inside its special tokens");
    const keep = body.slice(0, Math.max(maxLength - specials, 0));
    return [...full.slice(0, prefix), ...keep, ...full.slice(prefix + body.length)];
  };
}

/** Scores from one row of logits: softmax/sigmoid(logits / T) in float64, rounded to float32. */
export function scoresFromLogits(logits, decision) {
  const z = Array.from(logits, (v) => v / decision.temperature);
  if (decision.activation === "sigmoid") return z.map((v) => Math.fround(1 / (1 + Math.exp(-v))));
  const max = Math.max(...z);
  const e = z.map((v) => Math.exp(v - max));
  const sum = e.reduce((a, b) => a + b, 0);
  return e.map((v) => Math.fround(v / sum));
}

/** The decision of one row of scores, as labels.json's `decision` states it. */
export function decide(scores, decision) {
  const names = decision.labels;
  if (decision.task === "multilabel") {
    const on = names.filter((n, k) => scores[k] >= Math.fround(decision.thresholds[n]));
    return { labels: on };
  }
  if (decision.task === "binary") {
    const pos = decision.positive_label;
    const other = names.find((n) => n !== pos);
    return { label: scores[names.indexOf(pos)] >= Math.fround(decision.thresholds[pos]) ? pos : other };
  }
  let best = 0; // argmax: the first of equal maxima
  for (let k = 1; k < scores.length; k++) if (scores[k] > scores[best]) best = k;
  return { label: names[best] };
}

export class BundleClient {
  constructor(dir, { preprocess, labels, tokenizer, session, graph, conformance }) {
    this.dir = dir;
    this.preprocess = preprocess;
    this.decision = labels.decision;
    this.normalize = compileNormalizer(preprocess.normalizer_spec);
    this.maxLength = preprocess.tokenization.max_length;
    this.padId = preprocess.pad_id;
    this.encodeNormalized = makeEncoder(tokenizer, this.maxLength);
    this.session = session;
    this.graph = graph;
    this.conformance = conformance;
  }

  /** Load `dir`'s tokenizer and the graph of `precision` (fp32, int8, fp16). */
  static async load(dir, { precision = "int8", threads = 1 } = {}) {
    const preprocess = readJson(dir, "preprocess.json");
    const labels = readJson(dir, "labels.json");
    if (!preprocess.normalizer_spec || !labels.decision) {
      throw new Error(`${dir}: no normalizer_spec / decision block: the bundle predates this client, export it again`);
    }
    const conformance = readJsonIfPresent(dir, "conformance.json");
    const graph = (conformance && conformance.graphs[precision] && conformance.graphs[precision].graph) || GRAPHS[precision];
    if (!graph || !fs.existsSync(path.join(dir, graph))) {
      throw new Error(`${path.join(dir, graph || precision)}: no ${precision} graph in the bundle`);
    }
    const tokenizer = new Tokenizer(readJson(dir, "tokenizer.json"), readJsonIfPresent(dir, "tokenizer_config.json") || {});
    const session = await ort.InferenceSession.create(path.join(dir, graph), {
      executionProviders: ["cpu"],
      intraOpNumThreads: threads,
      interOpNumThreads: 1,
    });
    return new BundleClient(dir, { preprocess, labels, tokenizer, session, graph, conformance });
  }

  encode(normalized) {
    return this.encodeNormalized(normalized);
  }

  /** Logits per row of token ids (one session call, rows padded on the right to the longest). */
  async logits(rows) {
    const width = Math.max(...rows.map((r) => r.length));
    const ids = new BigInt64Array(rows.length * width).fill(BigInt(this.padId));
    const mask = new BigInt64Array(rows.length * width);
    rows.forEach((row, i) => {
      row.forEach((id, j) => {
        ids[i * width + j] = BigInt(id);
        mask[i * width + j] = 1n;
      });
    });
    const shape = [rows.length, width];
    const arrays = {
      input_ids: new ort.Tensor("int64", ids, shape),
      attention_mask: new ort.Tensor("int64", mask, shape),
      token_type_ids: new ort.Tensor("int64", new BigInt64Array(rows.length * width), shape),
    };
    const feeds = Object.fromEntries(this.session.inputNames.map((n) => [n, arrays[n]]));
    const out = (await this.session.run(feeds)).logits;
    const k = out.dims[1];
    return rows.map((_, i) => Array.from(out.data.subarray(i * k, (i + 1) * k)));
  }

  scores(logits) {
    return scoresFromLogits(logits, this.decision);
  }

  decide(scores) {
    return decide(scores, this.decision);
  }

  /** One result per text: `label` (`labels` for multi-label) and `scores` by label name. */
  async predict(texts, { batchSize = 32 } = {}) {
    const ids = texts.map((t) => this.encode(this.normalize(t)));
    const order = ids.map((_, i) => i).sort((a, b) => ids[a].length - ids[b].length);
    const out = new Array(texts.length);
    for (let s = 0; s < order.length; s += batchSize) {
      const rows = order.slice(s, s + batchSize);
      const logits = await this.logits(rows.map((i) => ids[i]));
      rows.forEach((i, r) => {
        const scores = this.scores(logits[r]);
        const named = Object.fromEntries(this.decision.labels.map((n, k) => [n, scores[k]]));
        out[i] = { ...this.decide(scores), scores: named };
      });
    }
    return out;
  }
}
