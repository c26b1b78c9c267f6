/*
 * The few pieces of the DNS wire format (RFC 1035) the embedded server needs: read the
 * question of a query, write a response with A records or an error code. Compression is
 * only used for the answers' owner name (a pointer to the question at offset 12).
 */

export const TYPE_A = 1;
export const TYPE_AAAA = 28;
export const TYPE_PTR = 12;
export const CLASS_IN = 1;

export const RCODE_NOERROR = 0;
const RCODE_FORMERR = 1;
export const RCODE_SERVFAIL = 2;
export const RCODE_NXDOMAIN = 3;

interface DnsQuestion {
  id: number;
  /** The header's flags word as received (opcode and RD are echoed). */
  flags: number;
  /** Lower case, without the trailing dot; '' for the root. */
  name: string;
  type: number;
  qclass: number;
  /** Offset just past the question: its bytes are echoed in the response. */
  end: number;
}

/** Reads a standard query with exactly one question; undefined when it is not one. */
export function parseQuery(msg: Buffer): DnsQuestion | undefined {
  if (msg.length < 12) return undefined;
  const id = msg.readUInt16BE(0);
  const flags = msg.readUInt16BE(2);
  if (flags & 0x8000) return undefined; // a response, not a query
  if (msg.readUInt16BE(4) !== 1) return undefined;
  const labels: string[] = [];
  let off = 12;
  for (let guard = 0; guard < 128; guard++) {
    const len = msg[off];
    if (len === undefined) return undefined;
    off += 1;
    if (len === 0) break;
    if (len > 63 || off + len > msg.length) return undefined; // no pointers in a question
    labels.push(msg.toString('latin1', off, off + len).toLowerCase());
    off += len;
  }
  if (off + 4 > msg.length) return undefined;
  return { id, flags, name: labels.join('.'), type: msg.readUInt16BE(off), qclass: msg.readUInt16BE(off + 2), end: off + 4 };
}

/** Without EDNS a UDP answer must fit in 512 bytes (RFC 1035 4.2.1). */
export const UDP_LIMIT = 512;

/**
 * A response to `query` (its question echoed) with `ipv4` as A records (TTL seconds).
 * With `maxBytes`, answers that do not fit are left out and TC is set (the client asks
 * again over TCP).
 */
export function buildResponse(query: Buffer, q: DnsQuestion, rcode: number, ipv4: string[] = [], ttl = 600, maxBytes?: number): Buffer {
  const room = maxBytes === undefined ? ipv4.length : Math.max(0, Math.floor((maxBytes - q.end) / 16));
  const truncated = ipv4.length > room;
  if (truncated) ipv4 = ipv4.slice(0, room);
  const header = Buffer.alloc(12);
  header.writeUInt16BE(q.id, 0);
  // QR, the query's opcode and RD, AA (we own these names), TC, RA (we recurse by forwarding).
  const flags = 0x8000 | (q.flags & 0x7800) | 0x0400 | (truncated ? 0x0200 : 0) | (q.flags & 0x0100) | 0x0080 | (rcode & 0xf);
  header.writeUInt16BE(flags, 2);
  header.writeUInt16BE(1, 4);
  header.writeUInt16BE(ipv4.length, 6);
  const answers = ipv4.map((ip) => {
    const rr = Buffer.alloc(16);
    rr.writeUInt16BE(0xc00c, 0);
    rr.writeUInt16BE(TYPE_A, 2);
    rr.writeUInt16BE(CLASS_IN, 4);
    rr.writeUInt32BE(ttl, 6);
    rr.writeUInt16BE(4, 10);
    ip.split('.').forEach((o, i) => rr.writeUInt8(Number(o) & 0xff, 12 + i));
    return rr;
  });
  return Buffer.concat([header, query.subarray(12, q.end), ...answers]);
}

/** The IPv4 address a `d.c.b.a.in-addr.arpa` name stands for; undefined for any other name. */
export function reverseName(name: string): string | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.in-addr\.arpa$/.exec(name);
  if (!m || m.slice(1).some((o) => Number(o) > 255)) return undefined;
  return [m[4], m[3], m[2], m[1]].join('.');
}

/** A response with one PTR record naming `target`. */
export function buildPtrResponse(query: Buffer, q: DnsQuestion, target: string, ttl = 600): Buffer {
  const head = buildResponse(query, q, RCODE_NOERROR);
  head.writeUInt16BE(1, 6);
  const rdata = Buffer.concat([
    ...target.split('.').filter(Boolean).map((l) => {
      const b = Buffer.from(l.slice(0, 63), 'latin1');
      return Buffer.concat([Buffer.from([b.length]), b]);
    }),
    Buffer.from([0]),
  ]);
  const rr = Buffer.alloc(12);
  rr.writeUInt16BE(0xc00c, 0);
  rr.writeUInt16BE(TYPE_PTR, 2);
  rr.writeUInt16BE(CLASS_IN, 4);
  rr.writeUInt32BE(ttl, 6);
  rr.writeUInt16BE(rdata.length, 10);
  return Buffer.concat([head, rr, rdata]);
}

/** A bare error response when the question cannot be read: the id and an empty question. */
export function buildFormatError(query: Buffer): Buffer | undefined {
  if (query.length < 2) return undefined;
  const header = Buffer.alloc(12);
  header.writeUInt16BE(query.readUInt16BE(0), 0);
  header.writeUInt16BE(0x8000 | RCODE_FORMERR, 2);
  return header;
}
