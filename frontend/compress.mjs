// Writes `FILE.br` and `FILE.gz` beside each text or wasm file of a folder, so a static host
// that serves precompressed variants (static-server does, choosing by Accept-Encoding)
// sends the text worker's 12.6 MB as about a third. Deterministic: gzip's header carries no
// time or name, and brotli's output depends only on the bytes and the settings.
//
//   node frontend/compress.mjs DIR
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { brotliCompressSync, gzipSync, constants } from 'node:zlib';

const dir = process.argv[2];
if (!dir) {
  console.error('usage: node frontend/compress.mjs DIR');
  process.exit(2);
}
const compressible = /\.(js|wasm|css|html|json|svg)$/;
for (const name of readdirSync(dir).sort()) {
  if (!compressible.test(name)) continue;
  const bytes = readFileSync(join(dir, name));
  const variants = {
    gz: gzipSync(bytes, { level: 9 }),
    br: brotliCompressSync(bytes, {
      params: {
        [constants.BROTLI_PARAM_QUALITY]: constants.BROTLI_MAX_QUALITY,
        [constants.BROTLI_PARAM_SIZE_HINT]: bytes.length,
        [constants.BROTLI_PARAM_MODE]: name.endsWith('.wasm') ? constants.BROTLI_MODE_GENERIC : constants.BROTLI_MODE_TEXT,
      },
    }),
  };
  const sizes = [];
  for (const [ext, packed] of Object.entries(variants)) {
    // A variant no smaller than the file is left out: the host then sends the file.
    if (packed.length >= bytes.length) continue;
    writeFileSync(join(dir, `${name}.${ext}`), packed);
    sizes.push(`${ext} ${packed.length}`);
  }
  console.log(`${name}: ${bytes.length} bytes${sizes.length ? `, ${sizes.join(', ')}` : ''}`);
}
