/**
 * Files read and written with their Win32 metadata: BackupRead/BackupWrite on a handle
 * opened with FILE_FLAG_BACKUP_SEMANTICS (what go-winio's backuptar and hcsshim's layer
 * reader and writer use). The koffi binding does it on Windows; the simulator keeps the
 * same streams in a Linux folder (simulator/ntfs.ts).
 */
import type { Readable } from 'node:stream';

export interface BackupFiles {
  /**
   * The file's (or directory's) backup stream, with its security descriptor
   * (BackupRead's bProcessSecurity): SD, data, alternate data streams, in BackupRead's order.
   */
  read(path: string): Readable;
  /**
   * Writes a backup stream onto `path` (BackupWrite with bProcessSecurity), creating the
   * file, or the directory when `directory`; the streams it holds replace the file's own,
   * the others stay (a stream of only an SD sets the SD of a file already written).
   */
  write(path: string, stream: AsyncIterable<Buffer>, options?: { directory?: boolean }): Promise<void>;
}

/**
 * A name in a folder listing that is a stream of a file, not a file: Windows never lists
 * one (`:` cannot be in a file name); the simulator keeps streams under such names.
 */
export function isStreamName(name: string): boolean {
  return name.includes(':');
}
