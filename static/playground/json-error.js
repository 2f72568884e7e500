// A JSON.parse error in words for people who typed the JSON: where it is (line and column, from
// the position V8 gives or the line and column Firefox gives) and what is wrong, without the
// input and the position that V8 repeats in its message. Each form phrases the sentence its way.

export function jsonErrorParts(text, err) {
  let place = null;
  const m = /position (\d+)/.exec(err.message);
  if (m) {
    const before = text.slice(0, Number(m[1]));
    place = { line: before.split("\n").length, column: before.length - before.lastIndexOf("\n") };
  } else {
    const lc = /line (\d+) column (\d+)/.exec(err.message);
    if (lc) place = { line: Number(lc[1]), column: Number(lc[2]) };
  }
  const words = err.message
    .replace(/ in JSON at position \d+.*$/s, "")
    .replace(/ after JSON at position \d+.*$/s, " after the JSON")
    .replace(/, ".*" is not valid JSON$/s, "");
  return { place, words };
}
