// Replays a bundle's conformance.json through the client, stage by stage: the first stage that differs is
// the one reported (normalized, token_ids, logits, scores, decision), as trainer.serving.conformance does.

function maxAbsDiff(a, b) {
  if (a.length !== b.length) return Infinity;
  return a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);
}

const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);

async function checkVector(client, vector, want, tol) {
  const normalized = client.normalize(vector.raw);
  if (normalized !== vector.normalized) {
    return ["normalized", `${JSON.stringify(normalized)}, expected ${JSON.stringify(vector.normalized)}`];
  }
  const ids = client.encode(normalized);
  if (!same(ids, vector.token_ids)) {
    return ["token_ids", `${JSON.stringify(ids.slice(0, 12))}..., expected ${JSON.stringify(vector.token_ids.slice(0, 12))}...`];
  }
  const [logits] = await client.logits([vector.token_ids]);
  let diff = maxAbsDiff(logits, want.logits);
  if (diff > tol.atol_logits) return ["logits", `max |diff| ${diff.toExponential(2)} > atol ${tol.atol_logits}`];
  const scores = client.scores(logits);
  diff = maxAbsDiff(scores, want.scores);
  if (diff > tol.atol_scores) return ["scores", `max |diff| ${diff.toExponential(2)} > atol ${tol.atol_scores}`];
  const decision = client.decide(scores);
  // Within the score tolerance of the boundary two correct runtimes may decide differently.
  if (!same(decision, want.decision) && want.margin > tol.atol_scores) {
    return ["decision", `${JSON.stringify(decision)}, expected ${JSON.stringify(want.decision)}`];
  }
  return null;
}

/** Every vector on the client's graph: { precision, vectors, failures: [{vector, stage, detail}] }. */
export async function checkConformance(client, precision) {
  const data = client.conformance;
  if (!data) throw new Error(`${client.dir}: no conformance.json in the bundle`);
  const tol = data.graphs[precision];
  if (!tol) throw new Error(`${client.dir}/conformance.json: no vectors for ${precision}; it has ${Object.keys(data.graphs)}`);
  const failures = [];
  for (const vector of data.vectors) {
    const failed = await checkVector(client, vector, vector.outputs[precision], tol);
    if (failed) failures.push({ vector: vector.name, stage: failed[0], detail: failed[1] });
  }
  return { precision, graph: client.graph, vectors: data.vectors.length, failures };
}
