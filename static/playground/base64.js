// Base64, as the realtime protocol carries audio: sizes without decoding, decoding and encoding,
// and shortening long blobs for display.

import { fmtInt } from "./format.js";

// Bytes that a base64 string decodes to.
export function b64Bytes(value) {
  if (!value) return 0;
  const pad = value.endsWith("==") ? 2 : value.endsWith("=") ? 1 : 0;
  return Math.floor((value.length * 3) / 4) - pad;
}

// The bytes of a base64 string; `multipleOf` 2 drops a trailing odd byte (PCM16 samples).
export function base64ToBytes(b64, multipleOf = 1) {
  const bin = atob(b64);
  const bytes = new Uint8Array(bin.length - (bin.length % multipleOf));
  for (let i = 0; i < bytes.length; i++) bytes[i] = bin.charCodeAt(i);
  return bytes;
}

// Base64 of an ArrayBuffer or a Uint8Array, in slices (a whole chunk at once would overflow the
// call stack of String.fromCharCode).
export function bytesToBase64(data) {
  const bytes = data instanceof ArrayBuffer ? new Uint8Array(data) : data;
  let s = "";
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
  return btoa(s);
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

// Well-formed base64: whole four-character groups of the alphabet, padding only at the end.
export function isBase64(value) {
  return typeof value === "string" && value.length % 4 === 0 && BASE64.test(value);
}

// Long base64 strings are audio (or images): shown shortened with their size. Display only:
// the frames themselves keep the whole audio, for playback later.
const SHORT = 200;
export function isBase64Blob(value) {
  return typeof value === "string" && value.length > SHORT && isBase64(value);
}

function shortBlob(value) {
  return `${value.slice(0, 24)}… [base64, ${fmtInt(b64Bytes(value))} bytes]`;
}

export function trimBlobs(value) {
  if (isBase64Blob(value)) return shortBlob(value);
  if (Array.isArray(value)) return value.map(trimBlobs);
  if (value && typeof value === "object") {
    const out = {};
    for (const key of Object.keys(value)) out[key] = trimBlobs(value[key]);
    return out;
  }
  return value;
}
