// The bundle's text normaliser, rebuilt from preprocess.json's `normalizer_spec` (written from the spec, not
// from the Python code). Each step is data: a global ECMAScript regex replacement, a decoder of escaped
// bytes, Unicode normalisation, a strip, a lowercase, or the truncated-tail repair whose algorithm the spec
// states line by line.

export const SPEC_FORMAT = "seaguard-normalizer-spec/1";

// Python's utf-8 codec keeps a leading U+FEFF; TextDecoder would eat it without ignoreBOM.
const utf8 = () => new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

const HEX_PAIR = /\\x([0-9a-fA-F]{2})/g;
const HEX_QUAD = /\\u([0-9a-fA-F]{4})/g;

function escapedBytes(run) {
  return Uint8Array.from(run.matchAll(HEX_PAIR), (m) => parseInt(m[1], 16));
}

const DECODERS = {
  // Each \xNN run is UTF-8; a run that is not valid UTF-8 stays as it was.
  utf8_escapes(run) {
    try {
      return utf8().decode(escapedBytes(run));
    } catch {
      return run;
    }
  },
  // Each \uNNNN run is UTF-16 code units; a surrogate without its pair is dropped.
  utf16_escapes(run) {
    const units = Array.from(run.matchAll(HEX_QUAD), (m) => parseInt(m[1], 16));
    let out = "";
    for (let i = 0; i < units.length; i++) {
      const u = units[i];
      const next = units[i + 1];
      if (u >= 0xd800 && u < 0xdc00 && next !== undefined && next >= 0xdc00 && next < 0xe000) {
        out += String.fromCharCode(u, next);
        i++;
      } else if (u < 0xd800 || u >= 0xe000) {
        out += String.fromCharCode(u);
      }
    }
    return out;
  },
};

function fullMatcher(pattern) {
  const re = new RegExp(`^(?:${pattern})$`, "u");
  return (s) => re.test(s);
}

// The spec's `algorithm`, line by line. Positions are UTF-16 units here and code points in the spec: the
// same wherever it matters, since only ASCII escapes can match at the tail.
function repairTruncatedTail(step) {
  const isUnit = fullMatcher(step.unit);
  const isPartial = fullMatcher(step.partial);
  return (text) => {
    let end = text.endsWith("\n") ? text.length - 1 : text.length;
    let partial = false;
    if (!isUnit(text.slice(Math.max(end - 4, 0)))) {
      for (const cut of [3, 2, 1]) {
        if (end >= cut && isPartial(text.slice(end - cut))) {
          end -= cut;
          partial = true;
          break;
        }
      }
    }
    let start = end;
    while (start >= 4 && isUnit(text.slice(start - 4, start))) start -= 4;
    if (start === end) return text;
    const decoder = utf8();
    let decoded;
    try {
      decoded = decoder.decode(escapedBytes(text.slice(start, end)), { stream: true });
    } catch {
      return text; // an invalid sequence
    }
    let pending = false;
    try {
      decoder.decode(); // flushing throws when an incomplete character is buffered
    } catch {
      pending = true;
    }
    if (!partial && !pending) return text;
    return text.slice(0, start) + decoded;
  };
}

function replaceStep(step) {
  const re = new RegExp(step.pattern, `gu${step.flags || ""}`);
  if (step.decode !== undefined) {
    const decode = DECODERS[step.decode];
    if (!decode) throw new Error(`normalizer step ${step.step}: unknown decoder ${step.decode}`);
    return (text) => text.replace(re, (m) => decode(m));
  }
  const literal = step.with; // a function, so "$&" in a token stays literal
  return (text) => text.replace(re, () => literal);
}

function stripStep(step) {
  const chars = new Set(step.chars);
  return (text) => {
    let a = 0;
    let b = text.length;
    while (a < b && chars.has(text[a])) a++;
    while (b > a && chars.has(text[b - 1])) b--;
    return text.slice(a, b);
  };
}

const OPS = {
  repair_truncated_tail: repairTruncatedTail,
  replace: replaceStep,
  unicode_normalize: (step) => (text) => text.normalize(step.form),
  strip: stripStep,
  lowercase: () => (text) => text.toLowerCase(),
};

/** A function text -> normalised text, built from preprocess.json's `normalizer_spec`. */
export function compileNormalizer(spec) {
  if (!spec || spec.format !== SPEC_FORMAT) {
    throw new Error(`preprocess.json: normalizer_spec format ${spec && spec.format}, expected ${SPEC_FORMAT}`);
  }
  const steps = spec.steps.map((step) => {
    const op = OPS[step.op];
    if (!op) throw new Error(`preprocess.json: normalizer step ${step.step} has unknown op ${step.op}`);
    return op(step);
  });
  return (text) => steps.reduce((t, f) => f(t), text);
}
