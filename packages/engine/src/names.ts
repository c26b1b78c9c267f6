import { randomBytes } from 'node:crypto';
import { InvalidArgumentError } from '@berth/image-format';

const NAME = /^\/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;

/**
 * A 64-hex ID, like Docker's container, exec and network IDs. Its first 12 characters are
 * a container's hostname: never all digits (as moby's GenerateRandomID), since resolvers
 * (glibc's gethostbyname) take an all-digit name for a numeric address and never look it
 * up in /etc/hosts: `hostname -i` failed with "Unknown host" for about 1 container in 280.
 */
export function newId(): string {
  for (;;) {
    const id = randomBytes(32).toString('hex');
    if (!/^\d{12}/.test(id)) return id;
  }
}

/** Validates a user-given container name; returns it without the leading '/'. */
export function checkContainerName(name: string): string {
  if (!NAME.test(name)) {
    throw new InvalidArgumentError(`Invalid container name (${name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`);
  }
  return name.startsWith('/') ? name.slice(1) : name;
}

const VOLUME_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;

export function checkVolumeName(name: string): string {
  if (!VOLUME_NAME.test(name)) {
    throw new InvalidArgumentError(
      `create ${name}: "${name}" includes invalid characters for a local volume name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host directory, use absolute path`,
    );
  }
  return name;
}

const LEFT = ['admiring', 'brave', 'clever', 'dazzling', 'eager', 'focused', 'gallant', 'happy', 'jolly', 'keen', 'lucid', 'modest', 'nifty', 'optimistic', 'quirky', 'relaxed', 'serene', 'tender', 'upbeat', 'vibrant', 'wizardly', 'zealous'];
const RIGHT = ['albattani', 'babbage', 'curie', 'darwin', 'euclid', 'fermat', 'galileo', 'hopper', 'joliot', 'kepler', 'lovelace', 'meitner', 'newton', 'noether', 'pasteur', 'ritchie', 'shannon', 'tesla', 'turing', 'wozniak'];

/** Docker-style `adjective_scientist` name; `attempt` > 0 appends a digit as Docker does. */
export function randomName(attempt = 0): string {
  const pick = (a: string[]): string => a[randomBytes(1)[0]! % a.length]!;
  const base = `${pick(LEFT)}_${pick(RIGHT)}`;
  return attempt > 0 ? `${base}${randomBytes(1)[0]! % 10}` : base;
}
