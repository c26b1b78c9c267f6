import { describe, expect, it } from 'vitest';
import { ContainerNames } from './names.js';

function table(stopped: string[] = []) {
  const t = new ContainerNames((id) => (stopped.includes(id) ? undefined : [`name-${id}`, id.slice(0, 3)]));
  t.set({ containerId: 'aaa111', endpoints: [{ network: 'front', ip: '10.1.0.2', aliases: [] }] });
  t.set({ containerId: 'bbb222', endpoints: [{ network: 'front', ip: '10.1.0.3', aliases: ['Web'] }, { network: 'back', ip: '10.2.0.3', aliases: ['web'] }] });
  t.set({ containerId: 'ccc333', endpoints: [{ network: 'back', ip: '10.2.0.4', aliases: ['web'] }] });
  t.setGateways(new Map([['10.1.0.1', 'front'], ['10.2.0.1', 'back']]));
  return t;
}

describe('ContainerNames (the embedded DNS rules)', () => {
  it("answers names, aliases (any case), short ids and name.network on the asker's networks only", () => {
    const t = table();
    expect(t.lookup('10.1.0.1', '10.1.0.2', 'name-bbb222')).toEqual(['10.1.0.3']);
    expect(t.lookup('10.1.0.1', '10.1.0.2', 'web')).toEqual(['10.1.0.3']);
    expect(t.lookup('10.1.0.1', '10.1.0.2', 'bbb')).toEqual(['10.1.0.3']);
    expect(t.lookup('10.1.0.1', '10.1.0.2', 'name-bbb222.front')).toEqual(['10.1.0.3']);
    expect(t.lookup('10.1.0.1', '10.1.0.2', 'name-ccc333')).toBeUndefined();
    // an alias shared on one network: every holder's address
    expect(t.lookup('10.2.0.1', '10.2.0.4', 'web')?.sort()).toEqual(['10.2.0.3', '10.2.0.4']);
    // the asker's first network wins
    expect(t.lookup('10.1.0.1', '10.1.0.3', 'web')).toEqual(['10.1.0.3']);
    expect(t.lookup('10.1.0.1', '10.1.0.3', 'name-ccc333')).toEqual(['10.2.0.4']);
  });

  it('answers no stranger, no listener it does not own, no stopped container', () => {
    const t = table(['bbb222']);
    expect(t.lookup('10.1.0.1', '10.9.0.9', 'name-aaa111')).toBeUndefined();
    expect(t.lookup('10.9.0.1', '10.1.0.2', 'name-aaa111')).toBeUndefined();
    expect(t.lookup('10.1.0.1', '10.1.0.2', 'name-bbb222')).toBeUndefined();
    expect(t.lookup('10.1.0.1', '10.1.0.2', 'web')).toBeUndefined();
  });

  it('answers PTR with name.network and forgets a container set without endpoints', () => {
    const t = table();
    expect(t.reverse('10.1.0.1', '10.1.0.2', '10.1.0.3')).toBe('name-bbb222.front');
    expect(t.reverse('10.1.0.1', '10.1.0.2', '10.2.0.4')).toBeUndefined();
    expect([...t.networks()].sort()).toEqual(['back', 'front']);
    t.set({ containerId: 'ccc333', endpoints: [] });
    t.set({ containerId: 'bbb222', endpoints: [] });
    expect(t.has('ccc333')).toBe(false);
    expect([...t.networks()]).toEqual(['front']);
  });

  it('forwards for containers on user networks only, not for one only on internal networks', () => {
    const t = table();
    t.set({ containerId: 'ddd444', endpoints: [{ network: 'front', ip: '10.1.0.9', aliases: [] }], internalOnly: true });
    expect(t.mayForward('10.1.0.1', '10.1.0.2')).toBe(true);
    expect(t.mayForward('10.1.0.1', '10.9.9.9')).toBe(false);
    expect(t.mayForward('10.1.0.1', '10.1.0.9')).toBe(false);
  });

  it("resolves an endpoint's link alias for the linking container only, as the target's name, once the target runs", () => {
    const t = table();
    t.set({ containerId: 'eee555', endpoints: [{ network: 'front', ip: '10.1.0.5', aliases: [], links: [{ alias: 'Bar', target: 'name-fff666' }] }] });
    expect(t.lookup('10.1.0.1', '10.1.0.5', 'bar')).toBeUndefined();
    t.set({ containerId: 'fff666', endpoints: [{ network: 'front', ip: '10.1.0.6', aliases: [] }] });
    expect(t.lookup('10.1.0.1', '10.1.0.5', 'bar')).toEqual(['10.1.0.6']);
    expect(t.lookup('10.1.0.1', '10.1.0.5', 'bar.front')).toEqual(['10.1.0.6']);
    expect(t.lookup('10.1.0.1', '10.1.0.2', 'bar')).toBeUndefined();
  });
});
