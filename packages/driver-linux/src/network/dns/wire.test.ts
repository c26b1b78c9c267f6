import { describe, expect, it } from 'vitest';
import { buildFormatError, buildPtrResponse, buildResponse, parseQuery, reverseName, TYPE_PTR, RCODE_NOERROR, RCODE_NXDOMAIN, TYPE_A, TYPE_AAAA, UDP_LIMIT } from './wire.js';

/** A query as a resolver sends it: id, RD, one question. */
function query(id: number, name: string, type: number): Buffer {
  const labels = name.split('.').flatMap((l) => [Buffer.from([l.length]), Buffer.from(l, 'latin1')]);
  const tail = Buffer.alloc(4);
  tail.writeUInt16BE(type, 0);
  tail.writeUInt16BE(1, 2);
  const header = Buffer.from([id >> 8, id & 0xff, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
  return Buffer.concat([header, ...labels, Buffer.from([0]), tail]);
}

describe('DNS wire format', () => {
  it('reads the question, lower-cased', () => {
    expect(parseQuery(query(0x1234, 'Web.Example', TYPE_A))).toMatchObject({ id: 0x1234, name: 'web.example', type: TYPE_A, qclass: 1 });
  });

  it('refuses responses, truncated or multi-question messages', () => {
    const q = query(1, 'a', TYPE_A);
    const resp = Buffer.from(q);
    resp[2] = 0x81;
    expect(parseQuery(resp)).toBeUndefined();
    expect(parseQuery(q.subarray(0, q.length - 2))).toBeUndefined();
    const two = Buffer.from(q);
    two[5] = 2;
    expect(parseQuery(two)).toBeUndefined();
    expect(parseQuery(Buffer.alloc(5))).toBeUndefined();
  });

  it('answers A records pointing at the question, echoing id and RD', () => {
    const q = query(0xbeef, 'db', TYPE_A);
    const parsed = parseQuery(q)!;
    const r = buildResponse(q, parsed, RCODE_NOERROR, ['10.1.2.3', '10.1.2.4'], 600);
    expect(r.readUInt16BE(0)).toBe(0xbeef);
    const flags = r.readUInt16BE(2);
    expect(flags & 0x8000).toBeTruthy(); // QR
    expect(flags & 0x0100).toBeTruthy(); // RD echoed
    expect(flags & 0xf).toBe(0);
    expect(r.readUInt16BE(6)).toBe(2);
    const first = parsed.end;
    expect(r.readUInt16BE(first)).toBe(0xc00c);
    expect(r.readUInt16BE(first + 2)).toBe(TYPE_A);
    expect(r.readUInt32BE(first + 6)).toBe(600);
    expect([...r.subarray(first + 12, first + 16)]).toEqual([10, 1, 2, 3]);
    expect([...r.subarray(first + 28, first + 32)]).toEqual([10, 1, 2, 4]);
  });

  it('answers no data and errors with the question only', () => {
    const q = query(7, 'db', TYPE_AAAA);
    const r = buildResponse(q, parseQuery(q)!, RCODE_NXDOMAIN);
    expect(r.readUInt16BE(2) & 0xf).toBe(RCODE_NXDOMAIN);
    expect(r.readUInt16BE(6)).toBe(0);
    expect(r.length).toBe(q.length);
    expect(buildFormatError(Buffer.from([0, 9, 1]))!.readUInt16BE(2) & 0xf).toBe(1);
  });

  it('sets TC and leaves out the answers that do not fit in 512 bytes', () => {
    const q = query(9, 'many', TYPE_A);
    const parsed = parseQuery(q)!;
    const ips = Array.from({ length: 40 }, (_, i) => `10.0.0.${i + 1}`);
    const r = buildResponse(q, parsed, RCODE_NOERROR, ips, 600, UDP_LIMIT);
    expect(r.length).toBeLessThanOrEqual(UDP_LIMIT);
    expect(r.readUInt16BE(2) & 0x0200).toBeTruthy();
    expect(r.readUInt16BE(6)).toBe(Math.floor((UDP_LIMIT - parsed.end) / 16));
    const all = buildResponse(q, parsed, RCODE_NOERROR, ips.slice(0, 3), 600, UDP_LIMIT);
    expect(all.readUInt16BE(2) & 0x0200).toBe(0);
    expect(all.readUInt16BE(6)).toBe(3);
  });

  it('reads in-addr.arpa names and answers PTR with a name', () => {
    expect(reverseName('4.3.2.10.in-addr.arpa')).toBe('10.2.3.4');
    expect(reverseName('4.3.2.300.in-addr.arpa')).toBeUndefined();
    expect(reverseName('example.com')).toBeUndefined();
    const q = query(5, '4.3.2.10.in-addr.arpa', TYPE_PTR);
    const parsed = parseQuery(q)!;
    const r = buildPtrResponse(q, parsed, 'web.front');
    expect(r.readUInt16BE(6)).toBe(1);
    const rr = parsed.end;
    expect(r.readUInt16BE(rr + 2)).toBe(TYPE_PTR);
    expect(r.readUInt16BE(rr + 10)).toBe(11);
    expect([...r.subarray(rr + 12)]).toEqual([3, ...Buffer.from('web'), 5, ...Buffer.from('front'), 0]);
  });
});
