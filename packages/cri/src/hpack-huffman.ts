/**
 * HPACK's Huffman code (RFC 7541, Appendix B). The code is canonical (codes of one length
 * are consecutive, in symbol order), so the bit length of each symbol, 0-255 then EOS (30),
 * defines it.
 */
const LENGTHS = [13,23,28,28,28,28,28,28,28,24,30,28,28,30,28,28,28,28,28,28,28,28,30,28,28,28,28,28,28,28,28,28,6,10,10,12,13,6,8,11,10,10,8,11,8,6,6,6,5,5,5,6,6,6,6,6,6,6,7,8,15,6,12,10,13,6,7,7,7,7,7,7,7,7,7,7,7,7,7,7,7,7,7,7,7,7,7,7,8,7,8,13,19,13,14,6,15,5,6,5,6,5,6,6,6,5,7,7,6,6,6,5,6,7,6,5,5,6,7,7,7,7,7,15,11,14,13,28,20,22,20,20,22,22,22,23,22,23,23,23,23,23,24,23,24,24,22,23,24,23,23,23,23,21,22,23,22,23,23,24,22,21,20,22,22,23,23,21,23,22,22,24,21,22,23,23,21,21,22,21,23,22,23,23,20,22,22,22,23,22,22,23,26,26,20,19,22,23,22,25,26,26,26,27,27,26,24,25,19,21,26,27,27,26,27,24,21,21,26,26,28,27,27,27,20,24,20,21,22,21,21,23,22,22,25,25,24,24,26,23,26,27,26,26,27,27,27,27,27,28,27,27,27,27,27,26, 30];

interface Level {
  first: number;
  symbols: number[];
}

const levels: (Level | undefined)[] = (() => {
  const order = LENGTHS.map((len, sym) => ({ len, sym })).sort((a, b) => a.len - b.len || a.sym - b.sym);
  const out: (Level | undefined)[] = [];
  let code = 0;
  let prev = order[0]!.len;
  for (const { len, sym } of order) {
    code *= 2 ** (len - prev);
    prev = len;
    const level = (out[len] ??= { first: code, symbols: [] });
    level.symbols.push(sym);
    code += 1;
  }
  return out;
})();

/** Decodes a Huffman-coded HPACK string; throws on EOS or a bad padding, as the RFC asks. */
export function huffmanDecode(input: Uint8Array): Buffer {
  const out: number[] = [];
  let code = 0;
  let len = 0;
  for (const byte of input) {
    for (let bit = 7; bit >= 0; bit--) {
      code = code * 2 + ((byte >> bit) & 1);
      len += 1;
      const level = levels[len];
      if (level && code - level.first < level.symbols.length && code >= level.first) {
        const sym = level.symbols[code - level.first]!;
        if (sym === 256) throw new Error('hpack: EOS in a Huffman string');
        out.push(sym);
        code = 0;
        len = 0;
      } else if (len > 30) {
        throw new Error('hpack: invalid Huffman code');
      }
    }
  }
  // padding: at most 7 bits, all ones (the EOS prefix)
  if (len > 7 || code !== 2 ** len - 1) throw new Error('hpack: invalid Huffman padding');
  return Buffer.from(out);
}
