// A recording's audio as media: events read with `audio=ref` carry references
// {"$audio": side, "offset": n, "length": n} (bytes of that side's PCM stream) instead of base64,
// and the audio itself comes by HTTP Range from the side's WAV URL (page_data.audioUrls; the
// stream's byte n is the file's byte 44 + n). Also the decoders both kinds of audio share.
//
// createRunLoader(track, audioUrls, onLoaded) fetches runs (replay-audio.js) on demand: a run of
// references, together with the runs after it that continue its stream, is one Range request;
// each run gets its samples as `run.data` (Float32Array), or `run.failed` once RETRIES more requests
// for it failed too (a dropped connection or a restarting server should not silence a whole stretch).

const WAV_HEADER = 44;
const MAX_FETCH_BYTES = 768 * 1024; // one request at most (~9 s of 44.1 kHz PCM16)
const RETRIES = 2;
const RETRY_MS = 500; // before the first retry; doubled for the next

export function isAudioRef(value) {
  return (
    !!value &&
    typeof value === "object" &&
    typeof value.$audio === "string" &&
    Number.isInteger(value.offset) &&
    Number.isInteger(value.length)
  );
}

export function isG711(type) {
  return type === "audio/pcmu" || type === "audio/pcma";
}

// G.711 decoders (ITU-T), to a linear 16-bit sample.
function ulaw(u) {
  u = ~u & 0xff;
  const t = (((u & 0x0f) << 3) + 0x84) << ((u & 0x70) >> 4);
  return u & 0x80 ? 0x84 - t : t - 0x84;
}
function alaw(a) {
  a ^= 0x55;
  let t = (a & 0x0f) << 4;
  const seg = (a & 0x70) >> 4;
  if (seg === 0) t += 8;
  else if (seg === 1) t += 0x108;
  else t = (t + 0x108) << (seg - 1);
  return a & 0x80 ? t : -t;
}

// Float32 samples of `bytes` (a Uint8Array) written into `out` from `at`; returns the new `at`.
export function decodeInto(out, at, bytes, type) {
  if (isG711(type)) {
    const dec = type === "audio/pcmu" ? ulaw : alaw;
    for (let i = 0; i < bytes.length && at < out.length; i++) out[at++] = dec(bytes[i]) / 32768;
  } else {
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length & ~1);
    for (let i = 0; i + 1 < bytes.length && at < out.length; i += 2) out[at++] = view.getInt16(i, true) / 32768;
  }
  return at;
}

export function createRunLoader(track, audioUrls, onLoaded) {
  const loader = { requests: 0, failures: 0, bytes: 0 };

  // Fetch run `i` of `side` (and the stream-contiguous runs after it that start before `untilMs`)
  // unless it is loaded, loading or inline.
  function load(side, i, untilMs) {
    const list = track.runs[side];
    const first = list[i];
    if (!first || !first.stream || first.data || first.loading || first.failed) return;
    if (first.retryAt && performance.now() < first.retryAt) return;
    const url = audioUrls && audioUrls[first.stream];
    if (!url) {
      first.failed = true;
      return;
    }
    const group = [first];
    let end = first.offset + first.length;
    for (let j = i + 1; j < list.length; j++) {
      const run = list[j];
      if (run.stream !== first.stream || run.offset !== end || run.data || run.loading || run.failed) break;
      if (run.start >= untilMs || end + run.length - first.offset > MAX_FETCH_BYTES) break;
      group.push(run);
      end += run.length;
    }
    for (const run of group) run.loading = true;
    loader.requests += 1;
    const range = `bytes=${WAV_HEADER + first.offset}-${WAV_HEADER + end - 1}`;
    fetch(url, { headers: { Range: range }, credentials: "same-origin" })
      .then((res) => {
        if (!res.ok) throw new Error(`HTTP ${res.status}`);
        return res.arrayBuffer().then((buf) => {
          // A server that ignores Range answers the whole file (200).
          const skip = res.status === 206 ? 0 : WAV_HEADER + first.offset;
          return new Uint8Array(buf, skip);
        });
      })
      .then((bytes) => {
        loader.bytes += bytes.length;
        let at = 0;
        for (const run of group) {
          run.loading = false;
          run.data = new Float32Array(run.samples);
          decodeInto(run.data, 0, bytes.subarray(at, at + run.length), run.type);
          at += run.length;
        }
        onLoaded();
      })
      .catch((err) => {
        loader.failures += 1;
        const attempts = (first.attempts || 0) + 1;
        const giveUp = attempts > RETRIES;
        for (const run of group) {
          run.loading = false;
          run.attempts = attempts;
          if (giveUp) run.failed = true; // played as silence
          else run.retryAt = performance.now() + RETRY_MS * 2 ** (attempts - 1);
        }
        const next = giveUp ? "played as silence" : `retrying in ${RETRY_MS * 2 ** (attempts - 1)} ms`;
        console.warn(`replay: audio ${range} of ${url} could not be fetched (${err.message}): ${next}`);
      });
  }

  // Everything from `posMs` to `untilMs` requested; fetched audio far from there forgotten.
  loader.want = (posMs, untilMs) => {
    for (const side of Object.keys(track.runs)) {
      const list = track.runs[side];
      for (let i = 0; i < list.length; i++) {
        const run = list[i];
        if (run.end <= posMs || run.start >= untilMs) {
          if (run.data && (run.end <= posMs - 2000 || run.start >= untilMs + 30000)) run.data = null;
          continue;
        }
        load(side, i, untilMs);
      }
    }
  };

  return loader;
}
