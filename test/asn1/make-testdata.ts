// Regenerates the hostile DER inputs in testdata/ (run: npx tsx test/asn1/make-testdata.ts).
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const dir = join(fileURLToPath(new URL(".", import.meta.url)), "testdata");
/** Minimal DER length octets. */
const len = (n: number) => (n < 0x80 ? Buffer.from([n]) : n < 0x100 ? Buffer.from([0x81, n]) : Buffer.from([0x82, n >> 8, n & 0xff]));
const nested = (depth: number) => {
  let b = Buffer.from([0x05, 0x00]);
  for (let i = 0; i < depth; i++) b = Buffer.concat([Buffer.from([0x30]), len(b.length), b]);
  return b;
};

writeFileSync(join(dir, "deep_nesting.der"), nested(2000));
writeFileSync(join(dir, "lying_length.der"), Buffer.from([0x30, 0x84, 0x7f, 0xff, 0xff, 0xff, 0x02, 0x01, 0x01]));
writeFileSync(join(dir, "indefinite_length.der"), Buffer.from([0x30, 0x80, 0x02, 0x01, 0x01, 0x00, 0x00]));
writeFileSync(join(dir, "inner_overflow.der"), Buffer.from([0x30, 0x05, 0x04, 0x10, 0x41, 0x41, 0x41]));
writeFileSync(join(dir, "node_flood.der"), Buffer.concat([Buffer.from([0x30]), len(12_000), Buffer.alloc(12_000).fill(Buffer.from([0x05, 0x00]))]));
writeFileSync(join(dir, "oversized.der"), Buffer.concat([Buffer.from([0x30, 0x83, 0x01, 0x86, 0xa0]), Buffer.alloc(100_000)]));
writeFileSync(join(dir, "non_minimal_length.der"), Buffer.from([0x30, 0x84, 0, 0, 0, 3, 0x02, 0x01, 0x01]));
writeFileSync(join(dir, "huge_length_field.der"), Buffer.from([0x30, 0x89, 1, 2, 3, 4, 5, 6, 7, 8, 9]));
