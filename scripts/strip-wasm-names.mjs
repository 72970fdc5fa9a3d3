// Removes the `name` custom section (function names for stack traces) from a Wasm module in
// place: a quarter of the gateway's module, and nothing the runtime needs. Panic messages keep
// their text and source locations. GATEWAY_KEEP_WASM_NAMES=1 in scripts/build.sh skips this.
import fs from "node:fs";

const file = process.argv[2];
const wasm = fs.readFileSync(file);
if (wasm.readUInt32BE(0) !== 0x0061736d) throw new Error(`${file} is not a Wasm module`);

function leb128(offset) {
  let value = 0;
  let shift = 0;
  for (;;) {
    const byte = wasm[offset++];
    value += (byte & 0x7f) * 2 ** shift;
    shift += 7;
    if (byte < 0x80) return [value, offset];
  }
}

const kept = [wasm.subarray(0, 8)];
let removed = 0;
for (let offset = 8; offset < wasm.length; ) {
  const start = offset;
  const id = wasm[offset];
  const [size, payload] = leb128(offset + 1);
  offset = payload + size;
  if (id === 0) {
    const [length, name] = leb128(payload);
    if (wasm.subarray(name, name + length).toString() === "name") {
      removed += offset - start;
      continue;
    }
  }
  kept.push(wasm.subarray(start, offset));
}
if (removed) fs.writeFileSync(file, Buffer.concat(kept));
console.error(`    names section: ${removed ? `${removed} bytes removed` : "none"}`);
