import { describe, expect, it } from 'vitest';
import { DetachKeyWatcher, parseDetachKeys } from './detach-keys.js';

describe('detach keys', () => {
  it("parses Docker's notation", () => {
    expect(parseDetachKeys('ctrl-p,ctrl-q')).toEqual([16, 17]);
    expect(parseDetachKeys('ctrl-@,ctrl-[,ctrl-\\,ctrl-],ctrl-^,ctrl-_')).toEqual([0, 27, 28, 29, 30, 31]);
    expect(parseDetachKeys('a,ctrl-A')).toEqual([97, 1]);
    expect(() => parseDetachKeys('ctrl-1')).toThrow("Unknown character: 'ctrl-1'");
    expect(() => parseDetachKeys('shift-a')).toThrow("Unknown character: 'shift-a'");
  });

  it('detaches on the whole sequence, even split across chunks, and forwards what came before', () => {
    const w = new DetachKeyWatcher([16, 17]);
    expect(w.feed(Buffer.from('ls\x10'))).toEqual({ forward: Buffer.from('ls'), detach: false });
    expect(w.feed(Buffer.from('\x11rest'))).toEqual({ forward: Buffer.from(''), detach: true });
  });

  it('forwards a broken prefix as typed text, and a repeated first key starts again', () => {
    const w = new DetachKeyWatcher([16, 17]);
    expect(w.feed(Buffer.from('\x10x'))).toEqual({ forward: Buffer.from('\x10x'), detach: false });
    expect(w.feed(Buffer.from('\x10\x10\x11'))).toEqual({ forward: Buffer.from('\x10'), detach: true });
  });
});
