import { BerthError } from '@berth/image-format';

/** A step failure Docker reports in the stream (`The command '...' returned a non-zero code: 1`). */
export class BuildStepError extends BerthError {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super('Internal', message);
  }
}

/** The build's client went away: nothing more is started for it. */
export function buildCancelled(): BerthError {
  return new BerthError('Internal', 'the build was cancelled');
}
