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
